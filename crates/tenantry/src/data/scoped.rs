//! [`TenantDb`] and [`Tx`]: statements that run as the current tenant, on
//! the tiers its [route](crate::context::Route) names.
//!
//! Reads go to the route's read tier. Writes go to every write tier, the
//! primary first; the caller gets the primary's result. A statement is a
//! read when its first word is `SELECT`; anything else (`INSERT … RETURNING`
//! included) is a write. In a transaction on a dual-write route, a
//! transaction is open on each tier, writes run on all of them, reads on
//! the primary, and the mirrors commit before the primary — so the source
//! of truth never holds a write the mirror lacks, and a tier move's verify
//! step catches the rarer opposite.

use super::{DataError, Database, Row, Value};
use crate::context::{TenantContext, Tier};

/// A database handle bound to the tenant of the context it was taken in.
///
/// Get one with [`Database::tenant`]; it has no way to name another tenant.
pub struct TenantDb<'a> {
    db: &'a Database,
    ctx: TenantContext,
}

/// Whether `sql` only reads: its first word is `SELECT`.
fn is_read(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("select"))
}

impl<'a> TenantDb<'a> {
    pub(super) fn new(db: &'a Database, ctx: TenantContext) -> Self {
        Self { db, ctx }
    }

    /// The context this handle is scoped to.
    pub fn context(&self) -> &TenantContext {
        &self.ctx
    }

    /// The tiers `sql` runs on: the read tier for reads, every write tier
    /// (primary first) for writes.
    fn tiers_for(&self, sql: &str) -> &[Tier] {
        let writes = self.ctx.route().writes();
        if is_read(sql) { &writes[..1] } else { writes }
    }

    /// Runs one query in its own tenant-scoped transaction and returns every row.
    pub async fn fetch_all(
        &self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        let mut primary = None;
        for &tier in self.tiers_for(sql) {
            let rows = match self.db {
                #[cfg(feature = "postgres")]
                Database::Postgres(pg) => pg.fetch_scoped(&self.ctx, tier, sql, params).await?,
                #[cfg(feature = "sqlite")]
                Database::Sqlite(lite) => lite.fetch_scoped(&self.ctx, tier, sql, params).await?,
            };
            primary.get_or_insert(rows);
        }
        Ok(primary.unwrap_or_default())
    }

    /// Runs one query and returns its first row, if any.
    pub async fn fetch_optional(
        &self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Option<Row>, DataError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// Runs one query and returns its first row; none is
    /// [`DataError::NotFound`] (a 404 as a response), so a lookup by id
    /// reads the same whether the row is another tenant's or no one's.
    pub async fn fetch_one(&self, sql: &'static str, params: &[Value]) -> Result<Row, DataError> {
        self.fetch_optional(sql, params)
            .await?
            .ok_or(DataError::NotFound)
    }

    /// Runs one statement and returns the number of rows it changed.
    pub async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        let mut primary = None;
        for &tier in self.tiers_for(sql) {
            let changed = match self.db {
                #[cfg(feature = "postgres")]
                Database::Postgres(pg) => pg.execute_scoped(&self.ctx, tier, sql, params).await?,
                #[cfg(feature = "sqlite")]
                Database::Sqlite(lite) => lite.execute_scoped(&self.ctx, tier, sql, params).await?,
            };
            primary.get_or_insert(changed);
        }
        Ok(primary.unwrap_or_default())
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
        let route = self.ctx.route();
        let mut tx = Tx {
            primary: self.begin(route.reads()).await?,
            mirrors: Vec::new(),
        };
        for &tier in route.mirrors() {
            match self.begin(tier).await {
                Ok(mirror) => tx.mirrors.push(mirror),
                Err(e) => {
                    tx.rollback().await;
                    return Err(e.into());
                }
            }
        }
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

    async fn begin(&self, tier: Tier) -> Result<TierTx, DataError> {
        Ok(match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => TierTx::Pg(pg.begin_scoped(&self.ctx, tier).await?),
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => TierTx::Sqlite(lite.begin_scoped(&self.ctx, tier).await?),
        })
    }
}

/// An open tenant-scoped transaction; see [`TenantDb::transaction`].
pub struct Tx {
    primary: TierTx,
    // One per extra write tier of a dual-write route; usually none.
    mirrors: Vec<TierTx>,
}

/// A transaction on one tier.
enum TierTx {
    #[cfg(feature = "postgres")]
    Pg(super::postgres::PgTx),
    #[cfg(feature = "sqlite")]
    Sqlite(super::sqlite::SqliteTx),
}

impl Tx {
    /// The PostgreSQL connection of the tier reads come from, and that
    /// tier (for enqueueing a job in this transaction).
    #[cfg(feature = "postgres")]
    pub(crate) fn pg_client(&self) -> Option<(&tokio_postgres::Client, crate::context::Tier)> {
        match &self.primary {
            TierTx::Pg(tx) => Some((tx.client(), tx.tier())),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Runs a query and returns every row (the primary's, for a write).
    pub async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        if !is_read(sql) {
            for mirror in &mut self.mirrors {
                mirror.fetch_all(sql, params).await?;
            }
        }
        self.primary.fetch_all(sql, params).await
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Option<Row>, DataError> {
        Ok(self.fetch_all(sql, params).await?.into_iter().next())
    }

    /// Runs a statement and returns the number of rows it changed (on the primary).
    pub async fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        if !is_read(sql) {
            for mirror in &mut self.mirrors {
                mirror.execute(sql, params).await?;
            }
        }
        self.primary.execute(sql, params).await
    }

    async fn commit(self) -> Result<(), DataError> {
        let mut mirrors = self.mirrors.into_iter();
        while let Some(mirror) = mirrors.next() {
            if let Err(e) = mirror.commit().await {
                for rest in mirrors {
                    rest.rollback().await;
                }
                self.primary.rollback().await;
                return Err(e);
            }
        }
        self.primary.commit().await
    }

    async fn rollback(self) {
        for mirror in self.mirrors {
            mirror.rollback().await;
        }
        self.primary.rollback().await;
    }
}

impl TierTx {
    async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        match self {
            #[cfg(feature = "postgres")]
            TierTx::Pg(tx) => tx.fetch_all(sql, params).await,
            #[cfg(feature = "sqlite")]
            TierTx::Sqlite(tx) => tx.fetch_all(sql, params).await,
        }
    }

    async fn execute(&mut self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
        match self {
            #[cfg(feature = "postgres")]
            TierTx::Pg(tx) => tx.execute(sql, params).await,
            #[cfg(feature = "sqlite")]
            TierTx::Sqlite(tx) => tx.execute(sql, params).await,
        }
    }

    async fn commit(self) -> Result<(), DataError> {
        match self {
            #[cfg(feature = "postgres")]
            TierTx::Pg(tx) => tx.commit().await,
            #[cfg(feature = "sqlite")]
            TierTx::Sqlite(tx) => tx.commit().await,
        }
    }

    async fn rollback(self) {
        match self {
            #[cfg(feature = "postgres")]
            TierTx::Pg(tx) => tx.rollback().await,
            #[cfg(feature = "sqlite")]
            TierTx::Sqlite(tx) => tx.rollback().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_read;

    #[test]
    fn only_select_is_a_read() {
        assert!(is_read("SELECT 1"));
        assert!(is_read("\n   select id FROM orders"));
        assert!(!is_read("INSERT INTO t VALUES (1) RETURNING id"));
        assert!(!is_read(
            "WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x"
        ));
        assert!(!is_read("UPDATE t SET a = 1"));
        assert!(!is_read("SEL"));
    }
}
