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
mod control;
pub mod fleet;
pub mod migrate;
mod params;
pub(crate) use params::as_sql_params;
mod control_schema;
mod quota;
mod scoped;
mod setup;
mod statements;
mod tenant_pools;
mod tls;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{PoolError, Timeouts};
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};

pub use budget::{BudgetedClient, BudgetedManager, ConnectError, PooledClient};
#[cfg(feature = "jobs")]
pub(crate) use control::Queries;
pub use control::{ControlClient, ControlTransaction};
pub use control_schema::{CONTROL_MIGRATIONS, CONTROL_SCHEMA};
pub use scoped::{PgTx, schema_for};
pub use setup::{PrepareError, prepare};
pub use statements::Statements;
pub use tenant_pools::{database_for, tenant_database_prefix};
pub use tls::{PgTls, SslMode, is_local, parse_url};

use super::{DataError, DbFailure};
use budget::{BudgetedPool, ConnectionBudget};
use tenant_pools::TenantPools;

/// The PostgreSQL tenant plane: app-role connections to the shared database
/// and, for database-tier tenants, to each tenant's database.
#[derive(Clone)]
pub struct PgDatabase {
    // The shared tier's rows and the control plane.
    pool: BudgetedPool,
    // The schema tier: a pool of its own, so neither tier can hold the
    // whole budget (each is capped at `per_tier`).
    schema_pool: BudgetedPool,
    quotas: Arc<quota::TenantQuotas>,
    // Dual-write transactions (tier moves) at once: each holds up to two
    // connections, taken one after the other, so an unbounded number of
    // them could hold the whole budget, each waiting for its second. A
    // quarter of the budget keeps half of it for their second connections
    // and everyone else.
    dual_writes: Arc<tokio::sync::Semaphore>,
    budget: Arc<ConnectionBudget>,
    tenant_pools: Arc<TenantPools>,
    acquire_timeout: Duration,
    tls: PgTls,
    statements: Statements,
    // Which tenants this process must not touch (see `crate::fence`).
    pub(crate) fence: crate::data::fence::TenantFence,
}

/// How a [`PgDatabase`]'s connections are used; see [`PgDatabase::pool_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The connection budget (all pools together).
    pub budget: usize,
    /// Connections open, all pools.
    pub open: usize,
    /// The shared tier's pool (and the control plane's).
    pub shared: PoolUse,
    /// The schema tier's pool.
    pub schema: PoolUse,
    /// The database tier's per-tenant pools, summed.
    pub tenant_databases: PoolUse,
}

/// One pool's (or a group of pools') connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUse {
    /// Open.
    pub open: usize,
    /// Open and idle.
    pub idle: usize,
    /// Callers waiting for one.
    pub waiting: usize,
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
    /// Connections one shared- or schema-tier tenant may hold at once (at
    /// least 2: a transaction during a tier move writes to two tiers).
    pub per_tenant_shared: usize,
    /// Connections the shared tier's pool and the schema tier's pool may
    /// each hold, so one tier cannot take the whole budget.
    pub per_tier: usize,
    /// Database-tier tenant pools kept at once (least recently used dropped).
    pub max_tenant_pools: usize,
    /// A tenant pool's connection idle this long is closed.
    pub idle_timeout: Duration,
    /// How long a request waits for a connection before a clear 503.
    pub acquire_timeout: Duration,
    /// Prepared and cached (a direct connection), or unnamed (behind a
    /// transaction-mode pooler); see [`Statements`].
    pub statements: Statements,
}

impl PgPoolOptions {
    /// Defaults for a budget of `max_connections`: four per database-tier
    /// tenant; a quarter of the budget (at least 2) per shared- or
    /// schema-tier tenant; three quarters per
    /// tier; 1,024 tenant pools, 30 s idle timeout, 5 s acquire timeout;
    /// prepared statements (a direct connection).
    pub fn new(max_connections: usize) -> Self {
        let max_connections = max_connections.max(1);
        Self {
            max_connections,
            per_tenant: 4,
            per_tenant_shared: (max_connections / 4).max(2),
            per_tier: (max_connections - max_connections / 4).max(1),
            max_tenant_pools: 1024,
            idle_timeout: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(5),
            statements: Statements::Prepared,
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
        let (config, tls) = parse_url(url)?;
        let budget = ConnectionBudget::new(options.max_connections);
        let tier_pool = || {
            let manager = Manager::from_config(
                config.clone(),
                tls.clone(),
                // Connections are never returned mid-transaction (see
                // `scoped`), so recycling needs no round trip.
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            let pool = BudgetedPool::builder(BudgetedManager::new(manager, budget.clone()))
                .max_size(options.per_tier.clamp(1, options.max_connections.max(1)))
                .timeouts(pool_timeouts(options.acquire_timeout))
                .runtime(deadpool::Runtime::Tokio1)
                .build()
                .map_err(|e| {
                    DataError::Unavailable(DbFailure::new(e.to_string()).with_source(e))
                })?;
            budget.register(&pool);
            Ok::<_, DataError>(pool)
        };
        let pool = tier_pool()?;
        let schema_pool = tier_pool()?;
        let quotas = Arc::new(quota::TenantQuotas::new(options.per_tenant_shared.max(2)));
        let tenant_pools = TenantPools::new(config, tls.clone(), budget.clone(), options)?;
        Ok(Self {
            pool,
            schema_pool,
            quotas,
            dual_writes: Arc::new(tokio::sync::Semaphore::new(
                (options.max_connections / 4).max(1),
            )),
            budget,
            tenant_pools,
            acquire_timeout: options.acquire_timeout,
            tls,
            statements: options.statements,
            fence: crate::data::fence::TenantFence::default(),
        })
    }

    /// A place among the dual-write transactions allowed at once (held
    /// until dropped), waiting up to the acquire timeout.
    pub(crate) async fn dual_write_slot(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, DataError> {
        tokio::time::timeout_at(deadline, self.dual_writes.clone().acquire_owned())
            .await
            .map_err(|_| {
                DataError::Unavailable(
                    "too many tier-move transactions at once; retry shortly".into(),
                )
            })?
            .map_err(|_| DataError::Unavailable("dual-write slots closed".into()))
    }

    /// Until when a statement or transaction starting now may wait for
    /// what it needs (its slots and connections), all waits together.
    pub(crate) fn acquire_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.acquire_timeout
    }

    /// A pooled connection for control-plane work (not tenant-scoped).
    pub async fn client(&self) -> Result<ControlClient, DataError> {
        let client = budget::get(&self.pool, self.acquire_timeout).await?;
        Ok(ControlClient::new(
            self.pool.clone(),
            client,
            self.statements,
        ))
    }

    /// How its statements reach the server.
    pub fn statements(&self) -> Statements {
        self.statements
    }

    /// Gives each plan of `catalog` that names
    /// [`db_connections`](crate::plans::PlanSpec::db_connections) that many
    /// connections per tenant on the shared and schema tiers (at least 2);
    /// other plans keep [`PgPoolOptions::per_tenant_shared`]. Call before
    /// cloning the handle: clones made earlier keep the old quotas.
    pub fn with_plan_connections(mut self, catalog: &crate::plans::PlanCatalog) -> Self {
        let by_plan = catalog
            .iter()
            .filter_map(|(plan, spec)| {
                let n = usize::try_from(spec.db_connections?).ok()?;
                Some((plan.clone(), n))
            })
            .collect();
        self.quotas = Arc::new(quota::TenantQuotas::new(self.quotas.default()).with_plans(by_plan));
        self
    }

    /// The TLS its connections use (from the URL's `sslmode`).
    pub fn tls(&self) -> &PgTls {
        &self.tls
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

    /// Connections by pool, for metrics: the shared pool (shared and schema
    /// tiers, and the control plane) and the database tier's pools summed.
    pub fn pool_stats(&self) -> PoolStats {
        let shared = self.pool.status();
        let schema = self.schema_pool.status();
        PoolStats {
            budget: self.budget.limit(),
            open: self.budget.open(),
            shared: PoolUse {
                open: shared.size,
                idle: shared.available,
                waiting: shared.waiting,
            },
            schema: PoolUse {
                open: schema.size,
                idle: schema.available,
                waiting: schema.waiting,
            },
            tenant_databases: self.tenant_pools.usage(),
        }
    }

    /// Runs the isolation audit as this pool's role; see [`audit`].
    pub async fn audit(&self) -> Result<Vec<audit::Finding>, DataError> {
        let mut client = self.client().await?;
        // In a transaction, so it runs as well behind a transaction-mode
        // pooler (see `statements`).
        let tx = client.transaction().await.map_err(db_error)?;
        let findings = audit::run(&tx).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(findings)
    }

    /// Runs the isolation audit as the app role in database-tier tenant
    /// `tenant`'s own database, on `server` (`None`: the default one).
    /// Each tenant database has its own tables, policies and grants, so
    /// each is audited, not only the shared one.
    pub async fn audit_tenant_database(
        &self,
        tenant: crate::context::TenantId,
        server: Option<&str>,
    ) -> Result<Vec<audit::Finding>, DataError> {
        let pool = self.tenant_pools.pool_for(tenant, server)?;
        let mut client = budget::get(&pool, self.acquire_timeout).await?;
        let client: &mut tokio_postgres::Client = &mut client;
        let tx = client.transaction().await.map_err(db_error)?;
        let findings = audit::run(&tx).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(findings)
    }
}

pub(crate) fn pool_error(e: PoolError<ConnectError>) -> DataError {
    match e {
        PoolError::Timeout(_) => DataError::Unavailable(
            "no database connection became free in time (the connection budget is in use)".into(),
        ),
        PoolError::Backend(e) => {
            DataError::Unavailable(DbFailure::new(e.to_string()).with_source(e))
        }
        other => DataError::Unavailable(other.to_string().into()),
    }
}

/// A driver error as text, with the server's message where there is one.
pub(crate) fn db_error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => server_text(db),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// The server's message and detail, with the likely cause when a prepared
/// statement went missing: a transaction-mode pooler gave this transaction
/// another server connection than the one the statement was prepared on.
fn server_text(db: &tokio_postgres::error::DbError) -> String {
    let mut text = match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_owned(),
    };
    if *db.code() == tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME {
        text.push_str(
            "; behind a transaction-mode pooler (PgBouncer `pool_mode = transaction`), \
             connect with `Statements::Unnamed` (server: `--database-pooler transaction`)",
        );
    }
    text
}

/// Maps a driver error, keeping the server's message (the `Display` of
/// `tokio_postgres::Error` alone says only "db error"), its SQLSTATE, the
/// constraint and table it names, and the driver's error as the source.
pub(crate) fn db_error(e: tokio_postgres::Error) -> DataError {
    let Some(db) = e.as_db_error() else {
        let text = db_error_text(&e);
        let gone = e.is_closed()
            // A reset or refused socket: the server went away mid-request.
            || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        let failure = DbFailure::new(text).with_source(e);
        return if gone {
            DataError::Unavailable(failure)
        } else {
            DataError::Database(failure)
        };
    };
    let mut failure = DbFailure::new(server_text(db)).with_sqlstate(db.code().code());
    if let Some(constraint) = db.constraint() {
        failure = failure.with_constraint(constraint);
    }
    if let Some(table) = db.table() {
        failure = failure.with_table(table);
    }
    crate::data::failure::classify(failure.with_source(e))
}

/// `base`'s connection settings (role, password, database) aimed at
/// `server`'s host and port when one is given — how a database-tier tenant
/// on another server is reached with the deployment's own roles.
pub(crate) fn on_server(
    base: &tokio_postgres::Config,
    server: Option<&str>,
) -> Result<tokio_postgres::Config, DataError> {
    let Some(server) = server else {
        return Ok(base.clone());
    };
    let mut config = parse_database_server(server)?;
    if let Some(user) = base.get_user() {
        config.user(user);
    }
    if let Some(password) = base.get_password() {
        config.password(password);
    }
    if let Some(dbname) = base.get_dbname() {
        config.dbname(dbname);
    }
    if let Some(name) = base.get_application_name() {
        config.application_name(name);
    }
    // The deployment's TLS holds on every server (see `tls`).
    config.ssl_mode(base.get_ssl_mode());
    config.connect_timeout(
        base.get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10)),
    );
    Ok(config)
}

/// Checks a database-tier server URL: a `postgres://` URL with a host (or
/// socket directory) and optional port, and nothing else — the roles and
/// credentials are the deployment's, never stored with a tenant.
///
/// ```
/// use tenantry::data::postgres::parse_database_server;
///
/// assert!(parse_database_server("postgres://db-eu-2:5432").is_ok());
/// assert!(parse_database_server("postgres://%2Fvar%2Frun%2Fpostgresql").is_ok());
/// assert!(parse_database_server("postgres://admin:hunter2@db-eu-2").is_err());
/// assert!(parse_database_server("postgres://db-eu-2/acme").is_err());
/// assert!(parse_database_server("db-eu-2").is_err());
/// ```
pub fn parse_database_server(url: &str) -> Result<tokio_postgres::Config, DataError> {
    let bad = |why: &str| DataError::config(format!("database server {url:?}: {why}"));
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(bad("expected a postgres://host:port URL"));
    }
    let config = tokio_postgres::Config::from_str(url).map_err(|e| {
        DataError::Config(
            crate::data::DbFailure::new(format!("database server {url:?}: {e}")).with_source(e),
        )
    })?;
    if config.get_hosts().is_empty() {
        return Err(bad("names no host"));
    }
    if config.get_user().is_some() || config.get_password().is_some() {
        return Err(bad(
            "credentials are the deployment's roles, not stored with a tenant",
        ));
    }
    if config.get_dbname().is_some() {
        return Err(bad(
            "the database name is derived from the tenant, not given",
        ));
    }
    Ok(config)
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
        Err(DataError::Database(
            format!("refusing identifier {name:?}").into(),
        ))
    }
}

/// Driver errors inside [`PgDatabase::tenant_transaction`] convert with `?`,
/// classified by SQLSTATE (constraint, value, privilege, timeout, unavailable).
impl From<tokio_postgres::Error> for DataError {
    fn from(e: tokio_postgres::Error) -> Self {
        db_error(e)
    }
}
