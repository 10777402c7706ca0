//! Tenant-scoped caching.
//!
//! Cache keys are where cross-tenant leaks hide: a key that is unique only
//! within a tenant (`invoice:42`), built by hand in one place and without
//! the tenant in another. [`TenantCache`] builds every key as
//! `t:{tenant id}:{key}` from the current [context](crate::context); callers
//! never see or write the prefix, and outside a context every call fails
//! with [`CacheError::NoTenantContext`].
//!
//! Backends implement [`CacheBackend`] and pass one conformance suite:
//! [`LocalCache`] (in-process, moka) and, with the `cache-redis` feature,
//! `RedisCache` and `TwoLevelCache` (local entries in front of Redis,
//! invalidated across processes by pub/sub).
//!
//! ```
//! use std::time::Duration;
//! use tenantry::cache::{LocalCache, TenantCache};
//! use tenantry::context::{TenantContext, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = TenantCache::new(LocalCache::new(10_000));
//! let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
//! let globex = TenantContext::builder(TenantId::new_v4(), "globex").build().unwrap();
//! acme.scope(cache.set("invoice:42", b"acme's".to_vec(), Duration::from_secs(60))).await.unwrap();
//! let seen_by_globex = globex.scope(cache.get("invoice:42")).await.unwrap();
//! assert_eq!(seen_by_globex, None); // same key, another tenant: no collision
//! # }
//! ```

mod local;
#[cfg(feature = "cache-redis")]
mod redis;
#[cfg(feature = "cache-redis")]
mod registry_events;
#[cfg(feature = "cache-redis")]
mod two_level;

use std::sync::Arc;
use std::time::Duration;

pub use local::LocalCache;
#[cfg(feature = "cache-redis")]
pub use redis::RedisCache;
#[cfg(feature = "cache-redis")]
pub use registry_events::RedisRegistryEvents;
#[cfg(feature = "cache-redis")]
pub use two_level::TwoLevelCache;

use crate::context::{NoTenantContext, TenantId};
use crate::registry::BoxFuture;

/// Longest key a caller may use (the tenant prefix comes on top).
pub const MAX_KEY_LEN: usize = 512;

/// Cache failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// Used outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// Used in the system context, which has no tenant keys.
    #[error("the system tenant has no cache keys")]
    SystemTenant,
    /// The key is empty, too long, or holds control characters.
    #[error("invalid cache key: {0}")]
    InvalidKey(&'static str),
    /// A TTL of zero would store nothing.
    #[error("a cache TTL must be greater than zero")]
    ZeroTtl,
    /// A value could not be (de)serialized.
    #[error("cache value: {0}")]
    Codec(#[from] serde_json::Error),
    /// The backend failed; its own error is the source.
    #[error("cache backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A boxed future of this module's `Result`: what the trait's methods return.
pub type CacheFuture<'a, T> = BoxFuture<'a, Result<T, CacheError>>;

/// Storage for full (already tenant-prefixed) keys. Implement it to add a
/// backend; use it only through [`TenantCache`].
pub trait CacheBackend: Send + Sync + 'static {
    /// The value under `key`, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> CacheFuture<'a, ()>;
    /// Removes `key`; whether it was present.
    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool>;
    /// Removes every key starting with `prefix`; how many were removed.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64>;
    /// How many keys start with `prefix` (a residue scan).
    fn count_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64>;
}

/// A cache whose keys belong to the current tenant. Cheap to clone.
#[derive(Clone)]
pub struct TenantCache {
    backend: Arc<dyn CacheBackend>,
}

impl TenantCache {
    /// A tenant-scoped view over `backend`.
    pub fn new(backend: impl CacheBackend) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }

    /// The current tenant's value for `key`.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.backend.get(&full_key(key)?).await
    }

    /// Stores `value` for the current tenant under `key` for `ttl`.
    pub async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), CacheError> {
        if ttl.is_zero() {
            return Err(CacheError::ZeroTtl);
        }
        self.backend.set(&full_key(key)?, value, ttl).await
    }

    /// Removes the current tenant's `key`; whether it was present.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.backend.delete(&full_key(key)?).await
    }

    /// The current tenant's value for `key`, decoded from JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, CacheError> {
        match self.get(key).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(CacheError::Codec),
            None => Ok(None),
        }
    }

    /// Stores `value` as JSON; see [`Self::set`].
    pub async fn set_json<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let bytes = serde_json::to_vec(value)?;
        self.set(key, bytes, ttl).await
    }

    /// Removes every key of the current tenant (and only those).
    pub async fn invalidate_tenant(&self) -> Result<u64, CacheError> {
        self.backend.delete_prefix(&prefix(current_tenant()?)).await
    }

    /// How many keys the current tenant has (a residue scan after its
    /// deletion expects none).
    pub async fn tenant_keys(&self) -> Result<u64, CacheError> {
        self.backend.count_prefix(&prefix(current_tenant()?)).await
    }
}

fn current_tenant() -> Result<TenantId, CacheError> {
    let tenant = crate::context::current_tenant_id()?;
    if tenant.is_system() {
        return Err(CacheError::SystemTenant);
    }
    Ok(tenant)
}

/// `t:{tenant}:{rest}` in one allocation (this runs on every cache call).
fn prefixed(tenant: TenantId, rest: &str) -> String {
    let mut uuid = uuid::Uuid::encode_buffer();
    let id = tenant.as_uuid().hyphenated().encode_lower(&mut uuid);
    let mut key = String::with_capacity(3 + id.len() + rest.len());
    key.push_str("t:");
    key.push_str(id);
    key.push(':');
    key.push_str(rest);
    key
}

fn prefix(tenant: TenantId) -> String {
    prefixed(tenant, "")
}

fn full_key(key: &str) -> Result<String, CacheError> {
    if key.is_empty() {
        return Err(CacheError::InvalidKey("empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(CacheError::InvalidKey("longer than 512 bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err(CacheError::InvalidKey("control characters"));
    }
    Ok(prefixed(current_tenant()?, key))
}
