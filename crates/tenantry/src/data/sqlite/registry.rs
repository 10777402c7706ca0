//! [`SqliteTenantStore`]: the registry in `control.db`.

use rusqlite::{OptionalExtension, params};

use super::{SqliteDatabase, sqlite_error};
use crate::context::TenantId;
use crate::data::{DataError, Migration};
use crate::registry::{
    BoxFuture, NewTenant, RegistryError, TenantKey, TenantRecord, TenantState, TenantStore,
};

/// Control-plane migrations for `control.db`.
pub const CONTROL_MIGRATIONS: &[Migration] = crate::data::migration::control_migrations!(
    "sqlite",
    [
        (1, "registry", "0001_registry"),
        (2, "fleet", "0002_fleet"),
        (3, "database_server", "0003_database_server"),
        (4, "secrets", "0004_secrets"),
        (5, "config", "0005_config"),
        (6, "jobs", "0006_jobs"),
        (7, "job_limits_cron", "0007_job_limits_cron"),
        (8, "job_trace", "0008_job_trace"),
        (9, "plan_names", "0009_plan_names"),
        (10, "workflows", "0010_workflows"),
        (11, "lifecycle_lane", "0011_lifecycle_lane"),
        (12, "failed_state", "0012_failed_state"),
        (13, "deletions", "0013_deletions"),
        (14, "warm_targets", "0014_warm_targets"),
        (15, "tier_moves", "0015_tier_moves"),
        (16, "route_acks", "0016_route_acks"),
        (17, "mirror_synced", "0017_mirror_synced"),
        (18, "route_changes_index", "0018_route_changes_index"),
    ]
);

const SELECT: &str = "
    SELECT t.id, t.slug, t.name, t.plan, t.tier, t.state, t.created_at, t.updated_at,
           coalesce((SELECT group_concat(domain, ' ') FROM
                       (SELECT domain FROM tenant_domains d WHERE d.owner = t.id ORDER BY domain)), ''),
           t.canary, t.database_server, t.moving_to, t.route_version, t.mirror_synced
      FROM tenants t";

/// Tenant records in a SQLite file.
#[derive(Clone)]
pub struct SqliteTenantStore {
    db: SqliteDatabase,
}

impl SqliteTenantStore {
    /// A store over `db` (migrated with [`CONTROL_MIGRATIONS`]).
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

fn storage(e: DataError) -> RegistryError {
    RegistryError::Data(e)
}

fn decode(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TenantRecord, RegistryError>> {
    let id: String = row.get(0)?;
    let (plan, tier, state): (String, String, String) = (row.get(3)?, row.get(4)?, row.get(5)?);
    let domains: String = row.get(8)?;
    let bad = |what: &str| RegistryError::Storage(format!("bad {what} in tenants row {id}"));
    let record = (|| {
        Ok(TenantRecord {
            id: id.parse().map_err(|_| bad("id"))?,
            slug: row.get(1).map_err(|_| bad("slug"))?,
            name: row.get(2).map_err(|_| bad("name"))?,
            plan: plan.parse().map_err(|_| bad("plan"))?,
            tier: tier.parse().map_err(|_| bad("tier"))?,
            state: state.parse().map_err(|_| bad("state"))?,
            domains: domains.split_whitespace().map(str::to_owned).collect(),
            canary: row.get::<_, i64>(9).map_err(|_| bad("canary"))? != 0,
            database_server: row.get(10).map_err(|_| bad("database_server"))?,
            moving_to: row
                .get::<_, Option<String>>(11)
                .map_err(|_| bad("moving_to"))?
                .map(|t| t.parse().map_err(|_| bad("moving_to")))
                .transpose()?,
            route_version: row.get(12).map_err(|_| bad("route_version"))?,
            mirror_synced: row.get::<_, i64>(13).map_err(|_| bad("mirror_synced"))? != 0,
            created_at_ms: row.get(6).map_err(|_| bad("created_at"))?,
            updated_at_ms: row.get(7).map_err(|_| bad("updated_at"))?,
        })
    })();
    Ok(record)
}

fn find_blocking(
    conn: &rusqlite::Connection,
    key: &TenantKey,
) -> Result<Option<TenantRecord>, DataError> {
    let (filter, param) = match key {
        TenantKey::Slug(slug) => ("WHERE t.slug = ?1", slug.clone()),
        TenantKey::Id(id) => ("WHERE t.id = ?1", id.to_string()),
        TenantKey::Domain(domain) => (
            "WHERE t.id = (SELECT owner FROM tenant_domains WHERE domain = ?1)",
            domain.clone(),
        ),
    };
    let mut stmt = conn
        .prepare_cached(&format!("{SELECT} {filter}"))
        .map_err(sqlite_error)?;
    let found = stmt
        .query_row([param], decode)
        .optional()
        .map_err(sqlite_error)?;
    found
        .transpose()
        .map_err(|e| DataError::Decode(e.to_string()))
}

impl SqliteTenantStore {
    /// Runs one `UPDATE … WHERE id = ?1` with `value` as `?2` and the time
    /// as `?3`, then re-reads the record.
    async fn update(
        &self,
        id: TenantId,
        sql: &'static str,
        value: rusqlite::types::Value,
    ) -> Result<TenantRecord, RegistryError> {
        let changed = self
            .db
            .run_unscoped(move |conn| {
                conn.execute(sql, params![id.to_string(), value, crate::clock::now_ms()])
                    .map_err(sqlite_error)
            })
            .await
            .map_err(storage)?;
        if changed == 0 {
            return Err(RegistryError::NotFound);
        }
        self.find(&TenantKey::Id(id))
            .await?
            .ok_or(RegistryError::NotFound)
    }
}

impl TenantStore for SqliteTenantStore {
    fn find(&self, key: &TenantKey) -> BoxFuture<'_, Result<Option<TenantRecord>, RegistryError>> {
        let key = key.clone();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| find_blocking(conn, &key))
                .await
                .map_err(storage)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, RegistryError>> {
        Box::pin(async move {
            let rows = self
                .db
                .run_unscoped(|conn| {
                    let mut stmt = conn
                        .prepare_cached(&format!("{SELECT} ORDER BY t.slug"))
                        .map_err(sqlite_error)?;
                    let rows = stmt.query_map([], decode).map_err(sqlite_error)?;
                    rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
                })
                .await
                .map_err(storage)?;
            rows.into_iter().collect()
        })
    }

    fn insert(&self, tenant: NewTenant) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        Box::pin(async move {
            let id = tenant.id.unwrap_or_else(TenantId::new_v4);
            self.db
                .run_unscoped(move |conn| {
                    let tx = conn.transaction().map_err(sqlite_error)?;
                    let now = crate::clock::now_ms();
                    tx.execute(
                        "INSERT INTO tenants (id, slug, name, plan, tier, state, created_at, updated_at, database_server)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                        params![id.to_string(), tenant.slug, tenant.name, tenant.plan.as_str(), tenant.tier.as_str(), tenant.state.as_str(), now, tenant.database_server],
                    )
                    .map_err(|e| conflict(e, format!("tenant {} (slug or id)", tenant.slug)))?;
                    for domain in &tenant.domains {
                        tx.execute("INSERT INTO tenant_domains (domain, owner) VALUES (?1, ?2)", params![domain, id.to_string()])
                            .map_err(|e| conflict(e, format!("domain {domain}")))?;
                    }
                    tx.commit().map_err(sqlite_error)
                })
                .await
                .map_err(|e| match e {
                    DataError::Constraint(what) => RegistryError::Conflict(what.message().to_owned()),
                    other => storage(other),
                })?;
            self.find(&TenantKey::Id(id))
                .await?
                .ok_or(RegistryError::NotFound)
        })
    }

    fn set_state(
        &self,
        id: TenantId,
        state: TenantState,
    ) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        let value = rusqlite::types::Value::Text(state.as_str().to_owned());
        Box::pin(async move {
            self.update(
                id,
                // The version rule is `TenantState::change_needs_acknowledgement`.
                "UPDATE tenants SET state = ?2, updated_at = ?3, \
                        route_version = CASE WHEN state <> ?2 AND (?2 <> 'active' OR route_version > 0) \
                                             THEN route_version + 1 ELSE route_version END \
                  WHERE id = ?1",
                value,
            )
            .await
        })
    }

    fn set_plan<'a>(
        &'a self,
        id: TenantId,
        plan: &'a crate::context::Plan,
    ) -> BoxFuture<'a, Result<TenantRecord, RegistryError>> {
        let value = rusqlite::types::Value::Text(plan.as_str().to_owned());
        Box::pin(async move {
            self.update(
                id,
                "UPDATE tenants SET plan = ?2, updated_at = ?3, \
                        route_version = route_version + (plan <> ?2) \
                  WHERE id = ?1",
                value,
            )
            .await
        })
    }

    fn set_canary(
        &self,
        id: TenantId,
        canary: bool,
    ) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        let value = rusqlite::types::Value::Integer(i64::from(canary));
        Box::pin(async move {
            self.update(
                id,
                "UPDATE tenants SET canary = ?2, updated_at = ?3 WHERE id = ?1",
                value,
            )
            .await
        })
    }

    fn set_route(
        &self,
        id: TenantId,
        change: crate::registry::RouteChange,
    ) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "UPDATE tenants SET tier = ?2, moving_to = ?3, mirror_synced = ?5, database_server = ?6, \
                                route_version = route_version + 1, updated_at = ?4 \
                          WHERE id = ?1 AND (tier IS NOT ?2 OR moving_to IS NOT ?3 \
                                OR mirror_synced IS NOT ?5 OR database_server IS NOT ?6)",
                        params![
                            id.to_string(),
                            change.tier.as_str(),
                            change.moving_to.map(|t| t.as_str()),
                            crate::clock::now_ms(),
                            change.mirror_synced,
                            change.database_server,
                        ],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map_err(storage)?;
            self.find(&TenantKey::Id(id))
                .await?
                .ok_or(RegistryError::NotFound)
        })
    }
}

/// Names what conflicted; the caller turns it into [`RegistryError::Conflict`].
fn conflict(e: rusqlite::Error, what: String) -> DataError {
    match sqlite_error(e) {
        DataError::Constraint(failure) => {
            DataError::Constraint(crate::data::DbFailure::new(what).with_source(failure))
        }
        other => other,
    }
}
