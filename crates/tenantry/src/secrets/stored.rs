//! [`SqlSecretStorage`]: data keys and sealed secrets in the control plane,
//! one implementation for PostgreSQL and SQLite.

use crate::context::TenantId;
use crate::data::control::ControlDb;
use crate::data::{DataError, Row};
use crate::params;
use crate::secrets::SecretsFuture;

use super::{SealedSecret, SecretStorage, WrappedKey};

/// Secrets in the control plane's `tenant_data_keys` and `tenant_secrets`
/// tables.
#[derive(Clone)]
pub struct SqlSecretStorage {
    db: ControlDb,
}

impl SqlSecretStorage {
    /// Storage over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

fn key_at(row: &Row, first: usize) -> Result<WrappedKey, DataError> {
    Ok(WrappedKey {
        master_key_id: row.get(first)?,
        ciphertext: row.get(first + 1)?,
    })
}

fn sealed(row: &Row) -> Result<SealedSecret, DataError> {
    Ok(SealedSecret {
        name: row.get(0)?,
        ciphertext: row.get(1)?,
        last4: row.get(2)?,
        updated_at_ms: row.get(3)?,
    })
}

const DATA_KEY: &str =
    "SELECT master_key_id, wrapped FROM tenantry.tenant_data_keys WHERE owner = $1";

impl SecretStorage for SqlSecretStorage {
    fn data_key(&self, tenant: TenantId) -> SecretsFuture<'_, Option<WrappedKey>> {
        Box::pin(async move {
            let row = self.db.fetch_optional(DATA_KEY, params![tenant]).await?;
            Ok(row.map(|r| key_at(&r, 0)).transpose()?)
        })
    }

    fn insert_data_key(&self, tenant: TenantId, key: WrappedKey) -> SecretsFuture<'_, WrappedKey> {
        Box::pin(async move {
            // Insert unless there is one, then read what is stored: the
            // winner's key when two processes raced.
            self.db
                .execute(
                    "INSERT INTO tenantry.tenant_data_keys (owner, master_key_id, wrapped, created_at) \
                     VALUES ($1, $2, $3, now()) ON CONFLICT (owner) DO NOTHING",
                    params![tenant, key.master_key_id, key.ciphertext],
                )
                .await?;
            let stored = self.db.fetch_one(DATA_KEY, params![tenant]).await?;
            Ok(key_at(&stored, 0)?)
        })
    }

    fn replace_data_key<'a>(
        &'a self,
        tenant: TenantId,
        old: &'a WrappedKey,
        new: WrappedKey,
    ) -> SecretsFuture<'a, bool> {
        Box::pin(async move {
            let changed = self
                .db
                .execute(
                    "UPDATE tenantry.tenant_data_keys SET master_key_id = $3, wrapped = $4 \
                     WHERE owner = $1 AND wrapped = $2",
                    params![
                        tenant,
                        old.ciphertext.clone(),
                        new.master_key_id,
                        new.ciphertext
                    ],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn data_keys(&self) -> SecretsFuture<'_, Vec<(TenantId, WrappedKey)>> {
        Box::pin(async move {
            let rows = self
                .db
                .fetch_all(
                    "SELECT owner, master_key_id, wrapped FROM tenantry.tenant_data_keys ORDER BY owner",
                    &[],
                )
                .await?;
            let keys = rows
                .iter()
                .map(|row| Ok((TenantId::from_uuid(row.get(0)?), key_at(row, 1)?)))
                .collect::<Result<_, DataError>>()?;
            Ok(keys)
        })
    }

    fn destroy_data_key(&self, tenant: TenantId) -> SecretsFuture<'_, bool> {
        Box::pin(async move {
            let changed = self
                .db
                .execute(
                    "DELETE FROM tenantry.tenant_data_keys WHERE owner = $1",
                    params![tenant],
                )
                .await?;
            Ok(changed == 1)
        })
    }

    fn put_secret(&self, tenant: TenantId, secret: SealedSecret) -> SecretsFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .execute(
                    "INSERT INTO tenantry.tenant_secrets (owner, name, ciphertext, last4, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (owner, name) DO UPDATE SET ciphertext = excluded.ciphertext, \
                         last4 = excluded.last4, updated_at_ms = excluded.updated_at_ms",
                    params![
                        tenant,
                        secret.name,
                        secret.ciphertext,
                        secret.last4,
                        secret.updated_at_ms
                    ],
                )
                .await?;
            Ok(())
        })
    }

    fn secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> SecretsFuture<'a, Option<SealedSecret>> {
        Box::pin(async move {
            let row = self
                .db
                .fetch_optional(
                    "SELECT name, ciphertext, last4, updated_at_ms FROM tenantry.tenant_secrets \
                     WHERE owner = $1 AND name = $2",
                    params![tenant, name],
                )
                .await?;
            Ok(row.as_ref().map(sealed).transpose()?)
        })
    }

    fn secrets(&self, tenant: TenantId) -> SecretsFuture<'_, Vec<SealedSecret>> {
        Box::pin(async move {
            let rows = self
                .db
                .fetch_all(
                    "SELECT name, ciphertext, last4, updated_at_ms FROM tenantry.tenant_secrets \
                     WHERE owner = $1 ORDER BY name",
                    params![tenant],
                )
                .await?;
            Ok(rows.iter().map(sealed).collect::<Result<_, _>>()?)
        })
    }

    fn delete_secret<'a>(&'a self, tenant: TenantId, name: &'a str) -> SecretsFuture<'a, bool> {
        Box::pin(async move {
            let changed = self
                .db
                .execute(
                    "DELETE FROM tenantry.tenant_secrets WHERE owner = $1 AND name = $2",
                    params![tenant, name],
                )
                .await?;
            Ok(changed == 1)
        })
    }
}
