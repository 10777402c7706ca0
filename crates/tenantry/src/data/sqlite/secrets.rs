//! [`SqliteSecretStorage`]: data keys and sealed secrets in `control.db`.

use rusqlite::{OptionalExtension, params};

use super::{SqliteDatabase, sqlite_error};
use crate::context::TenantId;
use crate::data::DataError;
use crate::secrets::{BoxFuture, SealedSecret, SecretStorage, SecretsError, WrappedKey};

/// Secrets in the SQLite control database.
#[derive(Clone)]
pub struct SqliteSecretStorage {
    db: SqliteDatabase,
}

impl SqliteSecretStorage {
    /// Storage over the control database (migrated with the control set).
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, SecretsError> {
        self.db.run_unscoped(work).await.map_err(SecretsError::Data)
    }
}

fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<WrappedKey> {
    Ok(WrappedKey {
        master_key_id: row.get(0)?,
        ciphertext: row.get(1)?,
    })
}

fn secret_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SealedSecret> {
    Ok(SealedSecret {
        name: row.get(0)?,
        ciphertext: row.get(1)?,
        last4: row.get(2)?,
        updated_at_ms: row.get(3)?,
    })
}

impl SecretStorage for SqliteSecretStorage {
    fn data_key(
        &self,
        tenant: TenantId,
    ) -> BoxFuture<'_, Result<Option<WrappedKey>, SecretsError>> {
        Box::pin(self.run(move |conn| {
            conn.query_row(
                "SELECT master_key_id, wrapped FROM tenant_data_keys WHERE owner = ?1",
                [tenant.to_string()],
                key_row,
            )
            .optional()
            .map_err(sqlite_error)
        }))
    }

    fn insert_data_key(
        &self,
        tenant: TenantId,
        key: WrappedKey,
    ) -> BoxFuture<'_, Result<WrappedKey, SecretsError>> {
        Box::pin(self.run(move |conn| {
            let now = crate::clock::now_ms();
            conn.execute(
                "INSERT INTO tenant_data_keys (owner, master_key_id, wrapped, created_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner) DO NOTHING",
                params![tenant.to_string(), key.master_key_id, key.ciphertext, now],
            )
            .map_err(sqlite_error)?;
            conn.query_row(
                "SELECT master_key_id, wrapped FROM tenant_data_keys WHERE owner = ?1",
                [tenant.to_string()],
                key_row,
            )
            .map_err(sqlite_error)
        }))
    }

    fn replace_data_key<'a>(
        &'a self,
        tenant: TenantId,
        old: &'a WrappedKey,
        new: WrappedKey,
    ) -> BoxFuture<'a, Result<bool, SecretsError>> {
        let old = old.clone();
        Box::pin(self.run(move |conn| {
            conn.execute(
                "UPDATE tenant_data_keys SET master_key_id = ?3, wrapped = ?4
                 WHERE owner = ?1 AND wrapped = ?2",
                params![
                    tenant.to_string(),
                    old.ciphertext,
                    new.master_key_id,
                    new.ciphertext
                ],
            )
            .map(|n| n == 1)
            .map_err(sqlite_error)
        }))
    }

    fn data_keys(&self) -> BoxFuture<'_, Result<Vec<(TenantId, WrappedKey)>, SecretsError>> {
        Box::pin(self.run(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT owner, master_key_id, wrapped FROM tenant_data_keys ORDER BY owner",
                )
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map([], |row| {
                    let id: String = row.get(0)?;
                    Ok((
                        id,
                        WrappedKey {
                            master_key_id: row.get(1)?,
                            ciphertext: row.get(2)?,
                        },
                    ))
                })
                .map_err(sqlite_error)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, key) = row.map_err(sqlite_error)?;
                let id = id
                    .parse()
                    .map_err(|_| DataError::Decode(format!("tenant id {id:?}")))?;
                out.push((id, key));
            }
            Ok(out)
        }))
    }

    fn destroy_data_key(&self, tenant: TenantId) -> BoxFuture<'_, Result<bool, SecretsError>> {
        Box::pin(self.run(move |conn| {
            conn.execute(
                "DELETE FROM tenant_data_keys WHERE owner = ?1",
                [tenant.to_string()],
            )
            .map(|n| n == 1)
            .map_err(sqlite_error)
        }))
    }

    fn put_secret(
        &self,
        tenant: TenantId,
        secret: SealedSecret,
    ) -> BoxFuture<'_, Result<(), SecretsError>> {
        Box::pin(self.run(move |conn| {
            conn.execute(
                "INSERT INTO tenant_secrets (owner, name, ciphertext, last4, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (owner, name) DO UPDATE SET ciphertext = excluded.ciphertext,
                     last4 = excluded.last4, updated_at_ms = excluded.updated_at_ms",
                params![
                    tenant.to_string(),
                    secret.name,
                    secret.ciphertext,
                    secret.last4,
                    secret.updated_at_ms
                ],
            )
            .map(drop)
            .map_err(sqlite_error)
        }))
    }

    fn secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SealedSecret>, SecretsError>> {
        let name = name.to_owned();
        Box::pin(self.run(move |conn| {
            conn.query_row(
                "SELECT name, ciphertext, last4, updated_at_ms FROM tenant_secrets
                 WHERE owner = ?1 AND name = ?2",
                params![tenant.to_string(), name],
                secret_row,
            )
            .optional()
            .map_err(sqlite_error)
        }))
    }

    fn secrets(&self, tenant: TenantId) -> BoxFuture<'_, Result<Vec<SealedSecret>, SecretsError>> {
        Box::pin(self.run(move |conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT name, ciphertext, last4, updated_at_ms FROM tenant_secrets
                     WHERE owner = ?1 ORDER BY name",
                )
                .map_err(sqlite_error)?;
            let rows = stmt
                .query_map([tenant.to_string()], secret_row)
                .map_err(sqlite_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sqlite_error)
        }))
    }

    fn delete_secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, SecretsError>> {
        let name = name.to_owned();
        Box::pin(self.run(move |conn| {
            conn.execute(
                "DELETE FROM tenant_secrets WHERE owner = ?1 AND name = ?2",
                params![tenant.to_string(), name],
            )
            .map(|n| n == 1)
            .map_err(sqlite_error)
        }))
    }
}
