//! The control plane's connection: one SQL text for PostgreSQL and SQLite.
//!
//! The library's own stores — the registry, settings, secrets, deletion
//! records, the warm pool, workflows, tier moves, the job queue — keep the
//! deployment's bookkeeping, not tenants' rows. Like the tenant plane they
//! are written once: each sends one statement text with `$1, $2, …`
//! placeholders and [`Value`] parameters through a [`ControlDb`], and reads
//! [`Row`]s by column index. The few genuine differences between the
//! backends are rewritten by [`dialect`] (PostgreSQL's spelling is the
//! one written); times are read as [`UnixMillis`].
//!
//! A [`ControlTx`] keeps several statements atomic on both backends (a
//! PostgreSQL transaction on one connection; a SQLite `BEGIN IMMEDIATE`
//! that holds the file's write lock from the first statement).
//!
//! ```no_run
//! # async fn demo(control: tenantry::data::control::ControlDb) -> Result<(), tenantry::data::DataError> {
//! use tenantry::params;
//! let ready = control
//!     .fetch_one("SELECT count(*) FROM tenantry.warm_targets WHERE tier = $1", params!["schema"])
//!     .await?
//!     .get::<i64>(0)?;
//! # Ok(()) }
//! ```

pub mod dialect;
mod time;

pub use time::UnixMillis;

#[cfg(feature = "postgres")]
use super::postgres::{ControlTransaction, PgDatabase, db_error};
#[cfg(feature = "postgres")]
use super::row::RowRepr;
#[cfg(feature = "sqlite")]
use super::sqlite::{SqliteDatabase, SqliteTx};
use super::{DataError, Database, Ran, Row, Value, Want};

/// A control-plane database (see the [module docs](self)). Cheap to
/// clone; clones share the pool.
#[derive(Clone)]
pub struct ControlDb {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "postgres")]
    Postgres(PgDatabase),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteDatabase),
}

#[cfg(feature = "postgres")]
impl From<PgDatabase> for ControlDb {
    /// The `tenantry` schema of the database `db` connects to.
    fn from(db: PgDatabase) -> Self {
        Self {
            backend: Backend::Postgres(db),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<SqliteDatabase> for ControlDb {
    /// The control file `db` opened.
    fn from(db: SqliteDatabase) -> Self {
        Self {
            backend: Backend::Sqlite(db),
        }
    }
}

impl From<Database> for ControlDb {
    fn from(db: Database) -> Self {
        match db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => pg.into(),
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => lite.into(),
        }
    }
}

#[cfg(feature = "sqlite")]
fn control_params(params: &[Value]) -> Vec<Value> {
    params.iter().map(time::for_control_file).collect()
}

#[cfg(feature = "postgres")]
fn pg_rows(rows: Vec<tokio_postgres::Row>) -> Vec<Row> {
    rows.into_iter().map(|r| Row(RowRepr::Pg(r))).collect()
}

impl ControlDb {
    super::ran::statement_methods!("on the control database");

    async fn run(&self, sql: &'static str, params: &[Value], want: Want) -> Result<Ran, DataError> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => {
                let args = super::postgres::as_sql_params(params);
                let client = pg.client().await?;
                match want {
                    Want::Rows => client
                        .query(sql, &args)
                        .await
                        .map(|r| Ran::Rows(pg_rows(r))),
                    Want::Count => client.execute(sql, &args).await.map(Ran::Count),
                }
                .map_err(db_error)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(lite) => {
                let (sql, params) = (dialect::for_sqlite(sql), control_params(params));
                lite.run_unscoped(move |conn| super::sqlite::run(conn, sql, &params, want))
                    .await
            }
        }
    }

    /// Opens a transaction: its statements commit together or not at all.
    pub async fn begin(&self) -> Result<ControlTx, DataError> {
        let tx = match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => {
                TxBackend::Postgres(pg.client().await?.begin().await.map_err(db_error)?)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(lite) => TxBackend::Sqlite(lite.begin_unscoped().await?),
        };
        Ok(ControlTx { tx })
    }

    /// Makes sure the pages of rows deleted so far are gone from the
    /// backend's own files: on SQLite the write-ahead log is checkpointed
    /// and truncated (a deleted tenant must not linger there); PostgreSQL
    /// keeps no such copy outside its tables and needs nothing.
    pub async fn drop_freed_pages(&self) -> Result<(), DataError> {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(()),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(lite) => lite.truncate_wal().await,
        }
    }

    /// The backend's name (`postgres` or `sqlite`).
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// The PostgreSQL database, for the few control-plane parts that only
    /// PostgreSQL has (`LISTEN/NOTIFY`).
    #[cfg(feature = "postgres")]
    pub fn as_postgres(&self) -> Option<&PgDatabase> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => None,
        }
    }
}

/// An open control-plane transaction (see [`ControlDb::begin`]). Dropped
/// without [`commit`](Self::commit), it rolls back.
pub struct ControlTx {
    tx: TxBackend,
}

enum TxBackend {
    #[cfg(feature = "postgres")]
    Postgres(ControlTransaction),
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteTx),
}

impl ControlTx {
    /// Runs `sql` inside the transaction, returning its rows.
    pub async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        match &mut self.tx {
            #[cfg(feature = "postgres")]
            TxBackend::Postgres(tx) => {
                let args = super::postgres::as_sql_params(params);
                Ok(pg_rows(tx.query(sql, &args).await.map_err(db_error)?))
            }
            #[cfg(feature = "sqlite")]
            TxBackend::Sqlite(tx) => {
                tx.fetch_all(dialect::for_sqlite(sql), &control_params(params))
                    .await
            }
        }
    }

    /// Runs `sql` inside the transaction, returning its first row if any.
    pub async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Option<Row>, DataError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// Runs `sql` inside the transaction, returning how many rows it changed.
    pub async fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        match &mut self.tx {
            #[cfg(feature = "postgres")]
            TxBackend::Postgres(tx) => {
                let args = super::postgres::as_sql_params(params);
                tx.execute(sql, &args).await.map_err(db_error)
            }
            #[cfg(feature = "sqlite")]
            TxBackend::Sqlite(tx) => {
                tx.execute(dialect::for_sqlite(sql), &control_params(params))
                    .await
            }
        }
    }

    /// Commits every statement of the transaction.
    pub async fn commit(self) -> Result<(), DataError> {
        match self.tx {
            #[cfg(feature = "postgres")]
            TxBackend::Postgres(tx) => tx.commit().await.map_err(db_error),
            #[cfg(feature = "sqlite")]
            TxBackend::Sqlite(tx) => tx.commit().await,
        }
    }

    /// Rolls the transaction back.
    pub async fn rollback(self) {
        match self.tx {
            #[cfg(feature = "postgres")]
            TxBackend::Postgres(tx) => tx.rollback().await,
            #[cfg(feature = "sqlite")]
            TxBackend::Sqlite(tx) => tx.rollback().await,
        }
    }
}
