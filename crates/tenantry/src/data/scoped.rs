//! [`TenantDb`] and [`Tx`]: statements that run as the current tenant, on
//! the tiers its [route](crate::context::Route) names.
//!
//! Reads go to the route's read tier. Writes go to every write tier; the
//! caller gets the primary's result. A statement is a read when its first
//! word is `SELECT`; anything else (`INSERT … RETURNING` included) is a
//! write.
//!
//! On a dual-write route (a tier move) every write runs in a transaction
//! on each tier — a single statement too — the primary's statement first,
//! then the mirror's, and the mirror commits before the primary. Locks are
//! therefore always taken source first, as the move's copy takes them, so
//! a write and the copy of the row it touches never cross; and a write the
//! caller sees succeed is on both tiers. While the mirror is still being
//! filled ([`Route::filling_mirror`](crate::context::Route::filling_mirror))
//! a statement it refuses (an invoice whose order is not copied yet) drops
//! the mirror from that transaction instead of failing the write: the
//! move's catch-up copies what it missed.

use super::{DataError, Database, Ran, Row, Value, Want};
use crate::context::{TenantContext, Tier};
use crate::data::fence::FenceGuard;

/// A database handle bound to the tenant of the context it was taken in.
///
/// Get one with [`Database::tenant`]; it has no way to name another tenant.
pub struct TenantDb<'a> {
    db: &'a Database,
    ctx: TenantContext,
    // Takes the tenant's connection slots (not a tier move's own copy).
    charged: bool,
}

/// Taken shared by every dual-write transaction on PostgreSQL, on its
/// primary, at its start: a tier move's catch-up takes it exclusively
/// ([`PAUSE_DUAL_WRITES`]) to compare the two tiers with no write in
/// flight between them (a row committed on the mirror but not yet on the
/// primary would look like one the source deleted).
///
/// With a lock timeout for the rest of the transaction: a writer waits for
/// a catch-up's chunk (or a row the copy holds) at most 5 s, then fails
/// with a timeout (a 504 its client can retry) instead of hanging.
#[cfg(feature = "postgres")]
const DUAL_WRITE_SHARED: &str = "SELECT set_config('lock_timeout', '5s', true), \
     pg_advisory_xact_lock_shared(hashtextextended('tenantry.move.' || $1, 0))::text";

/// What a tier move's catch-up runs on the source to pause the tenant's
/// dual-writes (see [`DUAL_WRITE_SHARED`]) until its transaction ends.
pub(crate) const PAUSE_DUAL_WRITES: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('tenantry.move.' || $1, 0))::text";

/// Whether `sql` only reads: its first word is `SELECT`.
fn is_read(sql: &str) -> bool {
    sql.trim_start()
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("select"))
}

impl<'a> TenantDb<'a> {
    pub(crate) fn new(db: &'a Database, ctx: TenantContext) -> Self {
        Self {
            db,
            ctx,
            charged: true,
        }
    }

    /// This handle without the tenant's connection quota: a tier move's
    /// copy, the operator's work, neither waits behind the tenant's own
    /// requests nor holds them up.
    pub(crate) fn uncharged(mut self) -> Self {
        self.charged = false;
        self
    }

    /// The context this handle is scoped to.
    pub fn context(&self) -> &TenantContext {
        &self.ctx
    }

    /// Asks the process fence to let this work start (counted in flight
    /// until the guard drops).
    fn enter(&self) -> Result<FenceGuard, DataError> {
        Ok(self.db.fence().enter_for(&self.ctx)?)
    }

    /// Whether `sql` must run on more than one tier (a write while moving).
    fn mirrored(&self, sql: &str) -> bool {
        !self.ctx.route().mirrors().is_empty() && !is_read(sql)
    }

    super::ran::statement_methods!("in its own tenant-scoped transaction");

    /// One statement in its own tenant-scoped transaction (on every tier
    /// of a move, for a write while moving), inside the process fence.
    async fn run(&self, sql: &'static str, params: &[Value], want: Want) -> Result<Ran, DataError> {
        if self.mirrored(sql) {
            return self
                .transaction(async |tx| match want {
                    Want::Rows => tx.fetch_all(sql, params).await.map(Ran::Rows),
                    Want::Count => tx.execute(sql, params).await.map(Ran::Count),
                })
                .await;
        }
        let tier = self.ctx.route().reads();
        let fence = self.enter()?;
        match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => {
                let ran = pg
                    .statement_scoped(&self.ctx, tier, (sql, params), want, self.charged)
                    .await;
                drop(fence);
                ran
            }
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => {
                let fence = (!is_read(sql)).then_some(fence);
                lite.run_scoped(&self.ctx, tier, (sql, params), want, fence)
                    .await
            }
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
        let route = self.ctx.route();
        let fence = self.enter()?;
        // One deadline for every wait below (slot, connections): a write
        // on a dual-write route waits no longer than any other.
        let deadline = self.db.acquire_deadline();
        // Taken before any connection, so waiting for it holds none.
        let dual_write_slot = match self.db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) if !route.mirrors().is_empty() => {
                Some(pg.dual_write_slot(deadline).await?)
            }
            _ => None,
        };
        let mut tx = Tx {
            _dual_write_slot: dual_write_slot,
            fence,
            deadline,
            primary: TierTx::begin(self.db, &self.ctx, route.reads(), self.charged, deadline)
                .await?,
            mirrors: Vec::new(),
            unopened: route.mirrors().to_vec(),
            filling: route.mirrors_filling(),
            db: self.db.clone(),
            ctx: self.ctx.clone(),
        };
        // SQLite: the file's write lock is held from here to the commit, so
        // a process paused past this check still holds off every other
        // writer (a purge included) until it commits.
        if let Err(e) = tx.fence.recheck() {
            tx.rollback().await;
            return Err(DataError::from(e).into());
        }
        // Every connection first, then the lock: a writer waiting for the
        // lock then holds no lock a catch-up (which has its connections)
        // waits for, and one holding the lock waits for no connection.
        if let Err(e) = tx.open_mirrors().await {
            tx.rollback().await;
            return Err(e.into());
        }
        #[cfg(feature = "postgres")]
        if !route.mirrors().is_empty() && matches!(self.db, Database::Postgres(_)) {
            let tenant = Value::from(self.ctx.tenant_id().to_string());
            if let Err(e) = tx.primary.fetch_all(DUAL_WRITE_SHARED, &[tenant]).await {
                tx.rollback().await;
                return Err(e.into());
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
}

/// A mirror write skipped while the mirror is being filled.
fn skipped(error: &DataError) {
    tracing::debug!(%error, "tier move: a write the mirror refused is left to the catch-up");
}

/// An open tenant-scoped transaction; see [`TenantDb::transaction`].
pub struct Tx {
    primary: TierTx,
    // One per extra write tier of a dual-write route; usually none.
    mirrors: Vec<TierTx>,
    // Mirror tiers not begun yet (begun with the primary, before the
    // dual-write lock).
    unopened: Vec<Tier>,
    // The mirrors are being filled: one that refuses a write is dropped.
    filling: bool,
    db: Database,
    ctx: TenantContext,
    // The transaction counts as in flight until it has ended (dropped
    // after the connections, see below).
    fence: FenceGuard,
    // Until when its connections may be waited for.
    deadline: tokio::time::Instant,
    // Last, so it is dropped last (fields drop in order): the slot
    // outlives the connections it stands for.
    _dual_write_slot: Option<tokio::sync::OwnedSemaphorePermit>,
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
    #[cfg(all(feature = "postgres", feature = "jobs"))]
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
        let rows = self.primary.fetch_all(sql, params).await?;
        if !is_read(sql) {
            self.mirror(sql, params).await?;
        }
        Ok(rows)
    }

    /// Runs write `sql` on every mirror, after the primary.
    /// Begins the mirrors' transactions.
    async fn open_mirrors(&mut self) -> Result<(), DataError> {
        for tier in std::mem::take(&mut self.unopened) {
            // The mirror rides on the primary's connection slot: charging
            // it too would let two writers each hold one slot and wait for
            // a second forever.
            match TierTx::begin(&self.db, &self.ctx, tier, false, self.deadline).await {
                Ok(mirror) => self.mirrors.push(mirror),
                Err(e) if self.filling => skipped(&e),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn mirror(&mut self, sql: &'static str, params: &[Value]) -> Result<(), DataError> {
        let mut kept = Vec::with_capacity(self.mirrors.len());
        let mut failed = None;
        for mut mirror in std::mem::take(&mut self.mirrors) {
            if failed.is_some() {
                kept.push(mirror);
                continue;
            }
            // `fetch_all` also runs a statement that returns rows (`RETURNING`).
            match mirror.fetch_all(sql, params).await {
                Ok(_) => kept.push(mirror),
                Err(e) if self.filling => {
                    skipped(&e);
                    mirror.rollback().await;
                }
                Err(e) => {
                    kept.push(mirror);
                    failed = Some(e);
                }
            }
        }
        self.mirrors = kept;
        failed.map_or(Ok(()), Err)
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
        let changed = self.primary.execute(sql, params).await?;
        if !is_read(sql) {
            self.mirror(sql, params).await?;
        }
        Ok(changed)
    }

    async fn commit(self) -> Result<(), DataError> {
        // A process paused mid-transaction may have been counted out by
        // the others meanwhile: then it must not commit.
        if let Err(e) = self.fence.recheck() {
            self.rollback().await;
            return Err(e.into());
        }
        let mut mirrors = self.mirrors.into_iter();
        while let Some(mirror) = mirrors.next() {
            match mirror.commit().await {
                Ok(()) => {}
                Err(e) if self.filling => skipped(&e),
                Err(e) => {
                    for rest in mirrors {
                        rest.rollback().await;
                    }
                    self.primary.rollback().await;
                    return Err(e);
                }
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
    async fn begin(
        db: &Database,
        ctx: &TenantContext,
        tier: Tier,
        charged: bool,
        deadline: tokio::time::Instant,
    ) -> Result<TierTx, DataError> {
        Ok(match db {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => {
                TierTx::Pg(pg.begin_scoped(ctx, tier, charged, deadline).await?)
            }
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => {
                // SQLite has no per-tenant slots; its busy timeout bounds the wait.
                let _ = (charged, deadline);
                TierTx::Sqlite(lite.begin_scoped(ctx, tier).await?)
            }
        })
    }

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
