//! [`SqliteTx`]: a transaction held across awaits.
//!
//! The connection moves onto a blocking thread for each statement and back.
//! If the transaction is dropped midway, the connection is closed instead of
//! returned, and SQLite rolls the open transaction back.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::OwnedSemaphorePermit;

use super::pool::{SqlitePool, with_tenant};
use crate::context::TenantId;
use crate::data::{DataError, Row, Value};

/// An open SQLite transaction, with the tenant bound (none for the
/// control plane's own transactions).
pub struct SqliteTx {
    pool: Arc<SqlitePool>,
    conn: Option<Connection>,
    tenant: Option<TenantId>,
    _permit: OwnedSemaphorePermit,
}

impl SqliteTx {
    pub(crate) async fn begin(
        pool: Arc<SqlitePool>,
        tenant: Option<TenantId>,
    ) -> Result<Self, DataError> {
        let (conn, permit) = pool.acquire().await?;
        let conn = match conn {
            Some(conn) => conn,
            None => pool.open_connection()?,
        };
        let mut tx = Self {
            pool,
            conn: Some(conn),
            tenant,
            _permit: permit,
        };
        // IMMEDIATE takes the write lock now, so two writers queue on the
        // busy timeout instead of deadlocking on a later lock upgrade.
        tx.blocking(|conn| {
            conn.execute_batch("BEGIN IMMEDIATE")
                .map_err(super::sqlite_error)
        })
        .await?;
        Ok(tx)
    }

    async fn blocking<R: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut Connection) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, DataError> {
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| DataError::Database("transaction already finished".into()))?;
        let tenant = self.tenant;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = with_tenant(tenant, || work(&mut conn));
            (conn, result)
        })
        .await
        .map_err(|e| DataError::Database(format!("sqlite worker: {e}").into()))?;
        self.conn = Some(conn);
        result
    }

    pub(crate) async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        let params = params.to_vec();
        self.blocking(move |conn| super::query(conn, sql, &params))
            .await
    }

    pub(crate) async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<u64, DataError> {
        let params = params.to_vec();
        self.blocking(move |conn| super::execute(conn, sql, &params))
            .await
    }

    pub(crate) async fn commit(mut self) -> Result<(), DataError> {
        self.blocking(|conn| conn.execute_batch("COMMIT").map_err(super::sqlite_error))
            .await?;
        self.release();
        Ok(())
    }

    pub(crate) async fn rollback(mut self) {
        if self
            .blocking(|conn| conn.execute_batch("ROLLBACK").map_err(super::sqlite_error))
            .await
            .is_ok()
        {
            self.release();
        }
    }

    fn release(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.is_autocommit()
        {
            self.pool.put_back(conn);
        }
    }
}
