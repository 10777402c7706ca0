//! Control-plane connections: registry, settings, secrets, the job queue.
//!
//! [`ControlClient`] offers the statement calls the control plane makes and
//! nothing that would leave a prepared statement behind: with
//! [`Statements::Unnamed`] each call runs in a transaction of its own (see
//! [`Statements`](super::Statements)). It does not hand out the driver's
//! client, so no call can slip past that rule.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Error, Row, SimpleQueryMessage};

use super::budget::{BudgetedPool, PooledClient, announce_return};
use super::statements::Statements;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A connection for control-plane work (not tenant-scoped); back to its
/// pool when dropped.
pub struct ControlClient {
    pool: BudgetedPool,
    // Present until drop.
    client: Option<PooledClient>,
    statements: Statements,
    // Set while a transaction this guard opened is not known to be over:
    // a caller dropped midway (a timeout) leaves the connection inside it,
    // so it is closed rather than handed to the next caller.
    in_transaction: AtomicBool,
}

impl ControlClient {
    pub(crate) fn new(pool: BudgetedPool, client: PooledClient, statements: Statements) -> Self {
        Self {
            pool,
            client: Some(client),
            statements,
            in_transaction: AtomicBool::new(false),
        }
    }

    fn raw(&self) -> &tokio_postgres::Client {
        self.client.as_ref().expect("present until drop")
    }

    /// Runs `sql`, returning its rows.
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        self.run(self.raw().query(sql, params)).await
    }

    /// Runs `sql`, which must return exactly one row.
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, Error> {
        self.run(self.raw().query_one(sql, params)).await
    }

    /// Runs `sql`, which must return at most one row.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, Error> {
        self.run(self.raw().query_opt(sql, params)).await
    }

    /// Runs `sql`, returning how many rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        self.run(self.raw().execute(sql, params)).await
    }

    /// Runs one or more statements without parameters (simple protocol: no
    /// prepared statement, safe behind any pooler).
    pub async fn simple_query(&self, sql: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.raw().simple_query(sql).await
    }

    /// Opens a transaction. Statements inside it are prepared and closed
    /// within it, which a transaction-mode pooler keeps on one server
    /// connection.
    pub async fn transaction(&mut self) -> Result<tokio_postgres::Transaction<'_>, Error> {
        let client: &mut tokio_postgres::Client = self.client.as_mut().expect("present until drop");
        client.transaction().await
    }

    /// Opens a transaction that owns this connection: every statement of
    /// it runs on the one server connection until [`ControlTransaction::commit`].
    /// Dropped before that, the connection is closed, which rolls it back.
    pub async fn begin(self) -> Result<ControlTransaction, Error> {
        self.in_transaction.store(true, Ordering::SeqCst);
        self.raw().batch_execute("BEGIN").await?;
        Ok(ControlTransaction { client: self })
    }

    /// `work` (a statement on this connection), in a transaction of its
    /// own when statements must not outlive one.
    async fn run<T>(&self, work: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        if self.statements == Statements::Prepared {
            return work.await;
        }
        self.in_transaction.store(true, Ordering::SeqCst);
        self.raw().batch_execute("BEGIN").await?;
        // `work` is lazy: its Parse goes out only now, inside the
        // transaction, and the driver closes the statement before returning.
        let result = work.await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = self.raw().batch_execute(end).await;
        if ended.is_ok() {
            self.in_transaction.store(false, Ordering::SeqCst);
        }
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// A control-plane transaction that owns its connection (see
/// [`ControlClient::begin`]).
pub struct ControlTransaction {
    client: ControlClient,
}

impl ControlTransaction {
    /// Runs `sql` inside the transaction, returning its rows.
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Error> {
        self.client.raw().query(sql, params).await
    }

    /// Runs `sql` inside the transaction, returning how many rows it changed.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, Error> {
        self.client.raw().execute(sql, params).await
    }

    /// Commits; the connection goes back to its pool.
    pub async fn commit(self) -> Result<(), Error> {
        self.client.raw().batch_execute("COMMIT").await?;
        self.client.in_transaction.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Rolls back; the connection goes back to its pool (or is closed, if
    /// the rollback itself failed).
    pub async fn rollback(self) {
        if self.client.raw().batch_execute("ROLLBACK").await.is_ok() {
            self.client.in_transaction.store(false, Ordering::SeqCst);
        }
    }
}

/// What control-plane code shared by a [`ControlClient`] and a transaction
/// on one needs of either.
#[cfg_attr(not(feature = "jobs"), allow(dead_code))]
pub(crate) trait Queries: Sync {
    /// Runs `sql`, returning its rows.
    fn rows(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;
}

// The same forwarding for each client kind a queue statement may run on.
macro_rules! forward_queries {
    ($($client:ty),+) => {$(
        impl Queries for $client {
            fn rows(
                &self,
                sql: &str,
                params: Params<'_>,
            ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send {
                self.query(sql, params)
            }
        }
    )+};
}

forward_queries!(
    ControlClient,
    tokio_postgres::Transaction<'_>,
    tokio_postgres::Client
);

impl Drop for ControlClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if self.in_transaction.load(Ordering::SeqCst) {
                // Closing the socket rolls the transaction back.
                drop(PooledClient::take(client));
            } else {
                drop(client);
            }
        }
        announce_return(&self.pool);
    }
}
