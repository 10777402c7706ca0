//! [`SqlTenantStore`]: the registry in the control plane, one
//! implementation for PostgreSQL (`tenantry.tenants`) and SQLite
//! (`control.db`).

use crate::context::TenantId;
use crate::data::control::{ControlDb, UnixMillis};
use crate::data::{DataError, Row, Value};
use crate::params;
use crate::registry::RegistryFuture;

use super::{
    NewTenant, RegistryError, RouteChange, TenantKey, TenantRecord, TenantState, TenantStore,
};

// The record's columns; a literal so each lookup is one `'static` statement.
macro_rules! select_tenants {
    ($filter:literal) => {
        concat!(
            "SELECT t.id, t.slug, t.name, t.plan, t.tier, t.state, t.created_at, t.updated_at, \
                    coalesce((SELECT string_agg(d.domain, ' ' ORDER BY d.domain) \
                                FROM tenantry.tenant_domains d WHERE d.owner = t.id), ''), \
                    t.canary, t.database_server, t.moving_to, t.route_version, t.mirror_synced \
               FROM tenantry.tenants t ",
            $filter
        )
    };
}

const BY_SLUG: &str = select_tenants!("WHERE t.slug = $1");
const BY_ID: &str = select_tenants!("WHERE t.id = $1");
const BY_DOMAIN: &str =
    select_tenants!("WHERE t.id = (SELECT owner FROM tenantry.tenant_domains WHERE domain = $1)");
const ALL: &str = select_tenants!("ORDER BY t.slug");

/// Tenant records in the control plane's `tenants` table.
#[derive(Clone)]
pub struct SqlTenantStore {
    db: ControlDb,
}

impl SqlTenantStore {
    /// A store over the control plane `db` (migrated with the backend's
    /// `CONTROL_MIGRATIONS`; on PostgreSQL the app role needs the grants
    /// that `migrate::apply` gives it).
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }

    /// Runs one `UPDATE … WHERE id = $1`, then re-reads the record;
    /// [`RegistryError::NotFound`] when no row matched and `must_match`.
    async fn update(
        &self,
        id: TenantId,
        sql: &'static str,
        params: &[Value],
        must_match: bool,
    ) -> Result<TenantRecord, RegistryError> {
        let changed = self.db.execute(sql, params).await?;
        if must_match && changed == 0 {
            return Err(RegistryError::NotFound);
        }
        self.find(&TenantKey::Id(id))
            .await?
            .ok_or(RegistryError::NotFound)
    }
}

fn decode(row: &Row) -> Result<TenantRecord, RegistryError> {
    let text = |i: usize, what: &'static str| -> Result<String, RegistryError> {
        row.get::<String>(i).map_err(|e| RegistryError::Corrupt {
            what,
            source: Box::new(e),
        })
    };
    let bad = |what: &'static str, value: String| RegistryError::Corrupt {
        what,
        source: Box::new(DataError::decode(format!("not a {what}: {value:?}"))),
    };
    let plan = text(3, "plan")?;
    let tier = text(4, "tier")?;
    let state = text(5, "state")?;
    let domains: String = text(8, "domains")?;
    Ok(TenantRecord {
        id: TenantId::from_uuid(row.get(0)?),
        slug: text(1, "slug")?,
        name: text(2, "name")?,
        plan: plan.parse().map_err(|_| bad("plan", plan.clone()))?,
        tier: tier.parse().map_err(|_| bad("tier", tier.clone()))?,
        state: state.parse().map_err(|_| bad("state", state.clone()))?,
        created_at_ms: row.get::<UnixMillis>(6)?.0,
        updated_at_ms: row.get::<UnixMillis>(7)?.0,
        domains: domains.split_whitespace().map(str::to_owned).collect(),
        canary: row.get(9)?,
        database_server: row.get(10)?,
        moving_to: row
            .get::<Option<String>>(11)?
            .map(|t| t.parse().map_err(|_| bad("moving_to", t.clone())))
            .transpose()?,
        route_version: row.get(12)?,
        mirror_synced: row.get(13)?,
    })
}

/// A unique violation as the taken slug, id or domain `what`.
fn taken(e: DataError, what: String) -> RegistryError {
    if e.constraint_kind() == Some(crate::data::ConstraintKind::Unique) {
        RegistryError::Conflict {
            what,
            source: Some(Box::new(e)),
        }
    } else {
        RegistryError::Data(e)
    }
}

impl TenantStore for SqlTenantStore {
    fn find(&self, key: &TenantKey) -> RegistryFuture<'_, Option<TenantRecord>> {
        let (sql, param) = match key {
            TenantKey::Slug(slug) => (BY_SLUG, Value::from(slug.as_str())),
            TenantKey::Id(id) => (BY_ID, Value::from(*id)),
            TenantKey::Domain(domain) => (BY_DOMAIN, Value::from(domain.as_str())),
        };
        Box::pin(async move {
            let row = self.db.fetch_optional(sql, &[param]).await?;
            row.as_ref().map(decode).transpose()
        })
    }

    fn list(&self) -> RegistryFuture<'_, Vec<TenantRecord>> {
        Box::pin(async move {
            let rows = self.db.fetch_all(ALL, &[]).await?;
            rows.iter().map(decode).collect()
        })
    }

    fn insert(&self, tenant: NewTenant) -> RegistryFuture<'_, TenantRecord> {
        Box::pin(async move {
            let id = tenant.id.unwrap_or_else(TenantId::new_v4);
            let mut tx = self.db.begin().await?;
            tx.execute(
                "INSERT INTO tenantry.tenants \
                     (id, slug, name, plan, tier, state, database_server, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())",
                params![
                    id,
                    tenant.slug.as_str(),
                    tenant.name.as_str(),
                    tenant.plan.as_str(),
                    tenant.tier.as_str(),
                    tenant.state.as_str(),
                    tenant.database_server.clone(),
                ],
            )
            .await
            .map_err(|e| taken(e, format!("tenant {} (slug or id)", tenant.slug)))?;
            for domain in &tenant.domains {
                tx.execute(
                    "INSERT INTO tenantry.tenant_domains (domain, owner) VALUES ($1, $2)",
                    params![domain.as_str(), id],
                )
                .await
                .map_err(|e| taken(e, format!("domain {domain}")))?;
            }
            tx.commit().await?;
            self.find(&TenantKey::Id(id))
                .await?
                .ok_or(RegistryError::NotFound)
        })
    }

    fn set_state(&self, id: TenantId, state: TenantState) -> RegistryFuture<'_, TenantRecord> {
        Box::pin(async move {
            self.update(
                id,
                // The version rule is `TenantState::change_needs_acknowledgement`.
                "UPDATE tenantry.tenants SET state = $2, updated_at = now(), \
                        route_version = CASE WHEN state <> $2 AND ($2 <> 'active' OR route_version > 0) \
                                             THEN route_version + 1 ELSE route_version END \
                  WHERE id = $1",
                params![id, state.as_str()],
                true,
            )
            .await
        })
    }

    fn set_plan<'a>(
        &'a self,
        id: TenantId,
        plan: &'a crate::context::Plan,
    ) -> RegistryFuture<'a, TenantRecord> {
        Box::pin(async move {
            self.update(
                id,
                "UPDATE tenantry.tenants SET plan = $2, updated_at = now(), \
                        route_version = route_version + CASE WHEN plan <> $2 THEN 1 ELSE 0 END \
                  WHERE id = $1",
                params![id, plan.as_str()],
                true,
            )
            .await
        })
    }

    fn set_canary(&self, id: TenantId, canary: bool) -> RegistryFuture<'_, TenantRecord> {
        Box::pin(async move {
            self.update(
                id,
                "UPDATE tenantry.tenants SET canary = $2, updated_at = now() WHERE id = $1",
                params![id, canary],
                true,
            )
            .await
        })
    }

    fn set_route(&self, id: TenantId, change: RouteChange) -> RegistryFuture<'_, TenantRecord> {
        Box::pin(async move {
            // Unchanged routes keep their version: nothing to acknowledge.
            self.update(
                id,
                "UPDATE tenantry.tenants \
                    SET tier = $2, moving_to = $3, mirror_synced = $4, database_server = $5, \
                        route_version = route_version + 1, updated_at = now() \
                  WHERE id = $1 AND (tier IS DISTINCT FROM CAST($2 AS TEXT) \
                        OR moving_to IS DISTINCT FROM CAST($3 AS TEXT) \
                        OR mirror_synced IS DISTINCT FROM $4 \
                        OR database_server IS DISTINCT FROM CAST($5 AS TEXT))",
                params![
                    id,
                    change.tier.as_str(),
                    change.moving_to.map(|t| t.as_str()),
                    change.mirror_synced,
                    change.database_server,
                ],
                false,
            )
            .await
        })
    }
}
