//! A tenant's data as one archive (data portability, and the first step of
//! offboarding): every tenant table as JSON Lines (`tables/<table>.jsonl`)
//! and every object (`objects/<key>`), written as a tar file into the
//! tenant's own storage under `exports/`, with a signed download URL.
//!
//! Nothing is held whole in memory, whatever the tenant's size: rows are
//! read a page at a time into a spool file per table, objects one at a
//! time, the archive is built in a temporary file and uploaded in parts.
//! An offboarding's export is the lifecycle's work, not the tenant's: it
//! is not charged to the tenant's storage quota (a tenant near its quota
//! cannot stop its own deletion).

use std::time::Duration;

use crate::error::{Doing as _, ServerError};
use tenantry::storage::{Access, ObjectKey};
use tokio::io::AsyncWriteExt;

use crate::services::Services;

/// Where exports live in a tenant's storage (never exported themselves).
const EXPORTS: &str = "exports";

/// The signed-URL path of exports on the local backend, which a suspended
/// tenant may still read (the edge lets these through).
pub(crate) const SIGNED_PATH: &str = "/files/exports/";

/// What an export wrote.
#[derive(Debug, Clone)]
pub(crate) struct Export {
    /// The archive's key in the tenant's storage.
    pub(crate) key: ObjectKey,
    /// Its size in bytes.
    pub(crate) bytes: u64,
    /// Rows per table.
    pub(crate) rows: Vec<(&'static str, usize)>,
    /// Objects archived.
    pub(crate) objects: usize,
}

/// Writes the current tenant's archive as `exports/<name>.tar`
/// (replacing one of that name).
pub(crate) async fn export(services: &Services, name: &str) -> Result<Export, ServerError> {
    let key = ObjectKey::parse(&format!("{EXPORTS}/{name}.tar"))?;
    let spool = Spool::new()?;
    let archive_path = spool.path("archive.tar");
    let mut archive = tar::Builder::new(std::fs::File::create(&archive_path)?);
    let mut rows = Vec::new();
    for table in crate::tenant_rows::TABLES {
        let lines = spool.path(&format!("{}.jsonl", table.name));
        let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(&lines).await?);
        let count = table
            .write_json_lines(&services.db, &mut out)
            .await
            .map_err(ServerError::other)
            .doing(|| format!("reading {}", table.name))?;
        out.flush().await?;
        drop(out);
        let entry = format!("tables/{}.jsonl", table.name);
        archive = blocking(move || {
            archive.append_path_with_name(&lines, &entry)?;
            std::fs::remove_file(&lines)?;
            Ok(archive)
        })
        .await
        .doing(|| format!("archiving {}", table.name))?;
        rows.push((table.name, count));
    }
    let mut objects = 0;
    for object in services.storage.list(None).await? {
        if object.key.as_str().starts_with(&format!("{EXPORTS}/")) {
            continue;
        }
        let bytes = services.storage.get(&object.key).await?;
        let entry = format!("objects/{}", object.key);
        archive = blocking(move || {
            append(&mut archive, &entry, &bytes)?;
            Ok(archive)
        })
        .await?;
        objects += 1;
    }
    blocking(move || Ok(archive.into_inner()?.sync_all()?))
        .await
        .doing(|| "finishing the archive")?;
    let size = tokio::fs::metadata(&archive_path).await?.len();
    services.storage.put_file(&key, &archive_path).await?;
    Ok(Export {
        key,
        bytes: size,
        rows,
        objects,
    })
}

/// A directory of its own for an export's temporary files, removed (with
/// them) when dropped.
struct Spool(std::path::PathBuf);

impl Spool {
    fn new() -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("tenantry-export-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ServerError::other)?
}

/// A URL that downloads `key` for `ttl` (on the local backend, a path
/// below the tenant's own host).
pub(crate) async fn download_url(
    services: &Services,
    key: &ObjectKey,
    ttl: Duration,
) -> Result<String, ServerError> {
    Ok(services.storage.signed_url(Access::Read, key, ttl).await?)
}

/// Deletes the export `name` (an offboarding that was cancelled).
pub(crate) async fn remove(services: &Services, name: &str) -> Result<(), ServerError> {
    let key = ObjectKey::parse(&format!("{EXPORTS}/{name}.tar"))?;
    match services.storage.delete(&key).await {
        Ok(()) | Err(tenantry::storage::StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn append(
    archive: &mut tar::Builder<std::fs::File>,
    path: &str,
    body: &[u8],
) -> Result<(), ServerError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, path, body)
        .doing(|| format!("archiving {path}"))
}
