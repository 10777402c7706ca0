//! Per-tenant secrets (API keys, SMTP passwords, webhook signing keys), kept
//! apart from settings and never readable through an API.
//!
//! **Envelope encryption.** Each tenant has its own random 256-bit data key;
//! its secrets are sealed with AES-256-GCM under that key, with the tenant
//! and the secret's name as associated data (a ciphertext copied to another
//! tenant's or another name's row does not open). The data key is stored
//! only wrapped by a [`MasterKey`] — a [`LocalKeyring`] (the embedded
//! default: a key file) or OpenBao/Vault transit, where the master key never
//! leaves the server.
//!
//! **Rotation.** A new master key version wraps new data keys at once;
//! [`Secrets::rewrap_all`] re-wraps the existing ones (secrets themselves
//! are untouched), with no downtime: unwrapping accepts every version still
//! held until then.
//!
//! **Crypto-shredding.** [`Secrets::destroy_tenant_key`] deletes the
//! tenant's data key; its ciphertexts, wherever copies of them live
//! (backups included), can no longer be opened.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use tenantry::context::{TenantContext, TenantId};
//! use tenantry::secrets::{LocalKeyring, MemorySecretStorage, SecretValue, Secrets};
//!
//! let secrets = Secrets::new(Arc::new(MemorySecretStorage::default()), Arc::new(LocalKeyring::generate()));
//! let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
//! acme.clone().scope(async {
//!     let info = secrets.put("smtp_password", SecretValue::new("correct horse battery")).await.unwrap();
//!     assert_eq!(info.last4, "tery");
//!     let value = secrets.reveal("smtp_password").await.unwrap().unwrap();
//!     assert_eq!(value.expose(), "correct horse battery");
//!     assert_eq!(format!("{value:?}"), "SecretValue(<redacted>)");
//! }).await;
//! # }
//! ```

mod envelope;
mod master;
#[cfg(feature = "secrets-openbao")]
mod openbao;
mod storage;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stored;

use std::sync::Arc;
use std::time::Duration;

pub use master::{LocalKeyring, MasterKey, WrappedKey};
#[cfg(feature = "secrets-openbao")]
pub use openbao::OpenBaoTransit;
pub use storage::{MemorySecretStorage, SealedSecret, SecretStorage};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use stored::SqlSecretStorage;

use crate::context::{NoTenantContext, TenantId};
pub use crate::registry::BoxFuture;

/// A boxed future of this module's `Result`: what its traits' methods return.
pub type SecretsFuture<'a, T> = BoxFuture<'a, Result<T, SecretsError>>;

/// Longest secret value accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// How long an unwrapped data key is kept in memory. Short, because a key
/// destroyed in another process stays usable here until it expires.
const DATA_KEY_CACHE_TTL: Duration = Duration::from_secs(60);

/// A secret's value: never printed, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the code that uses it (sending mail, signing).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// What may be shown about a secret.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    /// Name.
    pub name: String,
    /// The value's last four characters, or empty for values under 8.
    pub last4: String,
    /// Last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

impl From<&SealedSecret> for SecretInfo {
    fn from(s: &SealedSecret) -> Self {
        Self {
            name: s.name.clone(),
            last4: s.last4.clone(),
            updated_at_ms: s.updated_at_ms,
        }
    }
}

/// What [`Secrets::rewrap_all`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewrapReport {
    /// Data keys re-wrapped with the current master key.
    pub rewrapped: usize,
    /// Already under the current master key.
    pub current: usize,
}

/// Secret failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// Used outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// A tenant operation in the system context, or a fleet operation outside it.
    #[error("{0}")]
    WrongContext(&'static str),
    /// The name or value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Encryption or decryption failed.
    #[error("crypto: {0}")]
    Crypto(&'static str),
    /// The tenant's data key was destroyed: its secrets are gone for good.
    #[error("the tenant's data key was destroyed; its secrets cannot be read")]
    KeyDestroyed,
    /// The master key is missing, malformed or unreachable; the key
    /// store's or the file system's error is the source, when there was one.
    #[error("master key: {message}")]
    MasterKey {
        /// What is wrong, for logs.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The data layer under the storage failed; the
    /// [`DataError`](crate::data::DataError) says how.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error("secret storage: {0}")]
    Data(#[from] crate::data::DataError),
}

impl SecretsError {
    /// The master key is not usable, for `reason`.
    pub(crate) fn master_key(reason: impl Into<String>) -> Self {
        SecretsError::MasterKey {
            message: reason.into(),
            source: None,
        }
    }

    /// The master key could not be reached at `at` (a URL, a file).
    pub(crate) fn master_key_at(
        at: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        SecretsError::MasterKey {
            message: format!("{at}: {error}"),
            source: Some(Box::new(error)),
        }
    }
}

/// The current tenant's secrets; see the module docs.
#[derive(Clone)]
pub struct Secrets {
    storage: Arc<dyn SecretStorage>,
    master: Arc<dyn MasterKey>,
    data_keys: moka::sync::Cache<TenantId, Arc<Vec<u8>>>,
}

impl Secrets {
    /// Secrets kept in `storage`, their data keys wrapped by `master`.
    pub fn new(storage: Arc<dyn SecretStorage>, master: Arc<dyn MasterKey>) -> Self {
        Self {
            storage,
            master,
            data_keys: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(DATA_KEY_CACHE_TTL)
                .build(),
        }
    }

    /// Stores `value` as the current tenant's secret `name` (replacing it).
    pub async fn put(&self, name: &str, value: SecretValue) -> Result<SecretInfo, SecretsError> {
        check_name(name)?;
        if value.0.is_empty() || value.0.len() > MAX_SECRET_BYTES {
            return Err(SecretsError::Invalid(format!(
                "a secret value is 1 to {MAX_SECRET_BYTES} bytes"
            )));
        }
        let tenant = tenant()?;
        let key = self.data_key(tenant, true).await?;
        let sealed = SealedSecret {
            name: name.to_owned(),
            ciphertext: envelope::seal(&key, value.0.as_bytes(), &aad(tenant, name))?,
            last4: last4(&value.0),
            updated_at_ms: crate::clock::now_ms(),
        };
        let info = SecretInfo::from(&sealed);
        self.storage.put_secret(tenant, sealed).await?;
        Ok(info)
    }

    /// The current tenant's secret `name`, decrypted — for server-side use
    /// only (sending mail, signing webhooks); never return it to a client.
    pub async fn reveal(&self, name: &str) -> Result<Option<SecretValue>, SecretsError> {
        let tenant = tenant()?;
        let Some(sealed) = self.storage.secret(tenant, name).await? else {
            return Ok(None);
        };
        let key = self.data_key(tenant, false).await?;
        let plain = envelope::open(&key, &sealed.ciphertext, &aad(tenant, name))?;
        String::from_utf8(plain)
            .map(|v| Some(SecretValue(v)))
            .map_err(|_| SecretsError::Crypto("a secret decrypted to invalid UTF-8"))
    }

    /// What may be shown about secret `name`.
    pub async fn info(&self, name: &str) -> Result<Option<SecretInfo>, SecretsError> {
        let tenant = tenant()?;
        Ok(self
            .storage
            .secret(tenant, name)
            .await?
            .as_ref()
            .map(SecretInfo::from))
    }

    /// What may be shown about every secret of the tenant, by name.
    pub async fn list(&self) -> Result<Vec<SecretInfo>, SecretsError> {
        let tenant = tenant()?;
        Ok(self
            .storage
            .secrets(tenant)
            .await?
            .iter()
            .map(SecretInfo::from)
            .collect())
    }

    /// Deletes secret `name`; whether it existed.
    pub async fn delete(&self, name: &str) -> Result<bool, SecretsError> {
        let tenant = tenant()?;
        self.storage.delete_secret(tenant, name).await
    }

    /// Creates the current tenant's data key if it has none (onboarding;
    /// idempotent). Its first secret would create it too.
    pub async fn ensure_tenant_key(&self) -> Result<(), SecretsError> {
        let tenant = tenant()?;
        self.data_key(tenant, true).await.map(drop)
    }

    /// Crypto-shreds the current tenant: deletes its data key, so none of
    /// its ciphertexts can be opened again. Returns whether there was one.
    pub async fn destroy_tenant_key(&self) -> Result<bool, SecretsError> {
        let tenant = tenant()?;
        self.data_keys.invalidate(&tenant);
        self.storage.destroy_data_key(tenant).await
    }

    /// Re-wraps every tenant's data key with the master key's current
    /// version (after a rotation). A fleet operation: only in the system
    /// context. Safe to run while serving, and to rerun.
    pub async fn rewrap_all(&self) -> Result<RewrapReport, SecretsError> {
        let ctx = crate::context::require()?;
        if !ctx.is_system() {
            return Err(SecretsError::WrongContext(
                "re-wrapping every tenant's key runs as the system tenant (run_as_system)",
            ));
        }
        let current = self.master.current_id().await?;
        let mut report = RewrapReport::default();
        for (tenant, wrapped) in self.storage.data_keys().await? {
            if wrapped.master_key_id == current {
                report.current += 1;
                continue;
            }
            let context = tenant.to_string();
            let key = self.master.unwrap(&wrapped, &context).await?;
            let rewrapped = self.master.wrap(&key, &context).await?;
            // Lost a race with a destroy or another re-wrap: nothing to do.
            if self
                .storage
                .replace_data_key(tenant, &wrapped, rewrapped)
                .await?
            {
                report.rewrapped += 1;
            }
        }
        Ok(report)
    }

    /// The tenant's data key, unwrapped; created (and stored wrapped) on
    /// first use when `create` is set.
    async fn data_key(&self, tenant: TenantId, create: bool) -> Result<Arc<Vec<u8>>, SecretsError> {
        if let Some(key) = self.data_keys.get(&tenant) {
            return Ok(key);
        }
        let context = tenant.to_string();
        let wrapped = match self.storage.data_key(tenant).await? {
            Some(wrapped) => wrapped,
            None if create => {
                let fresh = envelope::random_key();
                let wrapped = self.master.wrap(&fresh, &context).await?;
                self.storage.insert_data_key(tenant, wrapped).await?
            }
            None => return Err(SecretsError::KeyDestroyed),
        };
        let key = Arc::new(self.master.unwrap(&wrapped, &context).await?);
        self.data_keys.insert(tenant, key.clone());
        Ok(key)
    }
}

fn tenant() -> Result<TenantId, SecretsError> {
    let tenant = crate::context::current_tenant_id()?;
    if tenant.is_system() {
        return Err(SecretsError::WrongContext(
            "the system tenant has no secrets",
        ));
    }
    Ok(tenant)
}

/// Names are `[a-z0-9_.-]`, 1 to 64 characters.
fn check_name(name: &str) -> Result<(), SecretsError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(SecretsError::Invalid(
            "a secret name is 1 to 64 of a-z, 0-9, '_', '.', '-'".into(),
        ))
    }
}

fn aad(tenant: TenantId, name: &str) -> Vec<u8> {
    format!("tenantry-secret-v1|{tenant}|{name}").into_bytes()
}

fn last4(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 8 {
        String::new()
    } else {
        // Shown to people and kept as text (PostgreSQL text holds no NUL):
        // a control character shows as U+FFFD.
        chars[chars.len() - 4..]
            .iter()
            .map(|&c| if c.is_control() { '\u{fffd}' } else { c })
            .collect()
    }
}
