//! The SQLite database tier: one file per tenant, `<dir>/<tenant id>.db`.
//!
//! Files open lazily on first use and at most `max_open` stay open (least
//! recently used closes first), so a server with thousands of database-tier
//! tenants holds only the active ones' file handles. A tenant's file must
//! have been provisioned: a missing file is an error, never silently created
//! (an empty file would turn a provisioning bug into missing data).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::pool::SqlitePool;
use crate::context::TenantId;
use crate::data::DataError;

/// Connections per tenant file: tenants on this tier are few and busy, and
/// SQLite serializes writers anyway.
const CONNECTIONS_PER_FILE: usize = 4;

pub(crate) struct TenantFiles {
    dir: PathBuf,
    max_open: usize,
    // Most recently used first. A short `Vec` beats a map at these sizes,
    // and the lock is held only for the lookup (and a file open on a miss).
    open: Mutex<Vec<(TenantId, Arc<SqlitePool>)>>,
}

impl TenantFiles {
    pub(crate) fn new(dir: &Path, max_open: usize) -> Self {
        Self {
            dir: dir.to_owned(),
            max_open: max_open.max(1),
            open: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn path(&self, tenant: TenantId) -> PathBuf {
        self.dir.join(format!("{tenant}.db"))
    }

    /// The open pool for `tenant`'s file.
    pub(crate) fn pool_for(&self, tenant: TenantId) -> Result<Arc<SqlitePool>, DataError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open.iter().position(|(id, _)| *id == tenant) {
            let entry = open.remove(i);
            let pool = entry.1.clone();
            open.insert(0, entry);
            return Ok(pool);
        }
        let path = self.path(tenant);
        if !path.exists() {
            return Err(DataError::Unavailable(
                format!("the database of tenant {tenant} is not provisioned").into(),
            ));
        }
        let pool = Arc::new(SqlitePool::open(&path, CONNECTIONS_PER_FILE)?);
        open.insert(0, (tenant, pool.clone()));
        // Dropping an evicted pool closes its idle connections; work still
        // holding it finishes first.
        open.truncate(self.max_open);
        Ok(pool)
    }

    /// Forgets `tenant`'s open pool, so the next use opens the file anew:
    /// before the file is removed (its connections would otherwise keep
    /// the removed file alive, and a file made again later would not be
    /// the one they read).
    pub(crate) fn close(&self, tenant: TenantId) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != tenant);
    }

    /// Opens (creating) `tenant`'s file, for provisioning.
    pub(crate) fn create(&self, tenant: TenantId) -> Result<Arc<SqlitePool>, DataError> {
        Ok(Arc::new(SqlitePool::open(&self.path(tenant), 1)?))
    }

    pub(crate) fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
