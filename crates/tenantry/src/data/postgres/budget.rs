//! One connection budget for every PostgreSQL pool of a process.
//!
//! The shared pool and each database-tier tenant's pool are separate
//! deadpool pools, but they all open connections through
//! [`BudgetedManager`], which takes a permit from one [`ConnectionBudget`]
//! before connecting and gives it back when the connection closes. So the
//! number of open connections — idle ones included — never exceeds the
//! budget, however many tenants are active: PostgreSQL never answers "too
//! many clients" because of us.
//!
//! When the budget is spent, idle connections of other pools are closed to
//! make room, least recently used first. Connections in use are never
//! taken; if none is idle the caller waits, up to the pool's create
//! timeout, and then fails as [`DataError::Unavailable`](crate::data::DataError)
//! (a 503 upstream).

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult, WeakPool};
use deadpool_postgres::ClientWrapper;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often a caller waiting on a spent budget looks for idle connections
/// that other pools returned meanwhile (pools do not announce returns).
const RECLAIM_INTERVAL: Duration = Duration::from_millis(20);

/// A pool whose connections count against a [`ConnectionBudget`].
pub(crate) type BudgetedPool = managed::Pool<BudgetedManager>;

/// A connection checked out of a [`BudgetedPool`].
pub type PooledClient = managed::Object<BudgetedManager>;

/// The process-wide cap on open PostgreSQL connections.
pub(crate) struct ConnectionBudget {
    permits: Arc<Semaphore>,
    limit: usize,
    // Pools that may give up idle connections; weak, so a dropped pool
    // just disappears from the list.
    pools: Mutex<Vec<WeakPool<BudgetedManager>>>,
}

impl ConnectionBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            pools: Mutex::new(Vec::new()),
        })
    }

    /// The cap.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Connections open now, idle or in use.
    pub(crate) fn open(&self) -> usize {
        self.limit - self.permits.available_permits()
    }

    /// Lets `pool`'s idle connections be closed when another pool needs room.
    pub(crate) fn register(&self, pool: &BudgetedPool) {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|weak| weak.upgrade().is_some());
        pools.push(pool.weak());
    }

    /// A permit for one new connection; the caller's pool bounds the wait
    /// with its create timeout.
    async fn acquire(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return permit;
            }
            if self.close_one_idle() {
                continue;
            }
            // Closed semaphores are never made here, so only the timeout ends this.
            if let Ok(Ok(permit)) =
                tokio::time::timeout(RECLAIM_INTERVAL, self.permits.clone().acquire_owned()).await
            {
                return permit;
            }
        }
    }

    /// Closes the idle connection unused the longest, across all pools;
    /// false if no pool has one.
    fn close_one_idle(&self) -> bool {
        let pools: Vec<BudgetedPool> = {
            let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
            pools.iter().filter_map(WeakPool::upgrade).collect()
        };
        let mut oldest: Option<(usize, Duration)> = None;
        for (index, pool) in pools.iter().enumerate() {
            // `retain` is the only way to look at idle objects; keep them all.
            pool.retain(|_, metrics| {
                let idle = metrics.last_used();
                if oldest.is_none_or(|(_, best)| idle > best) {
                    oldest = Some((index, idle));
                }
                true
            });
        }
        let Some((index, _)) = oldest else {
            return false;
        };
        let mut closed = false;
        pools[index].retain(|_, _| {
            // Close one (the first idle one is as good: all are idle).
            let keep = closed;
            closed = true;
            keep
        });
        closed
    }
}

/// Why a budgeted connection could not be opened.
#[derive(Debug)]
pub enum ConnectError {
    /// PostgreSQL refused or failed the connection.
    Postgres(tokio_postgres::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Postgres(e) => write!(f, "{}", super::db_error_text(e)),
        }
    }
}

impl std::error::Error for ConnectError {}

/// deadpool's PostgreSQL manager, with a budget permit held by every
/// connection it opens.
pub struct BudgetedManager {
    inner: deadpool_postgres::Manager,
    budget: Arc<ConnectionBudget>,
}

impl BudgetedManager {
    pub(crate) fn new(inner: deadpool_postgres::Manager, budget: Arc<ConnectionBudget>) -> Self {
        Self { inner, budget }
    }
}

/// A PostgreSQL connection that holds one permit of the budget.
pub struct BudgetedClient {
    client: ClientWrapper,
    // Released when the connection is dropped (closed).
    _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for BudgetedClient {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl std::ops::DerefMut for BudgetedClient {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.client
    }
}

impl managed::Manager for BudgetedManager {
    type Type = BudgetedClient;
    type Error = ConnectError;

    async fn create(&self) -> Result<BudgetedClient, ConnectError> {
        let permit = self.budget.acquire().await;
        let client = managed::Manager::create(&self.inner)
            .await
            .map_err(ConnectError::Postgres)?;
        Ok(BudgetedClient {
            client,
            _permit: permit,
        })
    }

    async fn recycle(
        &self,
        conn: &mut BudgetedClient,
        metrics: &Metrics,
    ) -> RecycleResult<ConnectError> {
        managed::Manager::recycle(&self.inner, &mut conn.client, metrics)
            .await
            .map_err(|e| match e {
                RecycleError::Message(m) => RecycleError::Message(m),
                RecycleError::Backend(e) => RecycleError::Backend(ConnectError::Postgres(e)),
            })
    }

    fn detach(&self, conn: &mut BudgetedClient) {
        managed::Manager::detach(&self.inner, &mut conn.client);
    }
}
