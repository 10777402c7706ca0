//! [`PgConfigStore`]: tenant settings and flag overrides in the `tenantry`
//! control schema.

use super::{PgDatabase, db_error};
use crate::config::{BoxFuture, ConfigError, ConfigStore, StoredConfig};
use crate::context::TenantId;
use crate::data::DataError;

/// Tenant configuration in PostgreSQL's control schema.
#[derive(Clone)]
pub struct PgConfigStore {
    db: PgDatabase,
}

impl PgConfigStore {
    /// A store over `db`'s pool.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

fn storage(e: DataError) -> ConfigError {
    ConfigError::Data(e)
}

impl ConfigStore for PgConfigStore {
    fn load(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoredConfig, ConfigError>> {
        Box::pin(async move {
            let client = self.db.client().await.map_err(storage)?;
            let id = tenant.as_uuid();
            let settings = client
                .query_opt(
                    "SELECT settings FROM tenantry.tenant_settings WHERE owner = $1",
                    &[id],
                )
                .await
                .map_err(|e| storage(db_error(e)))?
                .map(|row| row.get::<_, serde_json::Value>(0));
            let flags = client
                .query(
                    "SELECT flag, enabled FROM tenantry.tenant_flags WHERE owner = $1",
                    &[id],
                )
                .await
                .map_err(|e| storage(db_error(e)))?
                .iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, bool>(1)))
                .collect();
            Ok(StoredConfig { settings, flags })
        })
    }

    fn save_settings<'a>(
        &'a self,
        tenant: TenantId,
        settings: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), ConfigError>> {
        Box::pin(async move {
            let json = settings;
            let client = self.db.client().await.map_err(storage)?;
            client
                .execute(
                    "INSERT INTO tenantry.tenant_settings (owner, settings) VALUES ($1, $2)
                     ON CONFLICT (owner) DO UPDATE SET settings = excluded.settings, updated_at = now()",
                    &[tenant.as_uuid(), json],
                )
                .await
                .map(drop)
                .map_err(|e| storage(db_error(e)))
        })
    }

    fn set_flag<'a>(
        &'a self,
        tenant: TenantId,
        flag: &'a str,
        value: Option<bool>,
    ) -> BoxFuture<'a, Result<(), ConfigError>> {
        Box::pin(async move {
            let client = self.db.client().await.map_err(storage)?;
            let done = match value {
                Some(enabled) => {
                    client
                        .execute(
                            "INSERT INTO tenantry.tenant_flags (owner, flag, enabled) VALUES ($1, $2, $3)
                             ON CONFLICT (owner, flag) DO UPDATE SET enabled = excluded.enabled, updated_at = now()",
                            &[tenant.as_uuid(), &flag, &enabled],
                        )
                        .await
                }
                None => {
                    client
                        .execute(
                            "DELETE FROM tenantry.tenant_flags WHERE owner = $1 AND flag = $2",
                            &[tenant.as_uuid(), &flag],
                        )
                        .await
                }
            };
            done.map(drop).map_err(|e| storage(db_error(e)))
        })
    }
}
