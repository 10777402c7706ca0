//! A durable job queue that is fair across tenants.
//!
//! A job is a [`JobEnvelope`], which takes its tenant from the context and
//! cannot be built for another; the [`Worker`] runs each job inside its
//! tenant's context (the registry record decides plan and tier), so a job
//! reaches exactly the data, cache and files its enqueuer could. The
//! tenant's state decides whether it runs: a suspended or provisioning
//! tenant's jobs are held (put back, no attempt used) until it is active; a
//! leaving tenant's (deleting, deleted, failed onboarding) are discarded
//! unrun. A job whose tenant is unknown, or whose kind has no handler, goes
//! to the dead letters with the reason — it never runs globally.
//!
//! Fairness is per lane (`interactive`, `batch`): stride scheduling across
//! tenants, weights and concurrency caps per tenant held across every
//! worker process, pause and resume; see [`PgQueue`]. Delivery: leases
//! (a job whose worker died runs again when its lease runs out), retries
//! with exponential backoff and jitter, dead letters after the last
//! attempt, idempotency keys on enqueue.
//!
//! Backends: PostgreSQL ([`PgQueue`]: `FOR UPDATE SKIP LOCKED`, SQL in
//! `sql/`, `LISTEN/NOTIFY` wake-ups) and SQLite ([`SqliteQueue`], the
//! embedded default). Both implement [`JobQueue`] and pass one conformance
//! suite (`tenantry_testkit::jobs`). [`cron`] enqueues scheduled work
//! exactly once per tick across processes.

// Without a backend (a crate that only builds envelopes) the queues'
// shared helpers have no user.
#![cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]

pub mod cron;
mod envelope;
#[cfg(feature = "postgres")]
mod pg_listen;
#[cfg(feature = "sqlx")]
mod pg_sqlx;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "edge")]
mod response;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stored;
mod worker;

use std::fmt;
use std::str::FromStr;

pub use envelope::JobEnvelope;
#[cfg(feature = "postgres")]
pub use postgres::PgQueue;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteQueue;
pub use worker::{Failure, Handler, Worker, WorkerOptions};

use std::time::Duration;

use crate::context::{self, NoTenantContext, TenantId};
pub use crate::registry::BoxFuture;

/// Pass advance per dispatched job for weight 1 (stride scheduling).
pub(crate) const STRIDE: i64 = 1_000_000;

/// Which dead letters to list: at most `limit`, with ids below `before`.
///
/// ```
/// use tenantry::jobs::DeadPage;
/// let first = DeadPage::first(50);
/// let next = DeadPage { before: Some(1_234), ..first };
/// assert_eq!((next.limit, next.before), (50, Some(1_234)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadPage {
    /// The most dead letters returned (capped at [`DeadPage::MAX_LIMIT`]).
    pub limit: u32,
    /// Only dead letters with a smaller id (the last id of the page before).
    pub before: Option<i64>,
}

impl DeadPage {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 500;

    /// The newest `limit` dead letters.
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            before: None,
        }
    }

    pub(crate) fn sql_limit(&self) -> i64 {
        i64::from(self.limit.min(Self::MAX_LIMIT))
    }
}

/// A boxed future of this module's `Result`: what the trait's methods return.
pub type JobFuture<'a, T> = BoxFuture<'a, Result<T, JobError>>;

/// A durable, tenant-fair job queue; see the [module docs](self).
///
/// Operations on one tenant's jobs ([`dead_letters`](Self::dead_letters),
/// [`retry_dead`](Self::retry_dead), [`discard_dead`](Self::discard_dead),
/// [`stats`](Self::stats)) take the tenant from the context: a tenant sees
/// its own, the system tenant sees all. Operator actions that name a tenant
/// ([`set_paused`](Self::set_paused), [`set_share`](Self::set_share)) run
/// only as the system tenant.
pub trait JobQueue: Send + Sync + 'static {
    /// Enqueues `job`; returns its id, or the id of the job already queued
    /// with the same idempotency key. [`JobError::BacklogFull`] when its
    /// tenant already has its maximum of queued jobs in the lane.
    fn enqueue<'a>(&'a self, job: &'a JobEnvelope) -> JobFuture<'a, i64>;

    /// Claims up to `max` runnable jobs in `lane` for `worker`, leased for
    /// `lease`: jobs of the tenant whose turn it is (empty when none has one).
    fn claim<'a>(
        &'a self,
        lane: Lane,
        worker: &'a str,
        lease: Duration,
        max: usize,
    ) -> JobFuture<'a, Vec<Job>>;

    /// Marks jobs done (they are removed).
    fn complete<'a>(&'a self, ids: &'a [i64]) -> JobFuture<'a, ()>;

    /// Records a failed attempt: queued again after `backoff`, or, past its
    /// attempts, moved to the dead letters with `error`.
    fn fail<'a>(&'a self, job: &'a Job, error: &'a str, backoff: Duration) -> JobFuture<'a, ()>;

    /// Moves job `id` straight to the dead letters: it can never run.
    fn bury<'a>(&'a self, id: i64, reason: &'a str) -> JobFuture<'a, ()>;

    /// Puts a claimed job back, to run after `delay`, without counting the
    /// attempt: its tenant cannot run jobs now (suspended, provisioning).
    fn defer<'a>(&'a self, job: &'a Job, delay: Duration) -> JobFuture<'a, ()>;

    /// Extends the leases of running jobs (a heartbeat from their worker).
    fn heartbeat<'a>(&'a self, ids: &'a [i64], lease: Duration) -> JobFuture<'a, ()>;

    /// Requeues jobs whose lease ran out (their worker died); how many.
    fn reap_expired(&self) -> JobFuture<'_, u64>;

    /// Holds or releases `tenant`'s jobs in `lane` (queued jobs stay queued).
    /// System tenant only.
    fn set_paused(&self, tenant: TenantId, lane: Lane, paused: bool) -> JobFuture<'_, ()>;

    /// Sets `tenant`'s share of `lane`. System tenant only.
    fn set_share(&self, tenant: TenantId, lane: Lane, share: TenantShare) -> JobFuture<'_, ()>;

    /// `tenant`'s share of `lane` as stored, `None` if it has none yet (it
    /// then gets the defaults with its plan's weight). System tenant only.
    fn share(&self, tenant: TenantId, lane: Lane) -> JobFuture<'_, Option<TenantShare>>;

    /// Queued and running counts per tenant in `lane` (the context's
    /// tenant only, unless it is the system tenant).
    fn stats(&self, lane: Lane) -> JobFuture<'_, Vec<TenantQueueStats>>;

    /// One page of dead letters, newest (highest id) first: the context's
    /// tenant's, or all for the system tenant.
    fn dead_letters(&self, page: DeadPage) -> JobFuture<'_, Vec<DeadJob>>;

    /// Queues dead letter `id` again with fresh attempts; `false` when the
    /// context's tenant has no such dead letter.
    fn retry_dead(&self, id: i64) -> JobFuture<'_, bool>;

    /// Deletes dead letter `id`; `false` when the context's tenant has none.
    fn discard_dead(&self, id: i64) -> JobFuture<'_, bool>;

    /// Makes the context tenant's queued job with idempotency key `key`
    /// due now, if it was waiting for a later time (a backoff, a delay);
    /// whether there was one.
    fn hurry<'a>(&'a self, key: &'a str) -> JobFuture<'a, bool>;

    /// Records tick `tick` (Unix seconds) of `schedule` and enqueues `jobs`,
    /// atomically; `false` (and nothing enqueued) when the tick was
    /// recorded before — by this process or any other.
    fn enqueue_tick<'a>(
        &'a self,
        schedule: &'a str,
        tick: i64,
        jobs: &'a [JobEnvelope],
    ) -> JobFuture<'a, bool>;

    /// The last recorded tick of `schedule`.
    fn last_tick<'a>(&'a self, schedule: &'a str) -> JobFuture<'a, Option<i64>>;

    /// Wake-ups for `lane`: the value changes when work may have arrived
    /// (`None` for a queue without them). A watch, not a notification, so
    /// a wake-up sent between a worker's empty claim and its wait is not
    /// lost. Workers also poll.
    fn wakeups(&self, lane: Lane) -> Option<tokio::sync::watch::Receiver<u64>>;
}

/// A tenant's share of a lane: its weight in dispatch, how many of its jobs
/// may run at once across every worker, how fast its jobs may start, and
/// how many may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantShare {
    /// Dispatch weight (≥ 1): a tenant of weight 3 is served three times as
    /// often as one of weight 1 while both have work.
    pub weight: u16,
    /// Jobs running at once, across all workers (≥ 1).
    pub cap: u16,
    /// Jobs started per minute; `None` for no limit.
    pub per_minute: Option<u32>,
    /// Jobs that may wait; enqueue fails beyond it.
    pub max_backlog: u32,
}

impl Default for TenantShare {
    /// Weight 1, 4 at once, no rate limit, 100,000 waiting.
    fn default() -> Self {
        Self {
            weight: 1,
            cap: 4,
            per_minute: None,
            max_backlog: 100_000,
        }
    }
}

impl TenantShare {
    /// Weight `weight`, otherwise the defaults.
    pub fn weight(mut self, weight: u16) -> Self {
        self.weight = weight.max(1);
        self
    }
    /// At most `cap` running at once.
    pub fn cap(mut self, cap: u16) -> Self {
        self.cap = cap.max(1);
        self
    }
    /// At most `per_minute` starts a minute.
    pub fn per_minute(mut self, per_minute: u32) -> Self {
        self.per_minute = Some(per_minute.max(1));
        self
    }
    /// At most `max_backlog` waiting.
    pub fn max_backlog(mut self, max_backlog: u32) -> Self {
        self.max_backlog = max_backlog;
        self
    }
    /// No start rate limit.
    pub fn unlimited_rate(mut self) -> Self {
        self.per_minute = None;
        self
    }
    /// Milliseconds between starts under the rate limit.
    pub(crate) fn interval_ms(&self) -> Option<i64> {
        self.per_minute.map(|n| 60_000 / i64::from(n.max(1)))
    }
    /// The share stored as these columns (the inverse of the setters).
    pub(crate) fn from_columns(
        weight: i32,
        cap: i32,
        rate_interval_ms: Option<i64>,
        max_backlog: i64,
    ) -> Self {
        let clamp16 = |v: i32| u16::try_from(v.max(1)).unwrap_or(u16::MAX);
        Self {
            weight: clamp16(weight),
            cap: clamp16(cap),
            per_minute: rate_interval_ms
                .map(|ms| u32::try_from(60_000 / ms.max(1)).unwrap_or(u32::MAX).max(1)),
            max_backlog: u32::try_from(max_backlog.max(0)).unwrap_or(u32::MAX),
        }
    }
}

/// The tenants the context may see: `None` for the system tenant (all).
pub(crate) fn visible_tenant() -> Result<Option<TenantId>, JobError> {
    let tenant = context::current_tenant_id()?;
    Ok((!tenant.is_system()).then_some(tenant))
}

/// Fails unless the context is the system tenant.
pub(crate) fn require_system() -> Result<(), JobError> {
    if context::current_tenant_id()?.is_system() {
        Ok(())
    } else {
        Err(JobError::SystemOnly)
    }
}

/// A wake-up counter per lane; idle workers watch it.
pub(crate) struct Wakeups {
    interactive: tokio::sync::watch::Sender<u64>,
    batch: tokio::sync::watch::Sender<u64>,
    lifecycle: tokio::sync::watch::Sender<u64>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Self {
            interactive: tokio::sync::watch::Sender::new(0),
            batch: tokio::sync::watch::Sender::new(0),
            lifecycle: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Wakeups {
    fn sender(&self, lane: Lane) -> &tokio::sync::watch::Sender<u64> {
        match lane {
            Lane::Interactive => &self.interactive,
            Lane::Batch => &self.batch,
            Lane::Lifecycle => &self.lifecycle,
        }
    }

    /// Wakes `lane`'s idle workers.
    pub(crate) fn wake(&self, lane: Lane) {
        self.sender(lane).send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn watch(&self, lane: Lane) -> tokio::sync::watch::Receiver<u64> {
        self.sender(lane).subscribe()
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Which worker pool a job runs in: short user-facing work apart from bulk
/// work, so a batch backlog never delays an e-mail a user is waiting for;
/// and tenants' lifecycle workflows apart from both, so onboarding never
/// waits behind a backlog and a process that runs only workflows (the CLI)
/// never claims a job it has no handler for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Short jobs someone is waiting for.
    Interactive,
    /// Everything else.
    Batch,
    /// Lifecycle workflow steps ([`crate::workflow`]), as the system tenant.
    Lifecycle,
}

impl Lane {
    /// Every lane.
    pub const ALL: [Lane; 3] = [Lane::Interactive, Lane::Batch, Lane::Lifecycle];

    /// The lane's name in storage.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Batch => "batch",
            Lane::Lifecycle => "lifecycle",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lane {
    type Err = JobError;
    fn from_str(s: &str) -> Result<Self, JobError> {
        match s {
            "interactive" => Ok(Lane::Interactive),
            "batch" => Ok(Lane::Batch),
            "lifecycle" => Ok(Lane::Lifecycle),
            other => Err(JobError::Invalid(format!("unknown lane {other:?}"))),
        }
    }
}

/// A claimed job.
#[derive(Clone, Debug)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// The tenant it runs for.
    pub tenant: TenantId,
    /// Its lane.
    pub lane: Lane,
    /// Kind (`send_invoice_email`).
    pub kind: String,
    /// Payload.
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The request that enqueued it, if one did.
    pub request_id: Option<String>,
    /// The span that enqueued it (a W3C `traceparent`), when traced.
    pub trace_parent: Option<String>,
    /// How long it waited between becoming due and being claimed.
    pub waited: Duration,
}

/// Told about every finished attempt (metrics): what ran, how long it had
/// waited, how long it ran, and how it ended (`done`, `retry`, `dead`).
pub trait JobObserver: Send + Sync {
    /// One attempt of `job` ended.
    fn finished(&self, job: &Job, ran: Duration, outcome: &'static str);
}

/// A job that will not run again, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    /// Id.
    pub id: i64,
    /// Its lane.
    pub lane: Lane,
    /// Its tenant, if it had one.
    pub tenant: Option<TenantId>,
    /// Kind.
    pub kind: String,
    /// Attempts made.
    pub attempts: i32,
    /// Why it died.
    pub reason: String,
}

/// One tenant's place in a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantQueueStats {
    /// The tenant.
    pub tenant: TenantId,
    /// Jobs waiting (delayed ones included).
    pub queued: i64,
    /// Jobs running now, across every worker.
    pub running: i64,
    /// Whether its jobs are held.
    pub paused: bool,
    /// Its dispatch weight.
    pub weight: i32,
    /// Its concurrency cap.
    pub cap: i32,
}

/// Queue failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Enqueued outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// Bad job fields.
    #[error("{0}")]
    Invalid(String),
    /// A job's payload that does not serialise to JSON.
    #[error("job payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The tenant has its maximum of jobs waiting in the lane.
    #[error("tenant {tenant} has {max} jobs waiting in the {lane} lane, its maximum")]
    BacklogFull {
        /// The tenant.
        tenant: TenantId,
        /// The lane.
        lane: Lane,
        /// Its maximum backlog.
        max: i64,
    },
    /// An operator action attempted outside the system tenant.
    #[error("only the system tenant may do this")]
    SystemOnly,
    /// Another enqueue with the same idempotency key committed while this
    /// one ran: enqueueing again finds that job.
    #[error("job queue: a job with this idempotency key was enqueued concurrently; retry")]
    KeyRace,
    /// The queue cannot take work now (its enqueue batcher stopped).
    #[error("job queue: {0}")]
    Unavailable(&'static str),
    /// The batched enqueue this job was part of failed, for every job in it.
    #[error("job queue: the batched enqueue failed: {0}")]
    Batch(#[source] std::sync::Arc<JobError>),
    /// The tenant registry could not be read (for a job's tenant, or a
    /// cron fan-out's tenants).
    #[error("job queue: reading the registry: {0}")]
    Registry(#[source] Box<crate::registry::RegistryError>),
    /// The data layer failed; the [`DataError`](crate::data::DataError)
    /// says how (unavailable, timeout, constraint, SQLSTATE) and keeps the
    /// driver's error as its source.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}
