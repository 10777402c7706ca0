//! [`SecretStorage`]: where wrapped data keys and sealed secrets are kept
//! (the control plane: PostgreSQL or SQLite), plus an in-memory store.

use crate::secrets::SecretsFuture;
use std::collections::HashMap;
use std::sync::Mutex;

use super::WrappedKey;
use crate::context::TenantId;

/// One secret at rest: sealed under its tenant's data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedSecret {
    /// Name (`smtp_password`).
    pub name: String,
    /// `nonce ‖ ciphertext ‖ tag`.
    pub ciphertext: Vec<u8>,
    /// The value's last four characters when it is long enough to show
    /// them safely (8 or more), else empty.
    pub last4: String,
    /// Last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// Storage for wrapped data keys and sealed secrets.
pub trait SecretStorage: Send + Sync + 'static {
    /// `tenant`'s wrapped data key.
    fn data_key(&self, tenant: TenantId) -> SecretsFuture<'_, Option<WrappedKey>>;
    /// Stores `key` as `tenant`'s data key unless it has one; returns the
    /// key that is stored now (another process's, if it won the race).
    fn insert_data_key(&self, tenant: TenantId, key: WrappedKey) -> SecretsFuture<'_, WrappedKey>;
    /// Replaces `tenant`'s data key if it is still `old` (re-wrapping).
    fn replace_data_key<'a>(
        &'a self,
        tenant: TenantId,
        old: &'a WrappedKey,
        new: WrappedKey,
    ) -> SecretsFuture<'a, bool>;
    /// Every tenant's wrapped data key.
    fn data_keys(&self) -> SecretsFuture<'_, Vec<(TenantId, WrappedKey)>>;
    /// Deletes `tenant`'s data key; whether there was one.
    fn destroy_data_key(&self, tenant: TenantId) -> SecretsFuture<'_, bool>;
    /// Inserts or replaces a secret.
    fn put_secret(&self, tenant: TenantId, secret: SealedSecret) -> SecretsFuture<'_, ()>;
    /// One secret.
    fn secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> SecretsFuture<'a, Option<SealedSecret>>;
    /// All of `tenant`'s secrets, by name.
    fn secrets(&self, tenant: TenantId) -> SecretsFuture<'_, Vec<SealedSecret>>;
    /// Deletes a secret; whether it existed.
    fn delete_secret<'a>(&'a self, tenant: TenantId, name: &'a str) -> SecretsFuture<'a, bool>;
}

/// Secrets in memory (tests and examples).
#[derive(Default)]
pub struct MemorySecretStorage {
    keys: Mutex<HashMap<TenantId, WrappedKey>>,
    secrets: Mutex<HashMap<(TenantId, String), SealedSecret>>,
}

impl MemorySecretStorage {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, WrappedKey>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn sealed(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, String), SealedSecret>> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStorage for MemorySecretStorage {
    fn data_key(&self, tenant: TenantId) -> SecretsFuture<'_, Option<WrappedKey>> {
        let found = self.keys().get(&tenant).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn insert_data_key(&self, tenant: TenantId, key: WrappedKey) -> SecretsFuture<'_, WrappedKey> {
        let stored = self.keys().entry(tenant).or_insert(key).clone();
        Box::pin(async move { Ok(stored) })
    }

    fn replace_data_key<'a>(
        &'a self,
        tenant: TenantId,
        old: &'a WrappedKey,
        new: WrappedKey,
    ) -> SecretsFuture<'a, bool> {
        let mut keys = self.keys();
        let replaced = match keys.get_mut(&tenant) {
            Some(current) if current == old => {
                *current = new;
                true
            }
            _ => false,
        };
        Box::pin(async move { Ok(replaced) })
    }

    fn data_keys(&self) -> SecretsFuture<'_, Vec<(TenantId, WrappedKey)>> {
        let all = self.keys().iter().map(|(t, k)| (*t, k.clone())).collect();
        Box::pin(async move { Ok(all) })
    }

    fn destroy_data_key(&self, tenant: TenantId) -> SecretsFuture<'_, bool> {
        let removed = self.keys().remove(&tenant).is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn put_secret(&self, tenant: TenantId, secret: SealedSecret) -> SecretsFuture<'_, ()> {
        self.sealed().insert((tenant, secret.name.clone()), secret);
        Box::pin(async move { Ok(()) })
    }

    fn secret<'a>(
        &'a self,
        tenant: TenantId,
        name: &'a str,
    ) -> SecretsFuture<'a, Option<SealedSecret>> {
        let found = self.sealed().get(&(tenant, name.to_owned())).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn secrets(&self, tenant: TenantId) -> SecretsFuture<'_, Vec<SealedSecret>> {
        let mut all: Vec<SealedSecret> = self
            .sealed()
            .iter()
            .filter(|((owner, _), _)| *owner == tenant)
            .map(|(_, s)| s.clone())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Box::pin(async move { Ok(all) })
    }

    fn delete_secret<'a>(&'a self, tenant: TenantId, name: &'a str) -> SecretsFuture<'a, bool> {
        let removed = self.sealed().remove(&(tenant, name.to_owned())).is_some();
        Box::pin(async move { Ok(removed) })
    }
}
