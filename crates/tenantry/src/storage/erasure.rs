//! A tenant's buckets made and removed, and its objects erased and
//! counted wherever they may be (every bucket a layout may have put them
//! in): what onboarding, offboarding and the residue scan use.

#[cfg(feature = "storage-s3")]
use futures_util::TryStreamExt;
#[cfg(feature = "storage-s3")]
use object_store::{ObjectStore, path::Path};

#[cfg(feature = "storage-s3")]
use super::s3;
use super::{Backend, Layout, StorageError, TenantStorage, tenant};

impl TenantStorage {
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
                std::fs::create_dir_all(&dir).map_err(|e| StorageError::failed_at(dir.display(), e))
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
                    Err(e) => Err(StorageError::failed_at(dir.display(), e)),
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
                            return Err(StorageError::failed_at(dir.display(), e));
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
                        .map_err(StorageError::failed)?;
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
        let base = Path::parse(prefix.trim_end_matches('/')).map_err(StorageError::failed)?;
        let base = (!prefix.is_empty()).then_some(base);
        match store.list(base.as_ref()).try_collect::<Vec<_>>().await {
            Ok(listed) => Ok(listed.into_iter().map(|m| m.location).collect()),
            Err(e) if e.to_string().contains("NoSuchBucket") => Ok(Vec::new()),
            Err(e) => Err(StorageError::failed(e)),
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
