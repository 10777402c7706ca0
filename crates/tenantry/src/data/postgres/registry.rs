//! [`PgTenantStore`]: the registry in the `tenantry` schema.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::error::SqlState;

use super::{PgDatabase, db_error};
use crate::context::TenantId;
use crate::data::{DataError, Migration};
use crate::registry::{
    BoxFuture, NewTenant, RegistryError, TenantKey, TenantRecord, TenantState, TenantStore,
};

/// The control-plane schema.
pub const CONTROL_SCHEMA: &str = "tenantry";

/// Control-plane migrations, applied to [`CONTROL_SCHEMA`].
pub const CONTROL_MIGRATIONS: &[Migration] = crate::data::migration::control_migrations!(
    "postgres",
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
           coalesce(array_agg(d.domain ORDER BY d.domain) FILTER (WHERE d.domain IS NOT NULL), '{}'),
           t.canary, t.database_server, t.moving_to, t.route_version, t.mirror_synced
      FROM tenantry.tenants t
      LEFT JOIN tenantry.tenant_domains d ON d.owner = t.id";

/// Tenant records in PostgreSQL.
#[derive(Clone)]
pub struct PgTenantStore {
    db: PgDatabase,
}

impl PgTenantStore {
    /// A store over `db`'s pool (the app role needs the control-plane grants
    /// that [`migrate::apply`](super::migrate::apply) gives it).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    async fn query(
        &self,
        filter: &str,
        param: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Vec<TenantRecord>, RegistryError> {
        let client = self.db.client().await.map_err(storage)?;
        let sql = format!("{SELECT} {filter} GROUP BY t.id ORDER BY t.slug");
        let rows = client
            .query(&sql, &[param])
            .await
            .map_err(|e| storage(db_error(e)))?;
        rows.iter().map(decode).collect()
    }
}

fn storage(e: DataError) -> RegistryError {
    RegistryError::Data(e)
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn decode(row: &tokio_postgres::Row) -> Result<TenantRecord, RegistryError> {
    let text = |i: usize| {
        row.try_get::<_, String>(i)
            .map_err(|e| RegistryError::Storage(e.to_string()))
    };
    let parse = |i: usize, what: &str| RegistryError::Storage(format!("bad {what} in row {i}"));
    Ok(TenantRecord {
        id: TenantId::from_uuid(
            row.try_get(0)
                .map_err(|e| RegistryError::Storage(e.to_string()))?,
        ),
        slug: text(1)?,
        name: text(2)?,
        plan: text(3)?.parse().map_err(|_| parse(3, "plan"))?,
        tier: text(4)?.parse().map_err(|_| parse(4, "tier"))?,
        state: text(5)?.parse().map_err(|_| parse(5, "state"))?,
        created_at_ms: millis(
            row.try_get(6)
                .map_err(|e| RegistryError::Storage(e.to_string()))?,
        ),
        updated_at_ms: millis(
            row.try_get(7)
                .map_err(|e| RegistryError::Storage(e.to_string()))?,
        ),
        domains: row
            .try_get(8)
            .map_err(|e| RegistryError::Storage(e.to_string()))?,
        canary: row
            .try_get(9)
            .map_err(|e| RegistryError::Storage(e.to_string()))?,
        database_server: row
            .try_get(10)
            .map_err(|e| RegistryError::Storage(e.to_string()))?,
        moving_to: row
            .try_get::<_, Option<String>>(11)
            .map_err(|e| RegistryError::Storage(e.to_string()))?
            .map(|t| t.parse().map_err(|_| parse(11, "moving_to")))
            .transpose()?,
        route_version: row
            .try_get(12)
            .map_err(|e| RegistryError::Storage(e.to_string()))?,
        mirror_synced: row
            .try_get(13)
            .map_err(|e| RegistryError::Storage(e.to_string()))?,
    })
}

impl PgTenantStore {
    /// Runs one `UPDATE … WHERE id = $1` with `value` as `$2`, then re-reads the record.
    async fn update(
        &self,
        id: TenantId,
        sql: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<TenantRecord, RegistryError> {
        let client = self.db.client().await.map_err(storage)?;
        let changed = client
            .execute(sql, &[id.as_uuid(), value])
            .await
            .map_err(|e| storage(db_error(e)))?;
        drop(client);
        if changed == 0 {
            return Err(RegistryError::NotFound);
        }
        self.find(&TenantKey::Id(id))
            .await?
            .ok_or(RegistryError::NotFound)
    }
}

impl TenantStore for PgTenantStore {
    fn find(&self, key: &TenantKey) -> BoxFuture<'_, Result<Option<TenantRecord>, RegistryError>> {
        let key = key.clone();
        Box::pin(async move {
            let found = match &key {
                TenantKey::Slug(slug) => self.query("WHERE t.slug = $1", slug).await?,
                TenantKey::Id(id) => self.query("WHERE t.id = $1", id.as_uuid()).await?,
                TenantKey::Domain(domain) => {
                    self.query("WHERE t.id = (SELECT owner FROM tenantry.tenant_domains WHERE domain = $1)", domain)
                        .await?
                }
            };
            Ok(found.into_iter().next())
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TenantRecord>, RegistryError>> {
        Box::pin(async move { self.query("WHERE $1::bool", &true).await })
    }

    fn insert(&self, tenant: NewTenant) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        Box::pin(async move {
            let id = tenant.id.unwrap_or_else(TenantId::new_v4);
            let mut client = self.db.client().await.map_err(storage)?;
            let conflict = |e: tokio_postgres::Error, what: String| {
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                    RegistryError::Conflict(what)
                } else {
                    storage(db_error(e))
                }
            };
            let tx = client
                .transaction()
                .await
                .map_err(|e| storage(db_error(e)))?;
            tx.execute(
                "INSERT INTO tenantry.tenants (id, slug, name, plan, tier, state, database_server) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[id.as_uuid(), &tenant.slug, &tenant.name, &tenant.plan.as_str(), &tenant.tier.as_str(), &tenant.state.as_str(), &tenant.database_server],
            )
            .await
            .map_err(|e| conflict(e, format!("tenant {} (slug or id)", tenant.slug)))?;
            for domain in &tenant.domains {
                tx.execute(
                    "INSERT INTO tenantry.tenant_domains (domain, owner) VALUES ($1, $2)",
                    &[domain, id.as_uuid()],
                )
                .await
                .map_err(|e| conflict(e, format!("domain {domain}")))?;
            }
            tx.commit().await.map_err(|e| storage(db_error(e)))?;
            drop(client);
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
        Box::pin(async move {
            self.update(
                id,
                // The version rule is `TenantState::change_needs_acknowledgement`.
                "UPDATE tenantry.tenants SET state = $2, updated_at = now(), \
                        route_version = CASE WHEN state <> $2 AND ($2 <> 'active' OR route_version > 0) \
                                             THEN route_version + 1 ELSE route_version END \
                  WHERE id = $1",
                &state.as_str(),
            )
            .await
        })
    }

    fn set_plan<'a>(
        &'a self,
        id: TenantId,
        plan: &'a crate::context::Plan,
    ) -> BoxFuture<'a, Result<TenantRecord, RegistryError>> {
        Box::pin(async move {
            let name = plan.as_str();
            self.update(
                id,
                "UPDATE tenantry.tenants SET plan = $2, updated_at = now(), \
                        route_version = route_version + CASE WHEN plan <> $2 THEN 1 ELSE 0 END \
                  WHERE id = $1",
                &name,
            )
            .await
        })
    }

    fn set_canary(
        &self,
        id: TenantId,
        canary: bool,
    ) -> BoxFuture<'_, Result<TenantRecord, RegistryError>> {
        Box::pin(async move {
            self.update(
                id,
                "UPDATE tenantry.tenants SET canary = $2, updated_at = now() WHERE id = $1",
                &canary,
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
            let client = self.db.client().await.map_err(storage)?;
            client
                .execute(
                    "UPDATE tenantry.tenants \
                        SET tier = $2, moving_to = $3, mirror_synced = $4, database_server = $5, \
                            route_version = route_version + 1, updated_at = now() \
                      WHERE id = $1 AND (tier IS DISTINCT FROM $2::text OR moving_to IS DISTINCT FROM $3::text \
                            OR mirror_synced IS DISTINCT FROM $4 OR database_server IS DISTINCT FROM $5::text)",
                    &[
                        id.as_uuid(),
                        &change.tier.as_str(),
                        &change.moving_to.map(|t| t.as_str()),
                        &change.mirror_synced,
                        &change.database_server,
                    ],
                )
                .await
                .map_err(|e| storage(db_error(e)))?;
            drop(client);
            self.find(&TenantKey::Id(id))
                .await?
                .ok_or(RegistryError::NotFound)
        })
    }
}
