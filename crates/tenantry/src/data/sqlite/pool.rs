//! A small blocking-connection pool for SQLite.
//!
//! SQLite calls block, so each unit of work runs on tokio's blocking pool
//! with a connection taken from `idle`. The semaphore bounds open
//! connections; `idle` only keeps opened ones for reuse (a `Mutex` is fine:
//! it is held for a push or a pop, never across a query).

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::sqlite_error;
use crate::context::TenantId;
use crate::data::DataError;

thread_local! {
    // The tenant whose work is running on this blocking thread right now;
    // read by the `tenantry_current_tenant()` SQL function.
    static CURRENT_TENANT: Cell<Option<TenantId>> = const { Cell::new(None) };
}

pub(crate) struct SqlitePool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

/// How long a writer waits for SQLite's lock before the request gets a 503.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlitePool {
    pub(crate) fn open(path: &Path, max_connections: usize) -> Result<Self, DataError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                DataError::Unavailable(format!("cannot create {}: {e}", dir.display()).into())
            })?;
        }
        let pool = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
        };
        // Open one now so a bad path fails at start-up, not on the first request.
        let first = pool.connect()?;
        pool.put_back(first);
        Ok(pool)
    }

    fn connect(&self) -> Result<Connection, DataError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_error)?;
        conn.execute_batch(
            // secure_delete: a deleted row's bytes are overwritten, not
            // left in free pages (a deleted tenant must not linger in the file).
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA secure_delete = ON;",
        )
        .map_err(sqlite_error)?;
        conn.create_scalar_function(
            "tenantry_current_tenant",
            0,
            FunctionFlags::SQLITE_UTF8,
            |_| Ok(CURRENT_TENANT.with(Cell::get).map(|t| t.to_string())),
        )
        .map_err(sqlite_error)?;
        Ok(conn)
    }

    pub(crate) async fn acquire(
        self: &Arc<Self>,
    ) -> Result<(Option<Connection>, OwnedSemaphorePermit), DataError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DataError::Unavailable("sqlite pool closed".into()))?;
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        Ok((idle, permit))
    }

    pub(crate) fn put_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    /// Runs `work` on a pooled connection on a blocking thread, with
    /// `tenantry_current_tenant()` answering `tenant`.
    pub(crate) async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        tenant: Option<TenantId>,
        work: impl FnOnce(&mut Connection) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, DataError> {
        let (conn, permit) = self.acquire().await?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = match conn {
                Some(conn) => conn,
                None => pool.connect()?,
            };
            let result = with_tenant(tenant, || work(&mut conn));
            // A connection left inside a transaction (a bug in `work`) is not reused.
            if conn.is_autocommit() {
                pool.put_back(conn);
            }
            drop(permit);
            result
        })
        .await
        .map_err(|e| DataError::Database(format!("sqlite worker: {e}").into()))?
    }

    pub(crate) fn open_connection(&self) -> Result<Connection, DataError> {
        self.connect()
    }
}

/// Runs `work` with the SQL function bound to `tenant`, restoring after.
pub(crate) fn with_tenant<R>(tenant: Option<TenantId>, work: impl FnOnce() -> R) -> R {
    struct Restore(Option<TenantId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_TENANT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT_TENANT.with(|c| c.replace(tenant)));
    work()
}
