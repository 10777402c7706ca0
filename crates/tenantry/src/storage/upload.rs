//! [`TenantStorage::put_file`]: a local file into the tenant's storage,
//! streamed in parts, so an object of any size passes through a fixed
//! amount of memory.

use object_store::{ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{ObjectInfo, ObjectKey, StorageError, TenantStorage, backend};

/// Bytes read from the file at a time (a part is 5 MiB, S3's smallest).
const READ: usize = 1 << 20;
/// Parts in flight to the backend at once.
const PARTS_IN_FLIGHT: usize = 4;

impl TenantStorage {
    /// Stores the file at `file` under `key`, replacing what was there,
    /// uploaded in parts (S3 multipart; the local backend writes a
    /// temporary file and renames it). Held to the tenant's quota like
    /// [`put`](Self::put), except for the tenant's lifecycle work.
    pub async fn put_file(
        &self,
        key: &ObjectKey,
        file: &std::path::Path,
    ) -> Result<ObjectInfo, StorageError> {
        let io = |e: std::io::Error| StorageError::failed_at(file.display(), e);
        let mut source = tokio::fs::File::open(file).await.map_err(io)?;
        let size = source.metadata().await.map_err(io)?.len();
        self.admit(key, size).await?;
        let (store, path) = self.locate(key)?;
        let upload = store
            .put_multipart(&path)
            .await
            .map_err(|e| backend(key, e))?;
        let mut parts = WriteMultipart::new(upload);
        let mut buffer = vec![0; READ];
        loop {
            let read = match source.read(&mut buffer).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) => {
                    let _ = parts.abort().await;
                    return Err(io(e));
                }
            };
            parts
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(|e| backend(key, e))?;
            parts.write(&buffer[..read]);
        }
        parts.finish().await.map_err(|e| backend(key, e))?;
        self.stored(&*store, &path, key, size).await
    }
}
