//! [`TenantDb`] and [`Tx`]: statements that run as the current tenant.

use super::{DataError, Database, Row, Value};
use crate::context::TenantContext;

/// A database handle bound to the tenant of the context it was taken in.
///
/// Get one with [`Database::tenant`]; it has no way to name another tenant.
pub struct TenantDb<'a> {
    db: &'a Database,
    ctx: TenantContext,
}

impl<'a> TenantDb<'a> {
    pub(super) fn new(db: &'a Database, ctx: TenantContext) -> Self {
        Self { db, ctx }
    }

    /// The context this handle is scoped to.
    pub fn context(&self) -> &TenantContext {
        &self.ctx
    }

    /// Runs one query in its own tenant-scoped transaction and returns every row.
    pub async fn fetch_all(
        &self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => pg.fetch_scoped(&self.ctx, sql, params).await,
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => lite.fetch_scoped(&self.ctx, sql, params).await,
        }
    }

    /// Runs one query and returns its first row, if any.
    pub async fn fetch_optional(
        &self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Option<Row>, DataError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// Runs one statement and returns the number of rows it changed.
    pub async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => pg.execute_scoped(&self.ctx, sql, params).await,
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => lite.execute_scoped(&self.ctx, sql, params).await,
        }
    }

    /// Runs `work` in one tenant-scoped transaction: committed if it returns
    /// `Ok`, rolled back if it returns `Err` or is dropped midway.
    ///
    /// ```no_run
    /// # async fn demo(db: tenantry::data::Database) -> Result<(), tenantry::data::DataError> {
    /// use tenantry::params;
    /// let moved = db.tenant()?.transaction(async |tx| {
    ///     tx.execute("UPDATE accounts SET balance = balance - 5 WHERE name = $1", params!["a"]).await?;
    ///     tx.execute("UPDATE accounts SET balance = balance + 5 WHERE name = $1", params!["b"]).await
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&mut Tx) -> Result<T, E>,
        E: From<DataError>,
    {
        let mut tx = match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => Tx::Pg(pg.begin_scoped(&self.ctx).await?),
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => Tx::Sqlite(lite.begin_scoped(&self.ctx).await?),
        };
        match work(&mut tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                tx.rollback().await;
                Err(err)
            }
        }
    }
}

/// An open tenant-scoped transaction; see [`TenantDb::transaction`].
#[non_exhaustive]
pub enum Tx {
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Pg(super::postgres::PgTx),
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(super::sqlite::SqliteTx),
}

impl Tx {
    /// Runs a query and returns every row.
    pub async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        match self {
            #[cfg(feature = "postgres")]
            Tx::Pg(tx) => tx.fetch_all(sql, params).await,
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.fetch_all(sql, params).await,
        }
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Option<Row>, DataError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it changed.
    pub async fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        match self {
            #[cfg(feature = "postgres")]
            Tx::Pg(tx) => tx.execute(sql, params).await,
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.execute(sql, params).await,
        }
    }

    async fn commit(self) -> Result<(), DataError> {
        match self {
            #[cfg(feature = "postgres")]
            Tx::Pg(tx) => tx.commit().await,
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.commit().await,
        }
    }

    async fn rollback(self) {
        match self {
            #[cfg(feature = "postgres")]
            Tx::Pg(tx) => tx.rollback().await,
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.rollback().await,
        }
    }
}
