//! Tenant-scoped statements with the tenant set per transaction, pipelined.
//!
//! A single statement is sent as `BEGIN; SELECT set_config('app.tenant_id',
//! $1, true); <statement>; COMMIT` in **one flight**: tokio-postgres writes a
//! request as soon as its future is first polled, and `join!` polls the four
//! in order, so they leave in order without waiting for each other. On this
//! machine that keeps ~89% of a bare `SELECT`'s rate, against ~34% for four
//! round trips (pgbench, PostgreSQL 15, 32 clients, a primary-key `SELECT`).
//!
//! `join!`, not `try_join!`: the latter stops polling at the first error, and
//! a statement that fails while encoding its parameters would then leave
//! `COMMIT` unsent and the connection inside a transaction with this tenant
//! set. With `join!` all four always go out; `COMMIT` on an aborted
//! transaction is a rollback.
//!
//! If the caller's future is dropped midway (a timeout), the connection may
//! hold an open transaction: [`ScopedConn`] then detaches it from the pool
//! and closes it, so no later request can inherit this tenant's settings.

use futures_util::TryStreamExt;
use tokio_postgres::Statement;
use tokio_postgres::types::{ToSql, Type};

use super::budget::{self, BudgetedPool, PooledClient, announce_return};
use super::params::as_sql_params;
use super::quote_ident;
use super::statements::{Statements, typed};
use super::{PgDatabase, db_error};
use crate::context::{TenantContext, TenantId, Tier};
use crate::data::row::RowRepr;
use crate::data::{DataError, Ran, Row, Value, Want};

const BEGIN: &str = "BEGIN";
// The idle limit is `crate::fence::IDLE_TRANSACTION_LIMIT`: a process
// paused inside a tenant transaction loses it before the other processes
// stop waiting for it (so it cannot commit a held tenant's write late).
pub(crate) const SET_TENANT: &str = "SELECT set_config('app.tenant_id', $1, true), \
     set_config('idle_in_transaction_session_timeout', '10s', true)";
pub(crate) const SET_TENANT_AND_SCHEMA: &str = "SELECT set_config('app.tenant_id', $1, true), \
     set_config('idle_in_transaction_session_timeout', '10s', true), set_config('search_path', $2, true)";

/// What each transaction sets first, by the tier it runs on: the tenant id,
/// and for the schema tier the tenant's schema as the `search_path` — in one
/// statement, so the schema tier pipelines as tightly as the shared one.
/// (The database tier needs no path: the connection is to the tenant's own
/// database, whose tables carry the same policies.)
///
/// Statements are prepared outside the transaction; PostgreSQL re-plans a
/// cached statement when the `search_path` differs from the one it was
/// planned under, so each runs against the tenant's own tables. That needs
/// the same result columns in every schema: repositories name their columns
/// (never `SELECT *`), which also keeps them stable across migrations.
struct Scope {
    sql: &'static str,
    tenant: String,
    search_path: Option<String>,
}

impl Scope {
    fn of(ctx: &TenantContext, tier: Tier) -> Result<Self, DataError> {
        let tenant = ctx.tenant_id().to_string();
        match tier {
            Tier::Shared | Tier::Database => Ok(Scope {
                sql: SET_TENANT,
                tenant,
                search_path: None,
            }),
            Tier::Schema => Ok(Scope {
                sql: SET_TENANT_AND_SCHEMA,
                tenant,
                search_path: Some(format!(
                    "{}, public",
                    quote_ident(&schema_for(ctx.tenant_id()))?
                )),
            }),
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match &self.search_path {
            Some(path) => vec![&self.tenant, path],
            None => vec![&self.tenant],
        }
    }
}

/// The schema that holds a schema-tier tenant's tables: `t_` and the id's
/// 32 hex digits — derived from the id, so renaming a tenant moves nothing.
pub fn schema_for(tenant: TenantId) -> String {
    format!("t_{}", tenant.as_uuid().simple())
}
const COMMIT: &str = "COMMIT";
const ROLLBACK: &str = "ROLLBACK";

/// A pooled connection that is only returned to the pool once it is known to
/// be outside any transaction.
struct ScopedConn {
    pool: BudgetedPool,
    client: Option<PooledClient>,
    idle: bool,
    // The tenant's connection slot (shared and schema tiers), given back
    // after the connection (fields drop after `Drop::drop`).
    _quota: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl ScopedConn {
    fn client(&self) -> &PooledClient {
        // Present from construction until drop.
        self.client.as_ref().expect("connection present until drop")
    }

    fn client_mut(&mut self) -> &mut tokio_postgres::Client {
        self.client.as_mut().expect("connection present until drop")
    }
}

impl Drop for ScopedConn {
    fn drop(&mut self) {
        let Some(object) = self.client.take() else {
            return;
        };
        if self.idle {
            drop(object);
        } else {
            // Detach from the pool; dropping the client closes the
            // socket and the server rolls the transaction back.
            drop(PooledClient::take(object));
        }
        // Back in the pool, or closed: either way there is room now.
        announce_return(&self.pool);
    }
}

impl PgDatabase {
    /// The pool that holds `ctx`'s rows on `tier`.
    fn pool_for(&self, ctx: &TenantContext, tier: Tier) -> Result<BudgetedPool, DataError> {
        match tier {
            Tier::Shared => Ok(self.pool.clone()),
            Tier::Schema => Ok(self.schema_pool.clone()),
            Tier::Database => self
                .tenant_pools
                .pool_for(ctx.tenant_id(), ctx.route().database_server()),
        }
    }

    /// A connection for `ctx` on `tier`; `charged` takes one of the
    /// tenant's connection slots (shared and schema tiers) — not for a tier
    /// move's mirror, which rides on its primary's slot, nor for the move's
    /// own copy, which is the operator's work and must not wait behind (or
    /// hold up) the tenant's requests.
    ///
    /// The tenant's slot and the connection are waited for until one
    /// `deadline`, not each for the acquire timeout: a write never waits
    /// longer than that for its connections, however many it needs.
    async fn scoped_conn(
        &self,
        ctx: &TenantContext,
        tier: Tier,
        charged: bool,
        deadline: tokio::time::Instant,
    ) -> Result<ScopedConn, DataError> {
        let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
        let pool = self.pool_for(ctx, tier)?;
        let quota = match tier {
            Tier::Shared | Tier::Schema if charged => Some(self.quotas.acquire(ctx, left()).await?),
            // Database-tier pools are the tenant's own, capped per tenant.
            _ => None,
        };
        let client = budget::get(&pool, left()).await?;
        Ok(ScopedConn {
            pool,
            client: Some(client),
            idle: true,
            _quota: quota,
        })
    }

    /// Runs `sql` in `ctx`'s scope on `tier` for what `want`s; `charged`:
    /// counted against the tenant's connection quota.
    pub(crate) async fn statement_scoped(
        &self,
        ctx: &TenantContext,
        tier: Tier,
        (sql, params): (&'static str, &[Value]),
        want: Want,
        charged: bool,
    ) -> Result<Ran, DataError> {
        let (rows, affected) = self.run_scoped(ctx, tier, sql, params, charged).await?;
        Ok(match want {
            Want::Rows => Ran::Rows(rows.into_iter().map(|r| Row(RowRepr::Pg(r))).collect()),
            Want::Count => Ran::Count(affected),
        })
    }

    /// One statement in its own tenant-scoped transaction, all four messages
    /// in one flight; returns its rows and how many rows it affected.
    async fn run_scoped(
        &self,
        ctx: &TenantContext,
        tier: Tier,
        sql: &'static str,
        params: &[Value],
        charged: bool,
    ) -> Result<(Vec<tokio_postgres::Row>, u64), DataError> {
        let scope = Scope::of(ctx, tier)?;
        let mut conn = self
            .scoped_conn(ctx, tier, charged, self.acquire_deadline())
            .await?;
        let prepared = match self.statements {
            Statements::Prepared => Some(prepare(conn.client(), scope.sql, sql).await?),
            Statements::Unnamed => None,
        };
        conn.idle = false;
        let client: &tokio_postgres::Client = conn.client();
        // Each of the four writes its request on first poll (`query_raw`
        // and `query_typed_raw` included), so these blocks keep their
        // places in the pipeline.
        let statement = async {
            let stream = match &prepared {
                Some(p) => {
                    client
                        .query_raw(&p.statement, as_sql_params(params))
                        .await?
                }
                None => client.query_typed_raw(sql, typed(params)).await?,
            };
            drain(stream).await
        };
        let (begin, set, result, commit) = futures_util::join!(
            run_plain(client, prepared.as_ref().map(|p| &p.begin), BEGIN),
            set_scope(client, prepared.as_ref().map(|p| &p.set_tenant), &scope),
            statement,
            run_plain(client, prepared.as_ref().map(|p| &p.commit), COMMIT),
        );
        conn.idle = commit.is_ok();
        begin.map_err(db_error)?;
        set.map_err(db_error)?;
        let result = result.map_err(db_error)?;
        commit.map_err(db_error)?;
        Ok(result)
    }

    pub(crate) async fn begin_scoped(
        &self,
        ctx: &TenantContext,
        tier: Tier,
        charged: bool,
        deadline: tokio::time::Instant,
    ) -> Result<PgTx, DataError> {
        let scope = Scope::of(ctx, tier)?;
        let mut conn = self.scoped_conn(ctx, tier, charged, deadline).await?;
        let statements = self.statements;
        let prepared = match statements {
            Statements::Prepared => {
                let client = conn.client();
                Some((
                    client.prepare_cached(BEGIN).await.map_err(db_error)?,
                    client.prepare_cached(scope.sql).await.map_err(db_error)?,
                ))
            }
            Statements::Unnamed => None,
        };
        conn.idle = false;
        let client: &tokio_postgres::Client = conn.client();
        let (begun, set) = futures_util::join!(
            run_plain(client, prepared.as_ref().map(|p| &p.0), BEGIN),
            set_scope(client, prepared.as_ref().map(|p| &p.1), &scope),
        );
        begun.map_err(db_error)?;
        set.map_err(db_error)?;
        Ok(PgTx {
            conn,
            statements,
            tier,
        })
    }
}

/// Every row of `stream`, and how many rows its statement affected.
async fn drain(
    stream: tokio_postgres::RowStream,
) -> Result<(Vec<tokio_postgres::Row>, u64), tokio_postgres::Error> {
    futures_util::pin_mut!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await? {
        rows.push(row);
    }
    Ok((rows, stream.rows_affected().unwrap_or(0)))
}

/// A statement without parameters: the prepared one, or `sql` unnamed.
async fn run_plain(
    client: &tokio_postgres::Client,
    prepared: Option<&Statement>,
    sql: &str,
) -> Result<u64, tokio_postgres::Error> {
    match prepared {
        Some(statement) => client.execute(statement, &[]).await,
        None => client.execute_typed(sql, &[]).await,
    }
}

/// Sets the tenant (and the schema tier's path) for the transaction.
async fn set_scope(
    client: &tokio_postgres::Client,
    prepared: Option<&Statement>,
    scope: &Scope,
) -> Result<u64, tokio_postgres::Error> {
    match prepared {
        Some(statement) => client.execute(statement, &scope.params()).await,
        None => {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = scope
                .params()
                .into_iter()
                .map(|p| (p, Type::TEXT))
                .collect();
            client.execute_typed(scope.sql, &typed).await
        }
    }
}

struct Prepared {
    begin: Statement,
    set_tenant: Statement,
    statement: Statement,
    commit: Statement,
}

/// Prepared once per connection, then served from the connection's cache.
async fn prepare(
    client: &PooledClient,
    set_tenant: &str,
    sql: &str,
) -> Result<Prepared, DataError> {
    Ok(Prepared {
        begin: client.prepare_cached(BEGIN).await.map_err(db_error)?,
        set_tenant: client.prepare_cached(set_tenant).await.map_err(db_error)?,
        statement: client.prepare_cached(sql).await.map_err(db_error)?,
        commit: client.prepare_cached(COMMIT).await.map_err(db_error)?,
    })
}

/// An open PostgreSQL transaction with the tenant set.
pub struct PgTx {
    conn: ScopedConn,
    statements: Statements,
    #[cfg_attr(not(feature = "jobs"), allow(dead_code))]
    tier: Tier,
}

impl PgTx {
    #[cfg_attr(not(feature = "jobs"), allow(dead_code))]
    pub(crate) fn client(&self) -> &tokio_postgres::Client {
        self.conn.client()
    }

    #[cfg(feature = "jobs")]
    pub(crate) fn tier(&self) -> Tier {
        self.tier
    }

    pub(crate) async fn fetch_all(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<Vec<Row>, DataError> {
        let (rows, _) = self.run(sql, params).await?;
        Ok(rows.into_iter().map(|r| Row(RowRepr::Pg(r))).collect())
    }

    pub(crate) async fn execute(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<u64, DataError> {
        let (_, affected) = self.run(sql, params).await?;
        Ok(affected)
    }

    async fn run(
        &mut self,
        sql: &'static str,
        params: &[Value],
    ) -> Result<(Vec<tokio_postgres::Row>, u64), DataError> {
        let pooled = self.conn.client();
        let client: &tokio_postgres::Client = pooled;
        let stream = match self.statements {
            Statements::Prepared => {
                let statement = pooled.prepare_cached(sql).await.map_err(db_error)?;
                client.query_raw(&statement, as_sql_params(params)).await
            }
            Statements::Unnamed => client.query_typed_raw(sql, typed(params)).await,
        }
        .map_err(db_error)?;
        drain(stream).await.map_err(db_error)
    }

    pub(crate) async fn commit(mut self) -> Result<(), DataError> {
        self.finish(COMMIT).await
    }

    pub(crate) async fn rollback(mut self) {
        // On failure the guard closes the connection, which rolls back too.
        let _ = self.finish(ROLLBACK).await;
    }

    async fn finish(&mut self, verb: &'static str) -> Result<(), DataError> {
        let client = self.conn.client();
        let prepared = match self.statements {
            Statements::Prepared => Some(client.prepare_cached(verb).await.map_err(db_error)?),
            Statements::Unnamed => None,
        };
        run_plain(client, prepared.as_ref(), verb)
            .await
            .map_err(db_error)?;
        self.conn.idle = true;
        Ok(())
    }
}

impl PgDatabase {
    /// Runs `work` in a transaction of the current tenant's, on the
    /// tenant's tier, with the tenant already set — the driver's own
    /// [`tokio_postgres::Transaction`], for SQL the [`TenantDb`](crate::data::TenantDb)
    /// helpers do not cover (JSON, arrays, numeric, custom types, `COPY`).
    ///
    /// Row-level security applies as on every scoped statement: the
    /// transaction sees and writes only this tenant's rows. It commits when
    /// `work` returns `Ok` and rolls back when it returns `Err` (or is
    /// dropped). The tenant comes from the context, never from a parameter;
    /// outside a context it fails with [`DataError::NoTenantContext`], in
    /// the system context with [`DataError::SystemTenant`].
    ///
    /// While a tenant moves tiers (a dual-write route), the transaction
    /// runs on the tier reads come from only: SQL tenantry does not see is
    /// not mirrored.
    ///
    /// ```no_run
    /// # async fn demo(pg: tenantry::data::postgres::PgDatabase) -> Result<(), tenantry::data::DataError> {
    /// let totals: Vec<(String, serde_json::Value)> = pg
    ///     .tenant_transaction(async |tx| {
    ///         let rows = tx
    ///             .query("SELECT customer, jsonb_agg(total) FROM orders GROUP BY customer", &[])
    ///             .await?;
    ///         Ok::<_, tenantry::data::DataError>(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn tenant_transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&tokio_postgres::Transaction<'_>) -> Result<T, E>,
        E: From<DataError>,
    {
        let ctx = crate::context::require().map_err(DataError::from)?;
        if ctx.is_system() {
            return Err(DataError::SystemTenant.into());
        }
        let tier = ctx.route().reads();
        let scope = Scope::of(&ctx, tier)?;
        let fence = self.fence.enter_for(&ctx).map_err(DataError::from)?;
        let mut conn = self
            .scoped_conn(&ctx, tier, true, self.acquire_deadline())
            .await?;
        conn.idle = false;
        let client: &mut tokio_postgres::Client = conn.client_mut();
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute(scope.sql, &scope.params())
            .await
            .map_err(db_error)?;
        let outcome = work(&tx).await;
        // Not committed by a process the others may have counted out.
        let outcome = match (outcome, fence.recheck()) {
            (Ok(_), Err(stale)) => Err(DataError::from(stale).into()),
            (outcome, _) => outcome,
        };
        let finished = match &outcome {
            Ok(_) => tx.commit().await,
            Err(_) => tx.rollback().await,
        };
        drop(fence);
        // Back to the pool only when known to be outside a transaction.
        conn.idle = finished.is_ok();
        let value = outcome?;
        finished.map_err(db_error)?;
        Ok(value)
    }
}
