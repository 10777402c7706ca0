//! [`SqlConfigStore`]: tenant settings and flag overrides in the control
//! plane, one implementation for PostgreSQL and SQLite.

use crate::config::ConfigFuture;
use crate::context::TenantId;
use crate::data::control::ControlDb;
use crate::params;

use super::{ConfigStore, StoredConfig};

/// Tenant configuration in the control plane's `tenant_settings` and
/// `tenant_flags` tables.
#[derive(Clone)]
pub struct SqlConfigStore {
    db: ControlDb,
}

impl SqlConfigStore {
    /// A store over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

impl ConfigStore for SqlConfigStore {
    fn load(&self, tenant: TenantId) -> ConfigFuture<'_, StoredConfig> {
        Box::pin(async move {
            let settings = self
                .db
                .fetch_optional(
                    "SELECT CAST(settings AS TEXT) FROM tenantry.tenant_settings WHERE owner = $1",
                    params![tenant],
                )
                .await?
                .map(|row| row.get::<String>(0))
                .transpose()?
                .map(|json| serde_json::from_str(&json))
                .transpose()?;
            let flags = self
                .db
                .fetch_all(
                    "SELECT flag, enabled FROM tenantry.tenant_flags WHERE owner = $1",
                    params![tenant],
                )
                .await?
                .iter()
                .map(|row| Ok((row.get::<String>(0)?, row.get::<bool>(1)?)))
                .collect::<Result<_, crate::data::DataError>>()?;
            Ok(StoredConfig { settings, flags })
        })
    }

    fn save_settings<'a>(
        &'a self,
        tenant: TenantId,
        settings: &'a serde_json::Value,
    ) -> ConfigFuture<'a, ()> {
        Box::pin(async move {
            let json = serde_json::to_string(settings)?;
            self.db
                .execute(
                    "INSERT INTO tenantry.tenant_settings (owner, settings, updated_at) VALUES ($1, $2, now()) \
                     ON CONFLICT (owner) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                    params![tenant, json],
                )
                .await?;
            Ok(())
        })
    }

    fn set_flag<'a>(
        &'a self,
        tenant: TenantId,
        flag: &'a str,
        value: Option<bool>,
    ) -> ConfigFuture<'a, ()> {
        Box::pin(async move {
            match value {
                Some(enabled) => {
                    self.db
                        .execute(
                            "INSERT INTO tenantry.tenant_flags (owner, flag, enabled, updated_at) VALUES ($1, $2, $3, now()) \
                             ON CONFLICT (owner, flag) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                            params![tenant, flag, enabled],
                        )
                        .await?
                }
                None => {
                    self.db
                        .execute(
                            "DELETE FROM tenantry.tenant_flags WHERE owner = $1 AND flag = $2",
                            params![tenant, flag],
                        )
                        .await?
                }
            };
            Ok(())
        })
    }
}
