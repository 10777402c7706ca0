//! A tenant's data as one archive (data portability, and the first step of
//! offboarding): every tenant table as JSON Lines (`tables/<table>.jsonl`)
//! and every object (`objects/<key>`), written as a tar file into the
//! tenant's own storage under `exports/`, with a signed download URL.
//!
//! The archive is built in memory: a tenant of this app's size (100k rows,
//! a thousand attachments) fits comfortably; a larger one would stream it
//! through a multipart upload instead.

use std::time::Duration;

use anyhow::Context;
use tenantry::storage::{Access, ObjectKey};

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
pub(crate) async fn export(services: &Services, name: &str) -> anyhow::Result<Export> {
    let key = ObjectKey::parse(&format!("{EXPORTS}/{name}.tar"))?;
    let mut archive = tar::Builder::new(Vec::new());
    let mut rows = Vec::new();
    for table in crate::tenant_rows::TABLES {
        let lines = table
            .json_lines(&services.db)
            .await
            .with_context(|| format!("reading {}", table.name))?;
        let mut body = Vec::new();
        for line in &lines {
            body.extend_from_slice(line.as_bytes());
            body.push(b'\n');
        }
        append(&mut archive, &format!("tables/{}.jsonl", table.name), &body)?;
        rows.push((table.name, lines.len()));
    }
    let mut objects = 0;
    for object in services.storage.list(None).await? {
        if object.key.as_str().starts_with(&format!("{EXPORTS}/")) {
            continue;
        }
        let bytes = services.storage.get(&object.key).await?;
        append(&mut archive, &format!("objects/{}", object.key), &bytes)?;
        objects += 1;
    }
    let bytes = archive.into_inner().context("finishing the archive")?;
    let size = bytes.len() as u64;
    services.storage.put(&key, bytes.into()).await?;
    Ok(Export {
        key,
        bytes: size,
        rows,
        objects,
    })
}

/// A URL that downloads `key` for `ttl` (on the local backend, a path
/// below the tenant's own host).
pub(crate) async fn download_url(
    services: &Services,
    key: &ObjectKey,
    ttl: Duration,
) -> anyhow::Result<String> {
    Ok(services.storage.signed_url(Access::Read, key, ttl).await?)
}

/// Deletes the export `name` (an offboarding that was cancelled).
pub(crate) async fn remove(services: &Services, name: &str) -> anyhow::Result<()> {
    let key = ObjectKey::parse(&format!("{EXPORTS}/{name}.tar"))?;
    match services.storage.delete(&key).await {
        Ok(()) | Err(tenantry::storage::StorageError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn append(archive: &mut tar::Builder<Vec<u8>>, path: &str, body: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, path, body)
        .with_context(|| format!("archiving {path}"))
}
