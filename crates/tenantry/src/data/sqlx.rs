//! sqlx integration: the app's own `sqlx::PgPool`, with every transaction
//! scoped to the tenant of the current context.
//!
//! The feature depends on sqlx's core and PostgreSQL driver (0.9) rather
//! than the `sqlx` facade (whose optional SQLite driver pins a
//! libsqlite3-sys older than tenantry's SQLite backend uses); the types are
//! the ones the facade re-exports, so an app's `sqlx::PgPool` and
//! `sqlx::Transaction<Postgres>` are these.
//!
//! [`SqlxTenantPool::begin`] starts a `sqlx::Transaction<Postgres>` and,
//! before handing it out, sets `app.tenant_id` for that transaction only
//! (`set_config(…, true)`) — and for a schema-tier tenant its schema as the
//! `search_path`. The pool's role must be the app role (no `BYPASSRLS`, not
//! the tables' owner), so row-level security holds on every query the app
//! writes with sqlx, macros included. The setting ends with the
//! transaction, so a pooled connection never carries one tenant into the
//! next request; a transaction dropped without `commit` rolls back.
//!
//! What this path does not give: tenantry's per-tenant connection quotas
//! (the pool is the app's), and the database tier (a tenant's own database
//! needs its own pool: use [`PgDatabase::tenant_transaction`](super::postgres::PgDatabase::tenant_transaction)).
//! Behind a transaction-mode pooler, build the pool with
//! `PgConnectOptions::statement_cache_capacity(0)`.

use sqlx_core::error::Error as SqlxError;
use sqlx_core::transaction::Transaction;
use sqlx_postgres::{PgPool, Postgres};

use super::DataError;
use super::failure::DbFailure;
use crate::context::Tier;

/// The app's sqlx pool, handing out tenant-scoped transactions.
///
/// ```no_run
/// # use sqlx_core as sqlx;
/// # async fn demo(pool: sqlx_postgres::PgPool) -> Result<(), tenantry::data::DataError> {
/// use tenantry::data::sqlx::{SqlxTenantPool, data_error};
/// let tenants = SqlxTenantPool::new(pool);
/// // Inside a request (the edge set the tenant context):
/// let mut tx = tenants.begin().await?;
/// let titles: Vec<String> = sqlx::query_scalar::query_scalar("SELECT title FROM notes ORDER BY id")
///     .fetch_all(&mut *tx)
///     .await
///     .map_err(data_error)?;
/// tx.commit().await.map_err(data_error)?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqlxTenantPool {
    pool: PgPool,
}

impl SqlxTenantPool {
    /// Tenant-scoped transactions from `pool` (connected as the app role).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for work that is not tenant-scoped (there is little:
    /// tenant tables answer nothing without a tenant set).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction of the current tenant's, the tenant already set.
    ///
    /// Fails with [`DataError::NoTenantContext`] outside a context,
    /// [`DataError::SystemTenant`] in the system context, and
    /// [`DataError::TierUnavailable`] for a database-tier tenant.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, DataError> {
        let ctx = crate::context::require()?;
        if ctx.is_system() {
            return Err(DataError::SystemTenant);
        }
        let tenant = ctx.tenant_id().to_string();
        let mut tx = self.pool.begin().await.map_err(data_error)?;
        match ctx.route().reads() {
            Tier::Shared => {
                sqlx_core::query::query(
                    "SELECT set_config('app.tenant_id', $1, true), \
                     set_config('idle_in_transaction_session_timeout', '10s', true)",
                )
                .bind(&tenant)
                .execute(&mut *tx)
                .await
            }
            Tier::Schema => {
                let schema =
                    super::postgres::quote_ident(&super::postgres::schema_for(ctx.tenant_id()))?;
                sqlx_core::query::query(
                    "SELECT set_config('app.tenant_id', $1, true), \
                     set_config('idle_in_transaction_session_timeout', '10s', true), \
                     set_config('search_path', $2, true)",
                )
                .bind(&tenant)
                .bind(format!("{schema}, public"))
                .execute(&mut *tx)
                .await
            }
            Tier::Database => return Err(DataError::TierUnavailable(Tier::Database)),
        }
        .map_err(data_error)?;
        Ok(tx)
    }
}

/// Maps an sqlx error into tenantry's classification: constraint
/// violations (with the constraint's name and kind), values the database
/// refuses, row-level security, timeouts, unavailability.
pub fn data_error(e: SqlxError) -> DataError {
    let Some(db) = e.as_database_error() else {
        let unavailable = matches!(
            e,
            SqlxError::Io(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed
        );
        let failure = DbFailure::new(e.to_string()).with_source(e);
        return if unavailable {
            DataError::Unavailable(failure)
        } else {
            DataError::Database(failure)
        };
    };
    let mut failure = DbFailure::new(db.message().to_owned());
    if let Some(code) = db.code() {
        failure = failure.with_sqlstate(code);
    }
    if let Some(constraint) = db.constraint() {
        failure = failure.with_constraint(constraint);
    }
    if let Some(table) = db.table() {
        failure = failure.with_table(table);
    }
    super::failure::classify(failure.with_source(e))
}

/// sqlx errors convert with `?`, classified as [`data_error`] does.
impl From<SqlxError> for DataError {
    fn from(e: SqlxError) -> Self {
        data_error(e)
    }
}
