//! [`SqliteConfigStore`]: tenant settings and flag overrides in `control.db`.

use rusqlite::params;

use super::{SqliteDatabase, sqlite_error};
use crate::config::{BoxFuture, ConfigError, ConfigStore, StoredConfig};
use crate::context::TenantId;
use crate::data::DataError;

/// Tenant configuration in the SQLite control database.
#[derive(Clone)]
pub struct SqliteConfigStore {
    db: SqliteDatabase,
}

impl SqliteConfigStore {
    /// A store over the control database (migrated with the control set).
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

fn storage(e: DataError) -> ConfigError {
    ConfigError::Data(e)
}

impl ConfigStore for SqliteConfigStore {
    fn load(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoredConfig, ConfigError>> {
        Box::pin(async move {
            let (settings, flags) = self
                .db
                .run_unscoped(move |conn| {
                    let id = tenant.to_string();
                    let settings: Option<String> =
                        rusqlite::OptionalExtension::optional(conn.query_row(
                            "SELECT settings FROM tenant_settings WHERE owner = ?1",
                            [&id],
                            |row| row.get(0),
                        ))
                        .map_err(sqlite_error)?;
                    let mut stmt = conn
                        .prepare_cached("SELECT flag, enabled FROM tenant_flags WHERE owner = ?1")
                        .map_err(sqlite_error)?;
                    let flags = stmt
                        .query_map([&id], |row| {
                            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? != 0))
                        })
                        .map_err(sqlite_error)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(sqlite_error)?;
                    Ok((settings, flags))
                })
                .await
                .map_err(storage)?;
            let settings = settings
                .map(|json| serde_json::from_str::<serde_json::Value>(&json))
                .transpose()
                .map_err(|e| ConfigError::Storage(format!("stored settings: {e}")))?;
            Ok(StoredConfig {
                settings,
                flags: flags.into_iter().collect(),
            })
        })
    }

    fn save_settings<'a>(
        &'a self,
        tenant: TenantId,
        settings: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), ConfigError>> {
        Box::pin(async move {
            let json =
                serde_json::to_string(settings).map_err(|e| ConfigError::Storage(e.to_string()))?;
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "INSERT INTO tenant_settings (owner, settings, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (owner) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
                        params![tenant.to_string(), json, crate::clock::now_ms()],
                    )
                    .map(drop)
                    .map_err(sqlite_error)
                })
                .await
                .map_err(storage)
        })
    }

    fn set_flag<'a>(
        &'a self,
        tenant: TenantId,
        flag: &'a str,
        value: Option<bool>,
    ) -> BoxFuture<'a, Result<(), ConfigError>> {
        let flag = flag.to_owned();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    match value {
                        Some(enabled) => conn.execute(
                            "INSERT INTO tenant_flags (owner, flag, enabled, updated_at) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (owner, flag) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
                            params![tenant.to_string(), flag, i64::from(enabled), crate::clock::now_ms()],
                        ),
                        None => conn.execute(
                            "DELETE FROM tenant_flags WHERE owner = ?1 AND flag = ?2",
                            params![tenant.to_string(), flag],
                        ),
                    }
                    .map(drop)
                    .map_err(sqlite_error)
                })
                .await
                .map_err(storage)
        })
    }
}
