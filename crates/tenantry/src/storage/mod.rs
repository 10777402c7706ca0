//! Tenant-scoped object storage on the `object_store` crate.
//!
//! [`TenantStorage`] takes the tenant from the [context](crate::context) and
//! has no tenant parameter: every key is a validated [`ObjectKey`] joined
//! to the tenant's place — a prefix in a shared bucket, or a bucket of its
//! own, chosen per tenant by a [`LayoutPolicy`] — so no caller builds a
//! bucket path by hand and no key reaches another tenant's objects.
//!
//! Backends: the local filesystem (the embedded default; each bucket a
//! directory) and S3 (feature `storage-s3`, any S3-compatible server).
//! Signed URLs hand a client one object for a while: presigned by S3, or for
//! the local backend signed by [`UrlSigner`] and served by the app, whose
//! edge checks the signature against the tenant it resolves.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use bytes::Bytes;
//! use tenantry::context::{TenantContext, TenantId};
//! use tenantry::storage::{Backend, LayoutPolicy, ObjectKey, TenantStorage, UrlSigner};
//!
//! let root = std::env::temp_dir().join(format!("tenantry-doc-{}", TenantId::new_v4()));
//! let storage = TenantStorage::new(
//!     Backend::Local { root: root.clone() },
//!     LayoutPolicy::new("objects"),
//!     UrlSigner::new(b"doc-example-signing-key-32-bytes!"),
//! );
//! let (acme, globex) = (
//!     TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap(),
//!     TenantContext::builder(TenantId::new_v4(), "globex").build().unwrap(),
//! );
//! let key = ObjectKey::parse("notes/hello.txt").unwrap();
//! acme.clone().scope(storage.put(&key, Bytes::from_static(b"hi"))).await.unwrap();
//! assert_eq!(acme.scope(storage.get(&key)).await.unwrap(), "hi");
//! assert!(globex.scope(storage.get(&key)).await.is_err()); // not globex's
//! # std::fs::remove_dir_all(root).unwrap();
//! # }
//! ```

mod erasure;
mod key;
mod layout;
mod quota;
#[cfg(feature = "storage-s3")]
mod s3;
mod signed;
mod signing;
#[cfg(feature = "storage-s3")]
mod sigv4;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use key::ObjectKey;
pub use layout::{Layout, LayoutPolicy};
pub use quota::{StorageQuota, USAGE_TTL};
#[cfg(feature = "storage-s3")]
pub use s3::S3Config;
pub use signed::{Access, SignedObject};
pub use signing::{SIGNED_PATH_PREFIX, SignatureError, UrlSigner};

use crate::context::{NoTenantContext, TenantContext, TenantId};

/// Where objects are kept.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Backend {
    /// A directory per bucket under `root`.
    Local {
        /// The directory that holds the buckets.
        root: PathBuf,
    },
    /// An S3-compatible server.
    #[cfg(feature = "storage-s3")]
    S3(S3Config),
}

/// One object, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key, relative to the tenant.
    pub key: ObjectKey,
    /// Size in bytes.
    pub size: u64,
    /// Last change, Unix milliseconds.
    pub last_modified_ms: i64,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Used outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// Used in the system context, which has no objects of its own.
    #[error("the system tenant has no objects")]
    SystemTenant,
    /// The key is not acceptable.
    #[error("object key {key:?} {why}")]
    InvalidKey {
        /// The key as given (truncated).
        key: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// No such object for this tenant.
    #[error("no object {0}")]
    NotFound(ObjectKey),
    /// The backend is misconfigured; the underlying error is the source,
    /// when there was one.
    #[error("storage configuration: {message}")]
    Config {
        /// What is wrong, for logs.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The backend failed; its own error is the source, when it gave one.
    #[error("storage: {message}")]
    Backend {
        /// What failed, for logs.
        message: String,
        /// The backend's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The tenant's quota has no room for this object.
    #[error("the storage quota of {quota} bytes has no room for {wanted} more ({used} used)")]
    QuotaExceeded {
        /// The tenant's quota, in bytes.
        quota: u64,
        /// What the tenant's objects take now, in bytes.
        used: u64,
        /// The size asked for, in bytes.
        wanted: u64,
    },
}

impl StorageError {
    /// The backend is misconfigured, for `reason`.
    #[cfg_attr(not(feature = "storage-s3"), allow(dead_code))]
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        StorageError::Config {
            message: reason.into(),
            source: None,
        }
    }

    /// The backend is misconfigured: `error`, at `at` (a directory, an endpoint).
    pub(crate) fn config_failed(
        at: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StorageError::Config {
            message: format!("{at}: {error}"),
            source: Some(Box::new(error)),
        }
    }

    /// The backend failed with `error`.
    pub(crate) fn failed(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// The backend failed with `error` at `at` (a path, a bucket).
    pub(crate) fn failed_at(
        at: impl std::fmt::Display,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StorageError::Backend {
            message: format!("{at}: {error}"),
            source: Some(Box::new(error)),
        }
    }
}

/// The current tenant's objects; see the module docs.
#[derive(Clone)]
pub struct TenantStorage {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    policy: LayoutPolicy,
    signer: UrlSigner,
    // One store per bucket, opened on first use (building an S3 client
    // loads TLS roots: milliseconds, so never per request).
    stores: Mutex<HashMap<String, Opened>>,
    quota: Option<StorageQuota>,
    // Each tenant's bytes in use, and when they were counted.
    usage: Mutex<HashMap<TenantId, (u64, Instant)>>,
}

#[derive(Clone)]
struct Opened {
    store: Arc<dyn ObjectStore>,
    // The same client, typed, for presigning.
    #[cfg(feature = "storage-s3")]
    s3: Option<Arc<object_store::aws::AmazonS3>>,
}

impl TenantStorage {
    /// Storage on `backend`, laid out by `policy`; `signer` signs the local
    /// backend's URLs (S3 presigns its own).
    pub fn new(backend: Backend, policy: LayoutPolicy, signer: UrlSigner) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                policy,
                signer,
                stores: Mutex::new(HashMap::new()),
                quota: None,
                usage: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The same storage with each tenant's writes held to `quota`.
    pub fn with_quota(self, quota: StorageQuota) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend: self.inner.backend.clone(),
                policy: self.inner.policy.clone(),
                signer: self.inner.signer.clone(),
                stores: Mutex::new(HashMap::new()),
                quota: Some(quota),
                usage: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The signer of the local backend's URLs (the edge checks them with it).
    pub fn signer(&self) -> &UrlSigner {
        &self.inner.signer
    }

    /// Stores `bytes` at `key`, replacing what was there; refused with
    /// [`StorageError::QuotaExceeded`] when the tenant's quota has no room.
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<ObjectInfo, StorageError> {
        let size = bytes.len() as u64;
        self.admit(key, size).await?;
        let (store, path) = self.locate(key)?;
        store
            .put(&path, bytes.into())
            .await
            .map_err(|e| backend(key, e))?;
        self.stored(&*store, &path, key, size).await
    }

    /// What a write of `size` bytes at `key` (`path` in `store`) left: the
    /// object's info, its size counted into the tenant's usage.
    async fn stored(
        &self,
        store: &dyn ObjectStore,
        path: &Path,
        key: &ObjectKey,
        size: u64,
    ) -> Result<ObjectInfo, StorageError> {
        let meta = store.head(path).await.map_err(|e| backend(key, e))?;
        // A replaced object's size is not known here: counting the new
        // size in full errs toward refusing early, and the usage is listed
        // afresh within `USAGE_TTL`.
        self.count_write(size, 0);
        Ok(ObjectInfo {
            key: key.clone(),
            size,
            last_modified_ms: meta.last_modified.timestamp_millis(),
        })
    }

    /// The object at `key`.
    pub async fn get(&self, key: &ObjectKey) -> Result<Bytes, StorageError> {
        let (store, path) = self.locate(key)?;
        let result = store.get(&path).await.map_err(|e| backend(key, e))?;
        result.bytes().await.map_err(|e| backend(key, e))
    }

    /// The size and age of the object at `key`.
    pub async fn head(&self, key: &ObjectKey) -> Result<ObjectInfo, StorageError> {
        let (store, path) = self.locate(key)?;
        let meta = store.head(&path).await.map_err(|e| backend(key, e))?;
        Ok(ObjectInfo {
            key: key.clone(),
            size: meta.size,
            last_modified_ms: meta.last_modified.timestamp_millis(),
        })
    }

    /// Deletes the object at `key`; deleting what is not there succeeds.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let (store, path) = self.locate(key)?;
        // Counted again on the next write.
        if let Ok(ctx) = tenant() {
            let mut usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
            usage.remove(&ctx.tenant_id());
        }
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(key, e)),
        }
    }

    /// The tenant's objects under `prefix` (all of them for `None`), by key.
    pub async fn list(&self, prefix: Option<&ObjectKey>) -> Result<Vec<ObjectInfo>, StorageError> {
        let ctx = tenant()?;
        let (store, tenant_prefix) = self.place(&ctx)?;
        let base = match prefix {
            Some(p) => format!("{tenant_prefix}{p}"),
            None => tenant_prefix.trim_end_matches('/').to_owned(),
        };
        let base = Path::parse(&base).map_err(StorageError::failed)?;
        let listed: Vec<_> = match store.list(Some(&base)).try_collect().await {
            Ok(listed) => listed,
            // A bucket that does not exist yet (S3 makes a dedicated one on
            // the first write) holds nothing. object_store reports it only
            // as a generic error carrying S3's code.
            Err(e) if e.to_string().contains("NoSuchBucket") => Vec::new(),
            Err(e) => return Err(StorageError::failed(e)),
        };
        let mut objects = Vec::with_capacity(listed.len());
        for meta in listed {
            let full = meta.location.to_string();
            // Keys outside the tenant's prefix cannot be listed under it;
            // skip rather than trust the backend.
            let Some(relative) = full.strip_prefix(&tenant_prefix) else {
                continue;
            };
            objects.push(ObjectInfo {
                key: ObjectKey::parse(relative)?,
                size: meta.size,
                last_modified_ms: meta.last_modified.timestamp_millis(),
            });
        }
        objects.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        Ok(objects)
    }

    /// Where `ctx` keeps its objects: under a shared prefix or in a bucket
    /// of its own (its plan decides).
    pub fn layout(&self, ctx: &TenantContext) -> Layout {
        self.inner.policy.layout(ctx)
    }

    fn locate(&self, key: &ObjectKey) -> Result<(Arc<dyn ObjectStore>, Path), StorageError> {
        let ctx = tenant()?;
        let (store, prefix) = self.place(&ctx)?;
        // `ObjectKey` already refuses what `Path` would; this is a backstop.
        let path = Path::parse(format!("{prefix}{key}")).map_err(|_| StorageError::InvalidKey {
            key: key.to_string(),
            why: "is not a valid object path",
        })?;
        Ok((store, path))
    }

    fn place(&self, ctx: &TenantContext) -> Result<(Arc<dyn ObjectStore>, String), StorageError> {
        let (opened, prefix) = self.open(ctx)?;
        Ok((opened.store, prefix))
    }

    /// `ctx`'s bucket, opened once, and its prefix.
    fn open(&self, ctx: &TenantContext) -> Result<(Opened, String), StorageError> {
        let (bucket, prefix) = self.inner.policy.place(ctx);
        let mut stores = self.inner.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(opened) = stores.get(&bucket) {
            return Ok((opened.clone(), prefix));
        }
        let opened = match &self.inner.backend {
            Backend::Local { root } => {
                let dir = root.join(&bucket);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StorageError::config_failed(dir.display(), e))?;
                Opened {
                    store: Arc::new(
                        object_store::local::LocalFileSystem::new_with_prefix(&dir)
                            .map_err(|e| StorageError::config_failed("local store", e))?,
                    ),
                    #[cfg(feature = "storage-s3")]
                    s3: None,
                }
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => {
                let client = Arc::new(config.store(&bucket)?);
                Opened {
                    store: client.clone(),
                    s3: Some(client),
                }
            }
        };
        stores.insert(bucket, opened.clone());
        Ok((opened, prefix))
    }
}

fn tenant() -> Result<TenantContext, StorageError> {
    let ctx = crate::context::require()?;
    if ctx.is_system() {
        return Err(StorageError::SystemTenant);
    }
    Ok(ctx)
}

fn backend(key: &ObjectKey, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(key.clone()),
        other => StorageError::failed(other),
    }
}
