//! The database tier on PostgreSQL: one database per tenant, one small pool
//! per database, opened when the tenant is first used.
//!
//! Pools are kept in a map bounded by `max_pools` (least recently used
//! dropped first) and swept for idle connections in the background; every
//! connection of every pool counts against the process's
//! [`ConnectionBudget`](super::budget), so a thousand active tenants share
//! the same few dozen connections instead of each holding its own.
//!
//! A tenant's database is named by [`database_for`]: derived from the
//! control database's name and the tenant id, so nothing about it is
//! stored and two deployments on one server never collide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};

use super::budget::{BudgetedManager, BudgetedPool, ConnectionBudget};
use super::{PgPoolOptions, pool_timeouts};
use crate::context::TenantId;
use crate::data::DataError;

/// The database that holds database-tier tenant `tenant`'s tables, for a
/// deployment whose control database is `control_database`:
/// `tdb_<8 hex digits of the control database's name>_<tenant id in hex>`,
/// 45 characters whatever the control database is called (PostgreSQL
/// truncates names past 63).
///
/// ```
/// use tenantry::context::TenantId;
/// use tenantry::data::postgres::database_for;
///
/// let id: TenantId = "6a0c1e48-53a4-4f3e-9d57-5b6c2e1f0a11".parse().unwrap();
/// let name = database_for("tenantry", id);
/// assert!(name.starts_with("tdb_") && name.ends_with("6a0c1e4853a44f3e9d575b6c2e1f0a11"));
/// assert_ne!(name, database_for("tenantry_staging", id));
/// ```
pub fn database_for(control_database: &str, tenant: TenantId) -> String {
    format!(
        "{}{}",
        tenant_database_prefix(control_database),
        tenant.as_uuid().simple()
    )
}

/// The prefix every tenant database of one deployment shares
/// (`tdb_<hash>_`), e.g. to list or drop them all.
pub fn tenant_database_prefix(control_database: &str) -> String {
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let hash = control_database.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("tdb_{hash:08x}_")
}

struct Entry {
    pool: BudgetedPool,
    // The server the pool connects to (`None`: the default one).
    server: Option<Arc<str>>,
    last_used: Instant,
}

/// Per-tenant pools for database-tier tenants.
pub(crate) struct TenantPools {
    app: tokio_postgres::Config,
    tls: super::PgTls,
    control_database: String,
    budget: Arc<ConnectionBudget>,
    options: PgPoolOptions,
    pools: Mutex<HashMap<TenantId, Entry>>,
    sweeper_started: std::sync::Once,
}

impl TenantPools {
    pub(crate) fn new(
        app: tokio_postgres::Config,
        tls: super::PgTls,
        budget: Arc<ConnectionBudget>,
        options: PgPoolOptions,
    ) -> Result<Arc<Self>, DataError> {
        let control_database = app
            .get_dbname()
            .ok_or_else(|| DataError::Unavailable("the PostgreSQL URL names no database".into()))?
            .to_owned();
        Ok(Arc::new(Self {
            app,
            tls,
            control_database,
            budget,
            options,
            pools: Mutex::new(HashMap::new()),
            sweeper_started: std::sync::Once::new(),
        }))
    }

    /// Every tenant pool's connections, summed.
    pub(crate) fn usage(&self) -> super::PoolUse {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools
            .values()
            .fold(super::PoolUse::default(), |sum, entry| {
                let status = entry.pool.status();
                super::PoolUse {
                    open: sum.open + status.size,
                    idle: sum.idle + status.available,
                    waiting: sum.waiting + status.waiting,
                }
            })
    }

    pub(crate) fn database_for(&self, tenant: TenantId) -> String {
        database_for(&self.control_database, tenant)
    }

    /// `tenant`'s pool on `server` (`None`: the default server), opened on
    /// first use; a tenant whose server changed gets a new pool.
    pub(crate) fn pool_for(
        self: &Arc<Self>,
        tenant: TenantId,
        server: Option<&str>,
    ) -> Result<BudgetedPool, DataError> {
        self.sweeper_started.call_once(|| self.start_sweeper());
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = pools.get_mut(&tenant)
            && entry.server.as_deref() == server
        {
            entry.last_used = Instant::now();
            return Ok(entry.pool.clone());
        }
        let pool = self.open(tenant, server)?;
        if pools.len() >= self.options.max_tenant_pools && !pools.contains_key(&tenant) {
            // Dropping a pool closes its idle connections; those in use
            // close when returned.
            if let Some(lru) = pools
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(id, _)| *id)
            {
                pools.remove(&lru);
            }
        }
        pools.insert(
            tenant,
            Entry {
                pool: pool.clone(),
                server: server.map(Arc::from),
                last_used: Instant::now(),
            },
        );
        Ok(pool)
    }

    /// How many tenant pools are open.
    pub(crate) fn len(&self) -> usize {
        self.pools.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn open(&self, tenant: TenantId, server: Option<&str>) -> Result<BudgetedPool, DataError> {
        let mut config = super::on_server(&self.app, server)?;
        config.dbname(self.database_for(tenant));
        let manager = Manager::from_config(
            config,
            self.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = BudgetedPool::builder(BudgetedManager::new(manager, self.budget.clone()))
            .max_size(self.options.per_tenant.min(self.budget.limit()))
            .timeouts(pool_timeouts(self.options.acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| {
                DataError::Unavailable(crate::data::DbFailure::new(e.to_string()).with_source(e))
            })?;
        self.budget.register(&pool);
        Ok(pool)
    }

    /// Every `idle_timeout / 2`, closes connections idle longer than
    /// `idle_timeout` and forgets pools left with none.
    fn start_sweeper(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let period = (self.options.idle_timeout / 2).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(pools) = weak.upgrade() else { return };
                pools.sweep();
            }
        });
    }

    fn sweep(&self) {
        let idle_timeout = self.options.idle_timeout;
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|_, entry| {
            entry
                .pool
                .retain(|_, metrics| metrics.last_used() < idle_timeout);
            entry.pool.status().size > 0 || entry.last_used.elapsed() < idle_timeout
        });
    }
}
