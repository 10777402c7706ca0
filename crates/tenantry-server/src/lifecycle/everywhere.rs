//! Changes of a tenant's record that every serving process must have
//! taken up before a workflow goes on (see `tenantry::fence`): each waits
//! for the live processes' acknowledgements and fails naming the ones
//! that did not give theirs.

use tenantry::context::TenantId;
use tenantry::registry::{RouteChange, TenantRecord, TenantState};

use crate::services::Services;

/// Puts tenant `id` in `state` and waits until every live serving process
/// serves that state (a held tenant: refused everywhere, nothing of it in
/// flight anywhere).
pub(crate) async fn set_state(
    services: &Services,
    id: TenantId,
    state: TenantState,
) -> anyhow::Result<TenantRecord> {
    let record = services.tenants.set_state(id, state).await?;
    acknowledged(services, &record).await?;
    Ok(record)
}

/// Puts tenant `id` on `plan` and waits as [`set_state`] does.
pub(crate) async fn set_plan(
    services: &Services,
    id: TenantId,
    plan: &tenantry::context::Plan,
) -> anyhow::Result<TenantRecord> {
    let record = services.tenants.set_plan(id, plan).await?;
    acknowledged(services, &record).await?;
    Ok(record)
}

/// Changes tenant `id`'s route and waits as [`set_state`] does.
pub(crate) async fn set_route(
    services: &Services,
    id: TenantId,
    change: RouteChange,
) -> anyhow::Result<TenantRecord> {
    let record = services.tenants.set_route(id, change).await?;
    acknowledged(services, &record).await?;
    Ok(record)
}

/// Waits until every live serving process has acknowledged `record`'s
/// version.
pub(crate) async fn acknowledged(services: &Services, record: &TenantRecord) -> anyhow::Result<()> {
    if record.route_version == 0 {
        // Never changed in a way a process must acknowledge.
        return Ok(());
    }
    let timing = services.acknowledger.timing();
    let wait = || {
        tenantry::fence::acknowledged(
            &*services.route_acks,
            record.id,
            record.route_version,
            &timing,
        )
    };
    match wait().await {
        Err(tenantry::fence::NotAcknowledged::Lagging { processes, .. })
            if processes.iter().any(|p| crate::process::is_dead_here(p)) =>
        {
            // Some of them died on this machine without signing off: they
            // hold nothing, so they are not waited for to their lease.
            crate::process::forget_dead_here(&*services.route_acks).await;
            wait().await?;
        }
        done => done?,
    }
    Ok(())
}
