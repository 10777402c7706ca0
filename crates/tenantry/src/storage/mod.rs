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

mod key;
mod layout;
#[cfg(feature = "storage-s3")]
mod s3;
mod signing;
#[cfg(feature = "storage-s3")]
mod sigv4;
mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use key::ObjectKey;
pub use layout::{Layout, LayoutPolicy};
#[cfg(feature = "storage-s3")]
pub use s3::S3Config;
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

/// What a signed URL allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Download (`GET`).
    Read,
    /// Upload (`PUT`).
    Write,
}

impl Access {
    fn method(self) -> &'static str {
        match self {
            Access::Read => "GET",
            Access::Write => "PUT",
        }
    }
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
    /// The backend is misconfigured.
    #[error("storage configuration: {0}")]
    Config(String),
    /// The backend failed.
    #[error("storage: {0}")]
    Backend(String),
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

/// How many bytes each tenant may keep, decided by the app (by plan, by
/// contract); `None` for no limit.
///
/// The quota is checked before each write against the tenant's usage,
/// counted by listing its objects at most every [`USAGE_TTL`] and kept up to
/// date by this process's own writes. Writes racing each other, or from
/// other processes within that window, can overshoot it by their own size:
/// it bounds what a tenant can take, not the last byte.
#[derive(Clone)]
pub struct StorageQuota(Arc<QuotaOf>);

/// A tenant's quota in bytes, or `None` for no limit.
type QuotaOf = dyn Fn(&TenantContext) -> Option<u64> + Send + Sync;

impl StorageQuota {
    /// The quota `of` gives each tenant.
    pub fn new(of: impl Fn(&TenantContext) -> Option<u64> + Send + Sync + 'static) -> Self {
        Self(Arc::new(of))
    }
}

impl std::fmt::Debug for StorageQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageQuota(..)")
    }
}

/// How long a tenant's counted usage is trusted before it is listed again.
pub const USAGE_TTL: Duration = Duration::from_secs(30);

/// A local signed URL, verified: the object, and the body size an upload
/// URL holds the request to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedObject {
    /// The object the URL names.
    pub key: ObjectKey,
    /// For an upload URL made by [`TenantStorage::upload_url`], the exact
    /// size the body must have.
    pub size: Option<u64>,
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

    /// The bytes the current tenant's objects take (listed now).
    pub async fn usage(&self) -> Result<u64, StorageError> {
        let ctx = tenant()?;
        let used = self.list(None).await?.iter().map(|o| o.size).sum();
        self.remember_usage(ctx.tenant_id(), used);
        Ok(used)
    }

    /// The current tenant's quota, if it has one.
    pub fn quota(&self) -> Result<Option<u64>, StorageError> {
        let ctx = tenant()?;
        Ok(self.inner.quota.as_ref().and_then(|q| (q.0)(&ctx)))
    }

    fn remember_usage(&self, tenant: TenantId, used: u64) {
        let mut usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        if usage.len() >= 10_000 {
            usage.retain(|_, (_, at)| at.elapsed() < USAGE_TTL);
        }
        usage.insert(tenant, (used, Instant::now()));
    }

    /// Refuses a write of `size` bytes at `key` that the tenant's quota has
    /// no room for (what `key` holds now is replaced, so it does not count).
    ///
    /// The tenant's lifecycle work (an offboarding's export) is not
    /// charged: a tenant near its quota cannot stop its own deletion.
    async fn admit(&self, key: &ObjectKey, size: u64) -> Result<(), StorageError> {
        if tenant()?.is_lifecycle() {
            return Ok(());
        }
        let Some(quota) = self.quota()? else {
            return Ok(());
        };
        let tenant = tenant()?.tenant_id();
        let counted = {
            let usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
            usage
                .get(&tenant)
                .filter(|(_, at)| at.elapsed() < USAGE_TTL)
                .map(|(used, _)| *used)
        };
        let used = match counted {
            Some(used) => used,
            None => self.usage().await?,
        };
        if used.saturating_add(size) <= quota {
            return Ok(());
        }
        let replaced = match self.head(key).await {
            Ok(existing) => existing.size,
            Err(StorageError::NotFound(_)) => 0,
            Err(e) => return Err(e),
        };
        if used.saturating_sub(replaced).saturating_add(size) <= quota {
            Ok(())
        } else {
            Err(StorageError::QuotaExceeded {
                quota,
                used,
                wanted: size,
            })
        }
    }

    /// Counts a write of `size` bytes (replacing `replaced`) into the
    /// tenant's remembered usage, while that is fresh.
    fn count_write(&self, size: u64, replaced: u64) {
        let Ok(ctx) = tenant() else { return };
        let mut usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((used, _)) = usage.get_mut(&ctx.tenant_id()) {
            *used = used.saturating_sub(replaced).saturating_add(size);
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
        let base = Path::parse(&base).map_err(|e| StorageError::Backend(e.to_string()))?;
        let listed: Vec<_> = match store.list(Some(&base)).try_collect().await {
            Ok(listed) => listed,
            // A bucket that does not exist yet (S3 makes a dedicated one on
            // the first write) holds nothing. object_store reports it only
            // as a generic error carrying S3's code.
            Err(e) if e.to_string().contains("NoSuchBucket") => Vec::new(),
            Err(e) => return Err(StorageError::Backend(e.to_string())),
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

    /// Creates the current tenant's bucket if it has none yet: its own under
    /// [`Layout::BucketPerTenant`], the shared one otherwise (onboarding;
    /// idempotent). On S3 this is a real `CreateBucket`; locally, a
    /// directory.
    pub async fn ensure_bucket(&self) -> Result<(), StorageError> {
        let ctx = tenant()?;
        let (bucket, _) = self.inner.policy.place(&ctx);
        match &self.inner.backend {
            Backend::Local { root } => {
                let dir = root.join(&bucket);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StorageError::Backend(format!("{}: {e}", dir.display())))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => s3::bucket_call(config, &bucket, reqwest::Method::PUT).await,
        }
    }

    /// Undoes [`ensure_bucket`](Self::ensure_bucket): deletes the tenant's
    /// objects, and its bucket when it has one of its own (the shared
    /// bucket stays). Idempotent.
    pub async fn remove_bucket(&self) -> Result<usize, StorageError> {
        let ctx = tenant()?;
        let removed = self.delete_all().await?;
        if self.inner.policy.layout(&ctx) != Layout::BucketPerTenant {
            return Ok(removed);
        }
        let (bucket, _) = self.inner.policy.place(&ctx);
        self.inner
            .stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&bucket);
        match &self.inner.backend {
            Backend::Local { root } => {
                let dir = root.join(&bucket);
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => Ok(removed),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(removed),
                    Err(e) => Err(StorageError::Backend(format!("{}: {e}", dir.display()))),
                }
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => {
                s3::bucket_call(config, &bucket, reqwest::Method::DELETE).await?;
                Ok(removed)
            }
        }
    }

    /// Deletes every object the current tenant has in either layout —
    /// under the shared bucket's prefix and in a bucket of its own, since
    /// a tenant that changed plan may have used both — and removes its own
    /// bucket (offboarding; idempotent). Returns how many objects.
    pub async fn remove_everywhere(&self) -> Result<usize, StorageError> {
        let ctx = tenant()?;
        let mut removed = 0;
        for layout in [Layout::SharedPrefix, Layout::BucketPerTenant] {
            let (bucket, prefix) = self.inner.policy.place_in(&ctx, layout);
            removed += self.count_in(&bucket, &prefix).await?;
            match &self.inner.backend {
                Backend::Local { root } => {
                    let dir = root.join(&bucket).join(prefix.trim_end_matches('/'));
                    match std::fs::remove_dir_all(&dir) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(StorageError::Backend(format!("{}: {e}", dir.display())));
                        }
                    }
                }
                #[cfg(feature = "storage-s3")]
                Backend::S3(config) => {
                    let store = config.store(&bucket)?;
                    // Batched: S3 deletes up to a thousand keys per request.
                    let paths = self.paths_in(&store, &prefix).await?;
                    let stream = futures_util::StreamExt::boxed(futures_util::stream::iter(
                        paths.into_iter().map(Ok),
                    ));
                    store
                        .delete_stream(stream)
                        .try_collect::<Vec<_>>()
                        .await
                        .map_err(|e| StorageError::Backend(e.to_string()))?;
                    if layout == Layout::BucketPerTenant {
                        s3::bucket_call(config, &bucket, reqwest::Method::DELETE).await?;
                    }
                }
            }
            if layout == Layout::BucketPerTenant {
                self.inner
                    .stores
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&bucket);
            }
        }
        Ok(removed)
    }

    /// How many objects the current tenant has in either layout (a residue
    /// scan: after [`remove_everywhere`](Self::remove_everywhere), none).
    pub async fn count_everywhere(&self) -> Result<usize, StorageError> {
        let ctx = tenant()?;
        let mut found = 0;
        for layout in [Layout::SharedPrefix, Layout::BucketPerTenant] {
            let (bucket, prefix) = self.inner.policy.place_in(&ctx, layout);
            found += self.count_in(&bucket, &prefix).await?;
        }
        Ok(found)
    }

    /// Objects in `bucket` under `prefix`, without opening (or creating)
    /// anything that is not there.
    async fn count_in(&self, bucket: &str, prefix: &str) -> Result<usize, StorageError> {
        match &self.inner.backend {
            Backend::Local { root } => {
                let dir = root.join(bucket).join(prefix.trim_end_matches('/'));
                Ok(count_files(&dir))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => {
                let store = config.store(bucket)?;
                Ok(self.paths_in(&store, prefix).await?.len())
            }
        }
    }

    #[cfg(feature = "storage-s3")]
    async fn paths_in(
        &self,
        store: &dyn ObjectStore,
        prefix: &str,
    ) -> Result<Vec<Path>, StorageError> {
        let base = Path::parse(prefix.trim_end_matches('/'))
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        let base = (!prefix.is_empty()).then_some(base);
        match store.list(base.as_ref()).try_collect::<Vec<_>>().await {
            Ok(listed) => Ok(listed.into_iter().map(|m| m.location).collect()),
            Err(e) if e.to_string().contains("NoSuchBucket") => Ok(Vec::new()),
            Err(e) => Err(StorageError::Backend(e.to_string())),
        }
    }

    /// Deletes every object of the tenant (offboarding); returns how many.
    pub async fn delete_all(&self) -> Result<usize, StorageError> {
        let objects = self.list(None).await?;
        for object in &objects {
            self.delete(&object.key).await?;
        }
        Ok(objects.len())
    }

    /// A URL that lets its holder read or write `key` for `ttl`: presigned
    /// by S3, or, on the local backend, a path below the tenant's own URL
    /// space (`/files/…`) signed with [`UrlSigner`].
    pub async fn signed_url(
        &self,
        access: Access,
        key: &ObjectKey,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let ctx = tenant()?;
        match &self.inner.backend {
            Backend::Local { .. } => {
                Ok(self
                    .inner
                    .signer
                    .sign(access.method(), ctx.tenant_id(), key, ttl))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(_) => {
                let (opened, prefix) = self.open(&ctx)?;
                let path = Path::parse(format!("{prefix}{key}"))
                    .map_err(|e| StorageError::Backend(e.to_string()))?;
                let client = opened.s3.ok_or_else(|| {
                    StorageError::Config("an S3 bucket opened without its client".into())
                })?;
                s3::presign(&client, access, &path, ttl).await
            }
        }
    }

    /// A URL that lets its holder upload exactly `size` bytes to `key` for
    /// `ttl`, admitted against the tenant's quota now: on S3 the size is
    /// signed into the presigned request (S3 refuses any other body
    /// length); on the local backend it is signed into the URL and handed
    /// back by [`verify_signed`](Self::verify_signed) for the server to hold
    /// the body to.
    pub async fn upload_url(
        &self,
        key: &ObjectKey,
        size: u64,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let ctx = tenant()?;
        self.admit(key, size).await?;
        match &self.inner.backend {
            Backend::Local { .. } => {
                Ok(self
                    .inner
                    .signer
                    .sign_upload(ctx.tenant_id(), key, size, ttl))
            }
            #[cfg(feature = "storage-s3")]
            Backend::S3(config) => {
                let (bucket, prefix) = self.inner.policy.place(&ctx);
                // Make sure the bucket exists before a client writes to it.
                self.open(&ctx)?;
                let url = sigv4::Presign {
                    endpoint: config.endpoint.as_deref(),
                    region: &config.region,
                    access_key_id: &config.access_key_id,
                    secret_access_key: &config.secret_access_key,
                    bucket: &bucket,
                }
                .put_sized(
                    &format!("{prefix}{key}"),
                    size,
                    ttl,
                    std::time::SystemTime::now(),
                )?;
                // The upload bypasses this server: count it now.
                self.count_write(size, 0);
                Ok(url)
            }
        }
    }

    /// Checks a request for a local signed URL against `tenant` (what the
    /// edge resolved): the raw path and query as received.
    pub fn verify_signed(
        &self,
        method: &str,
        tenant: TenantId,
        path: &str,
        query: Option<&str>,
    ) -> Result<SignedObject, SignatureError> {
        let size = self.inner.signer.verify(method, tenant, path, query)?;
        let encoded = path
            .strip_prefix(SIGNED_PATH_PREFIX)
            .ok_or(SignatureError::Mismatch)?;
        let key = signing::decode_key(encoded).ok_or(SignatureError::Mismatch)?;
        let key = ObjectKey::parse(&key).map_err(|_| SignatureError::Mismatch)?;
        Ok(SignedObject { key, size })
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
                    .map_err(|e| StorageError::Config(format!("{}: {e}", dir.display())))?;
                Opened {
                    store: Arc::new(
                        object_store::local::LocalFileSystem::new_with_prefix(&dir)
                            .map_err(|e| StorageError::Config(e.to_string()))?,
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

#[cfg(feature = "edge")]
impl crate::edge::SignedRequests for TenantStorage {
    fn covers(&self, path: &str) -> bool {
        path.starts_with(SIGNED_PATH_PREFIX)
    }

    fn verify(&self, method: &str, tenant: TenantId, path: &str, query: Option<&str>) -> bool {
        self.verify_signed(method, tenant, path, query).is_ok()
    }
}

/// Files under `dir`, at any depth (none if it does not exist).
fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => count_files(&entry.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
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
        other => StorageError::Backend(other.to_string()),
    }
}
