//! [`PgSecretStorage`]: data keys and sealed secrets in the `tenantry`
//! control schema.

use tokio_postgres::types::ToSql;

use super::{PgDatabase, db_error};
use crate::context::TenantId;
use crate::secrets::{BoxFuture, SealedSecret, SecretStorage, SecretsError, WrappedKey};

/// Secrets in PostgreSQL's control schema.
#[derive(Clone)]
pub struct PgSecretStorage {
    db: PgDatabase,
}

impl PgSecretStorage {
    /// Storage over `db`'s pool (the app role has the control-plane grants).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, SecretsError> {
        let client = self.db.client().await.map_err(storage)?;
        client
            .query(sql, params)
            .await
            .map_err(|e| storage(db_error(e)))
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, SecretsError> {
        let client = self.db.client().await.map_err(storage)?;
        client
            .execute(sql, params)
            .await
            .map_err(|e| storage(db_error(e)))
    }
}

fn storage(e: crate::data::DataError) -> SecretsError {
    SecretsError::Data(e)
}

fn key_row(row: &tokio_postgres::Row) -> WrappedKey {
    WrappedKey {
        master_key_id: row.get(0),
        ciphertext: row.get(1),
    }
}

fn secret_row(row: &tokio_postgres::Row) -> SealedSecret {
    SealedSecret {
        name: row.get(0),
        ciphertext: row.get(1),
        last4: row.get(2),
        updated_at_ms: row.get(3),
    }
}

impl SecretStorage for PgSecretStorage {
    fn data_key(
        &self,
        tenant: TenantId,
    ) -> BoxFuture<'_, Result<Option<WrappedKey>, SecretsError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT master_key_id, wrapped FROM tenantry.tenant_data_keys WHERE owner = $1",
                    &[tenant.as_uuid()],
                )
                .await?;
            Ok(rows.first().map(key_row))
        })
    }

    fn insert_data_key(
        &self,
        tenant: TenantId,
        key: WrappedKey,
    ) -> BoxFuture<'_, Result<WrappedKey, SecretsError>> {
        Box::pin(async move {
            // Insert, or read the winner's: one statement, race-free.
            let rows = self
                .query(
                    "WITH inserted AS (
                         INSERT INTO tenantry.tenant_data_keys (owner, master_key_id, wrapped)
                         VALUES ($1, $2, $3) ON CONFLICT (owner) DO NOTHING
                         RETURNING master_key_id, wrapped)
                     SELECT master_key_id, wrapped FROM inserted
                     UNION ALL
                     SELECT master_key_id, wrapped FROM tenantry.tenant_data_keys WHERE owner = $1
                     LIMIT 1",
                    &[tenant.as_uuid(), &key.master_key_id, &key.ciphertext],
                )
                .await?;
            rows.first().map(key_row).ok_or_else(|| {
                SecretsError::Storage("the data key vanished while being stored".into())
            })
        })
    }

    fn replace_data_key<'a>(
        &'a self,
        tenant: TenantId,
        old: &'a WrappedKey,
        new: WrappedKey,
    ) -> BoxFuture<'a, Result<bool, SecretsError>> {
        Box::pin(async move {
            let changed = self
                .execute(
                    "UPDATE tenantry.tenant_data_keys SET master_key_id = $3, wrapped = $4
                     WHERE owner = $1 AND wrapped = $2",
                    &[
                        tenant.as_uuid(),
                        &old.ciphertext,
                        &new.master_key_id,
                        &new.ciphertext,
                    ],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn data_keys(&self) -> BoxFuture<'_, Result<Vec<(TenantId, WrappedKey)>, SecretsError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT owner, master_key_id, wrapped FROM tenantry.tenant_data_keys ORDER BY owner",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| {
                    (
                        TenantId::from_uuid(row.get(0)),
                        WrappedKey {
                            master_key_id: row.get(1),
                            ciphertext: row.get(2),
                        },
                    )
                })
                .collect())
        })
    }

    fn destroy_data_key(&self, tenant: TenantId) -> BoxFuture<'_, Result<bool, SecretsError>> {
        Box::pin(async move {
            let changed = self
                .execute(
                    "DELETE FROM tenantry.tenant_data_keys WHERE owner = $1",
                    &[tenant.as_uuid()],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn put_secret(
        &self,
        tenant: TenantId,
        secret: SealedSecret,
    ) -> BoxFuture<'_, Result<(), SecretsError>> {
        Box::pin(async move {
            self.execute(
                "INSERT INTO tenantry.tenant_secrets (owner, name, ciphertext, last4, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (owner, name) DO UPDATE SET ciphertext = excluded.ciphertext,
                     last4 = excluded.last4, updated_at_ms = excluded.updated_at_ms",
                &[tenant.as_uuid(), &secret.name, &secret.ciphertext, &secret.last4, &secret.updated_at_ms],
            )
            .await
            .map(drop)
        })
    }

    fn secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<SealedSecret>, SecretsError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT name, ciphertext, last4, updated_at_ms FROM tenantry.tenant_secrets
                     WHERE owner = $1 AND name = $2",
                    &[tenant.as_uuid(), &name],
                )
                .await?;
            Ok(rows.first().map(secret_row))
        })
    }

    fn secrets(&self, tenant: TenantId) -> BoxFuture<'_, Result<Vec<SealedSecret>, SecretsError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "SELECT name, ciphertext, last4, updated_at_ms FROM tenantry.tenant_secrets
                     WHERE owner = $1 ORDER BY name",
                    &[tenant.as_uuid()],
                )
                .await?;
            Ok(rows.iter().map(secret_row).collect())
        })
    }

    fn delete_secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, SecretsError>> {
        Box::pin(async move {
            let changed = self
                .execute(
                    "DELETE FROM tenantry.tenant_secrets WHERE owner = $1 AND name = $2",
                    &[tenant.as_uuid(), &name],
                )
                .await?;
            Ok(changed == 1)
        })
    }
}
