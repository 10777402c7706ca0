//! SQLite backend, the embedded default: one file for all shared-tier
//! tenants and, for the database tier, one file per tenant.
//!
//! SQLite has no row-level security, so scoping is the data layer's job:
//! every connection gets a `tenantry_current_tenant()` SQL function that
//! returns the tenant of the context the statement runs in (NULL outside
//! one, which matches no row). Repositories filter on it; and the migration
//! runner gives every table with a `tenant_id` column triggers that refuse
//! inserting, updating or deleting another tenant's rows.

mod control_schema;
mod migrate;
mod pool;
mod tenant_files;
mod tx;

use std::path::Path;
use std::sync::Arc;

pub use control_schema::CONTROL_MIGRATIONS;
pub use migrate::apply as apply_migrations;
pub use tx::SqliteTx;

use pool::SqlitePool;
use tenant_files::TenantFiles;

use crate::context::{TenantContext, Tier};
use crate::data::row::RowRepr;
use crate::data::{DataError, DbFailure, Ran, Row, Value, Want};

/// A SQLite database file (the shared tier, or the control plane).
#[derive(Clone)]
pub struct SqliteDatabase {
    pool: Arc<SqlitePool>,
    // The database tier's per-tenant files, when this database serves it.
    tenant_files: Option<Arc<TenantFiles>>,
    // Which tenants this process must not touch (see `crate::fence`).
    pub(crate) fence: crate::data::fence::TenantFence,
}

impl SqliteDatabase {
    /// Opens (creating if needed) the file at `path`, with up to
    /// `max_connections` connections in WAL mode.
    pub fn open(path: &Path, max_connections: usize) -> Result<Self, DataError> {
        let pool = SqlitePool::open(path, max_connections)?;
        Ok(Self {
            pool: Arc::new(pool),
            tenant_files: None,
            fence: crate::data::fence::TenantFence::default(),
        })
    }

    /// Also serves database-tier tenants, each from `dir/<tenant id>.db`,
    /// keeping at most `max_open` of those files open.
    pub fn with_tenant_files(mut self, dir: &Path, max_open: usize) -> Self {
        self.tenant_files = Some(Arc::new(TenantFiles::new(dir, max_open)));
        self
    }

    /// Creates (or opens) `tenant`'s own file and applies `set` to it; returns
    /// how many migrations ran. Idempotent.
    pub async fn provision_tenant_file(
        &self,
        tenant: crate::context::TenantId,
        set: &'static [crate::data::Migration],
    ) -> Result<usize, crate::data::MigrationError> {
        let files = self
            .tenant_files
            .as_ref()
            .ok_or(crate::data::MigrationError::Connection(
                DataError::TierUnavailable(Tier::Database),
            ))?;
        let pool = files
            .create(tenant)
            .map_err(crate::data::MigrationError::Connection)?;
        let file = SqliteDatabase {
            pool,
            tenant_files: None,
            fence: crate::data::fence::TenantFence::default(),
        };
        apply_migrations(&file, &format!("tenant {tenant}"), set).await
    }

    /// Closes `tenant`'s own file (database tier) in this process, before
    /// it is removed: later use opens whatever file is there then.
    pub fn close_tenant_file(&self, tenant: crate::context::TenantId) {
        if let Some(files) = &self.tenant_files {
            files.close(tenant);
        }
    }

    /// Where `tenant`'s own file lives (database tier), if this database serves that tier.
    pub fn tenant_file_path(&self, tenant: crate::context::TenantId) -> Option<std::path::PathBuf> {
        self.tenant_files.as_ref().map(|f| f.path(tenant))
    }

    /// How many tenant files are open now (bounded by `max_open`).
    pub fn open_tenant_files(&self) -> usize {
        self.tenant_files.as_ref().map_or(0, |f| f.open_count())
    }

    /// The pool that holds `ctx`'s rows on `tier`: the shared file, or the tenant's own.
    fn target(&self, ctx: &TenantContext, tier: Tier) -> Result<Arc<SqlitePool>, DataError> {
        match tier {
            Tier::Shared => Ok(self.pool.clone()),
            Tier::Database => match &self.tenant_files {
                Some(files) => files.pool_for(ctx.tenant_id()),
                None => Err(DataError::TierUnavailable(tier)),
            },
            Tier::Schema => Err(DataError::TierUnavailable(tier)),
        }
    }

    /// One statement as `ctx`'s tenant. A write under an armed fence runs
    /// in its own `BEGIN IMMEDIATE` transaction with the fence checked
    /// again inside it: the file's write lock is held from the check to
    /// the commit, so a process paused in between still holds off every
    /// other writer (a purge included) until it has committed.
    pub(crate) async fn run_scoped(
        &self,
        ctx: &TenantContext,
        tier: Tier,
        (sql, params): (&'static str, &[Value]),
        want: Want,
        write_fence: Option<crate::data::fence::FenceGuard>,
    ) -> Result<Ran, DataError> {
        let pool = self.target(ctx, tier)?;
        let params = params.to_vec();
        pool.run(Some(ctx.tenant_id()), move |conn| {
            fenced(conn, write_fence, |conn| run(conn, sql, &params, want))
        })
        .await
    }

    pub(crate) async fn begin_scoped(
        &self,
        ctx: &TenantContext,
        tier: Tier,
    ) -> Result<SqliteTx, DataError> {
        SqliteTx::begin(self.target(ctx, tier)?, Some(ctx.tenant_id())).await
    }

    /// Runs `work` on a connection outside any tenant (the library's own
    /// control-plane stores, which scope their queries themselves).
    pub(crate) async fn run_unscoped<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, DataError> {
        self.pool.run(None, work).await
    }

    /// Opens a transaction outside any tenant (the control plane's own).
    pub(crate) async fn begin_unscoped(&self) -> Result<SqliteTx, DataError> {
        SqliteTx::begin(self.pool.clone(), None).await
    }

    /// Runs `work` on a raw connection that sees every tenant's rows: the
    /// cross-tenant door, so only for the system tenant (inside
    /// [`run_as_system`](crate::context::run_as_system)); anyone else gets
    /// [`DataError::SystemOnly`]. SQLite has no row-level security, so
    /// this is the check that stands in for it.
    pub async fn run_as_system<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, DataError> {
        if !crate::context::current_tenant_id()?.is_system() {
            return Err(DataError::SystemOnly);
        }
        self.pool.run(None, work).await
    }

    /// Copies the write-ahead log into the file and truncates the log to
    /// nothing, so page images of deleted rows do not outlive the deletion
    /// there. Readers still on an old snapshot hold the log: this retries
    /// for a few seconds, then reports them as [`DataError::Timeout`].
    pub async fn truncate_wal(&self) -> Result<(), DataError> {
        for _ in 0..100 {
            let busy = self
                .pool
                .run(None, |conn| {
                    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map_err(sqlite_error)
                })
                .await?;
            if busy == 0 {
                return Ok(());
            }
            // Readers finish in milliseconds; poll until they have.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err(DataError::Timeout(
            "the write-ahead log stayed in use by readers".into(),
        ))
    }

    /// Whether a connection answers (readiness checks); reads no rows.
    pub async fn ping(&self) -> Result<(), DataError> {
        self.pool
            .run(None, |conn| {
                conn.query_row("SELECT 1", [], |_| Ok(())).map_err(|e| {
                    DataError::Unavailable(DbFailure::new(e.to_string()).with_source(e))
                })
            })
            .await
    }
}

/// Runs `work`, inside its own write transaction with the fence checked
/// under the write lock when `fence` enforces (see
/// [`SqliteDatabase::run_scoped`]); as a plain statement otherwise.
fn fenced<R>(
    conn: &mut rusqlite::Connection,
    fence: Option<crate::data::fence::FenceGuard>,
    work: impl FnOnce(&rusqlite::Connection) -> Result<R, DataError>,
) -> Result<R, DataError> {
    let Some(fence) = fence.filter(crate::data::fence::FenceGuard::is_fencing) else {
        return work(conn);
    };
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    fence.recheck()?;
    let out = work(&tx)?;
    tx.commit().map_err(sqlite_error)?;
    drop(fence);
    Ok(out)
}

fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<(), DataError> {
    for (i, value) in params.iter().enumerate() {
        let name = format!("${}", i + 1);
        // A parameter the SQL does not mention is a caller bug worth reporting.
        let index = stmt
            .parameter_index(&name)
            .map_err(sqlite_error)?
            .ok_or_else(|| {
                DataError::Database(format!("statement has no parameter {name}").into())
            })?;
        stmt.raw_bind_parameter(index, value)
            .map_err(sqlite_error)?;
    }
    Ok(())
}

/// Runs `sql` for what `want`s.
pub(crate) fn run(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
    want: Want,
) -> Result<Ran, DataError> {
    match want {
        Want::Rows => query(conn, sql, params).map(Ran::Rows),
        Want::Count => execute(conn, sql, params).map(Ran::Count),
    }
}

pub(crate) fn query(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Row>, DataError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    bind(&mut stmt, params)?;
    let columns = stmt.column_count();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let values = (0..columns)
            .map(|i| row.get_ref(i).map(to_value))
            .collect::<Result<Vec<_>, _>>();
        out.push(Row(RowRepr::Values(values.map_err(sqlite_error)?)));
    }
    Ok(out)
}

pub(crate) fn execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<u64, DataError> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_error)?;
    bind(&mut stmt, params)?;
    let changed = stmt.raw_execute().map_err(sqlite_error)?;
    Ok(changed as u64)
}

fn to_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Lite};
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(Lite::Null),
            Value::Bool(b) => ToSqlOutput::Owned(Lite::Integer(i64::from(*b))),
            Value::Int(i) => ToSqlOutput::Owned(Lite::Integer(*i)),
            Value::Float(f) => ToSqlOutput::Owned(Lite::Real(*f)),
            Value::Text(s) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Text(s.as_bytes())),
            Value::Uuid(u) => ToSqlOutput::Owned(Lite::Text(u.hyphenated().to_string())),
            Value::Timestamp(t) => {
                ToSqlOutput::Owned(Lite::Integer(crate::data::value::micros_since_epoch(*t)))
            }
            Value::Blob(b) => ToSqlOutput::Borrowed(rusqlite::types::ValueRef::Blob(b)),
        })
    }
}

fn sqlstate_of_constraint(extended_code: std::ffi::c_int) -> Option<&'static str> {
    use rusqlite::ffi;
    match extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Some("23505"),
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some("23503"),
        ffi::SQLITE_CONSTRAINT_CHECK => Some("23514"),
        ffi::SQLITE_CONSTRAINT_NOTNULL => Some("23502"),
        _ => None,
    }
}

pub(crate) fn sqlite_error(e: rusqlite::Error) -> DataError {
    use rusqlite::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == ErrorCode::ConstraintViolation => {
            let text = msg.clone().unwrap_or_else(|| e.to_string());
            let mut failure = DbFailure::new(text);
            // PostgreSQL's SQLSTATE for the same kind, so callers classify
            // constraint violations the same on both backends.
            if let Some(code) = sqlstate_of_constraint(f.extended_code) {
                failure = failure.with_sqlstate(code);
            }
            DataError::Constraint(failure.with_source(e))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            DataError::Unavailable(DbFailure::new(e.to_string()).with_source(e))
        }
        _ => DataError::Database(DbFailure::new(e.to_string()).with_source(e)),
    }
}
