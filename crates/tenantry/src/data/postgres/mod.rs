//! PostgreSQL backend: all three tiers.
//!
//! The app connects as a role that owns no tenant table, is not superuser
//! and lacks `BYPASSRLS` ([`audit`] checks all three at start-up); tables are
//! created by an owner role through [`migrate`]. Policies compare `tenant_id`
//! with `current_setting('app.tenant_id')`, which [`PgDatabase`] sets with
//! `set_config(…, true)` inside each transaction — in every tier, so a
//! schema or a tenant database is guarded by the same policies as the
//! shared tables.
//!
//! - `shared`: the tables of the connection's database (`public`).
//! - `schema`: the tenant's schema ([`schema_for`]) as the transaction's
//!   `search_path`.
//! - `database`: the tenant's own database ([`database_for`]) through a
//!   per-tenant pool; every pool draws from one connection budget.

pub mod audit;
mod budget;
pub mod fleet;
pub mod migrate;
mod params;
mod registry;
mod scoped;
mod tenant_pools;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{PoolError, Timeouts};
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use tokio_postgres::NoTls;

pub use budget::{BudgetedClient, BudgetedManager, ConnectError, PooledClient};
pub use registry::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgTenantStore};
pub use scoped::{PgTx, schema_for};
pub use tenant_pools::{database_for, tenant_database_prefix};

use super::DataError;
use budget::{BudgetedPool, ConnectionBudget};
use tenant_pools::TenantPools;

/// The PostgreSQL tenant plane: app-role connections to the shared database
/// and, for database-tier tenants, to each tenant's database.
#[derive(Clone)]
pub struct PgDatabase {
    pool: BudgetedPool,
    budget: Arc<ConnectionBudget>,
    tenant_pools: Arc<TenantPools>,
}

/// How a [`PgDatabase`] sizes and ages its pools.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PgPoolOptions {
    /// Connections open at once across every pool, idle ones included.
    /// Keep it under the server's `max_connections` minus what migrations
    /// and operators need.
    pub max_connections: usize,
    /// Connections one database-tier tenant may hold.
    pub per_tenant: usize,
    /// Database-tier tenant pools kept at once (least recently used dropped).
    pub max_tenant_pools: usize,
    /// A tenant pool's connection idle this long is closed.
    pub idle_timeout: Duration,
    /// How long a request waits for a connection before a clear 503.
    pub acquire_timeout: Duration,
}

impl PgPoolOptions {
    /// Defaults for a budget of `max_connections`: four per tenant, 1,024
    /// tenant pools, 30 s idle timeout, 5 s acquire timeout.
    pub fn new(max_connections: usize) -> Self {
        Self {
            max_connections: max_connections.max(1),
            per_tenant: 4,
            max_tenant_pools: 1024,
            idle_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

pub(crate) fn pool_timeouts(acquire: Duration) -> Timeouts {
    Timeouts {
        wait: Some(acquire),
        create: Some(acquire),
        recycle: Some(acquire),
    }
}

impl PgDatabase {
    /// Connects lazily to `url` (a `postgres://` URL of the **app** role)
    /// with at most `max_connections` connections across all pools.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, DataError> {
        Self::connect_with(url, PgPoolOptions::new(max_connections))
    }

    /// [`connect`](Self::connect) with every pool setting spelled out.
    pub fn connect_with(url: &str, options: PgPoolOptions) -> Result<Self, DataError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| DataError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        let budget = ConnectionBudget::new(options.max_connections);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            // Connections are never returned mid-transaction (see `scoped`), so
            // recycling needs no round trip.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = BudgetedPool::builder(BudgetedManager::new(manager, budget.clone()))
            .max_size(options.max_connections.max(1))
            .timeouts(pool_timeouts(options.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DataError::Unavailable(e.to_string()))?;
        budget.register(&pool);
        let tenant_pools = TenantPools::new(config, budget.clone(), options)?;
        Ok(Self {
            pool,
            budget,
            tenant_pools,
        })
    }

    /// A pooled connection for control-plane work (not tenant-scoped).
    pub async fn client(&self) -> Result<PooledClient, DataError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The database that holds database-tier tenant `tenant`'s tables.
    pub fn tenant_database(&self, tenant: crate::context::TenantId) -> String {
        self.tenant_pools.database_for(tenant)
    }

    /// Connections open now across every pool (never above the budget).
    pub fn open_connections(&self) -> usize {
        self.budget.open()
    }

    /// Database-tier tenant pools open now.
    pub fn open_tenant_pools(&self) -> usize {
        self.tenant_pools.len()
    }

    /// Runs the isolation audit as this pool's role; see [`audit`].
    pub async fn audit(&self) -> Result<Vec<audit::Finding>, DataError> {
        let client = self.client().await?;
        audit::run(&client).await
    }
}

fn pool_error(e: PoolError<ConnectError>) -> DataError {
    match e {
        PoolError::Timeout(_) => DataError::Unavailable(
            "no database connection became free in time (the connection budget is in use)".into(),
        ),
        PoolError::Backend(e) => DataError::Unavailable(e.to_string()),
        other => DataError::Unavailable(other.to_string()),
    }
}

/// A driver error as text, with the server's message where there is one.
pub(crate) fn db_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// Maps a driver error, keeping the server's message (the `Display` of
/// `tokio_postgres::Error` alone says only "db error").
pub(crate) fn db_error(e: tokio_postgres::Error) -> DataError {
    use tokio_postgres::error::SqlState;
    match e.as_db_error() {
        Some(db) => {
            let text = match db.detail() {
                Some(detail) => format!("{} ({detail})", db.message()),
                None => db.message().to_owned(),
            };
            let code = db.code();
            if [
                SqlState::UNIQUE_VIOLATION,
                SqlState::FOREIGN_KEY_VIOLATION,
                SqlState::CHECK_VIOLATION,
                SqlState::NOT_NULL_VIOLATION,
                SqlState::EXCLUSION_VIOLATION,
            ]
            .contains(code)
            {
                DataError::Constraint(text)
            } else {
                DataError::Database(text)
            }
        }
        None if e.is_closed() => DataError::Unavailable(e.to_string()),
        None => DataError::Database(format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )),
    }
}

/// Quotes a validated identifier; refuses anything but `[a-z_][a-z0-9_]{0,62}`
/// so no caller-supplied text can reach SQL as an identifier unchecked.
pub fn quote_ident(name: &str) -> Result<String, DataError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(format!("\"{name}\""))
    } else {
        Err(DataError::Database(format!("refusing identifier {name:?}")))
    }
}
