//! The residue scan: everything any store still holds of a tenant, by
//! store — what `tenants residue SLUG` prints, and what a finished
//! offboarding must leave empty. Read-only: nothing is created or changed
//! by looking (a dropped SQLite file is checked on disk, not opened).
//!
//! Kept on purpose and not counted: the registry's `deleted` tombstone
//! (id and slug stay reserved), the deletion record, and the kinds and
//! step states of the tenant's workflows (their inputs are scrubbed).

use crate::error::ServerError;
use tenantry::registry::TenantRecord;

use crate::services::Services;

/// What is left of `record`, as `(store, count)` with only non-empty
/// stores; empty after a finished offboarding.
pub(crate) async fn scan(
    services: &Services,
    record: &TenantRecord,
) -> Result<Vec<(String, u64)>, ServerError> {
    let ctx = crate::lifecycle::lifecycle_context(record)?;
    let mut found = Vec::new();
    let mut add = |store: String, count: u64| {
        if count > 0 {
            found.push((store, count));
        }
    };
    let target = crate::provision::target_exists(services, record).await?;
    if target {
        if record.tier != tenantry::context::Tier::Shared {
            add(format!("{}_target", record.tier), 1);
        }
        for table in crate::tenant_rows::TABLES {
            let rows = ctx.clone().scope(table.count(&services.db)).await?;
            add(format!("rows.{}", table.name), rows);
        }
    }
    add(
        "objects".into(),
        ctx.clone()
            .scope(services.storage.count_everywhere())
            .await? as u64,
    );
    add(
        "cache_entries".into(),
        ctx.clone()
            .scope(services.summaries.tenant_entries())
            .await?,
    );
    for limiter in [&services.rates, &services.signup_rates]
        .into_iter()
        .flatten()
    {
        add(
            "rate_limiter".into(),
            u64::from(limiter.holds(record.id).await.map_err(ServerError::other)?),
        );
    }
    if let Some(dir) = crate::lifecycle::outbox_of(services, record) {
        add(
            "emails".into(),
            std::fs::read_dir(&dir).map_or(0, |d| d.count() as u64),
        );
    }
    for (table, count) in services.deletions.residue(record.id).await? {
        add(format!("control.{table}"), count);
    }
    Ok(found)
}
