//! A durable job queue that is fair across tenants.
//!
//! A job is a [`JobEnvelope`], which takes its tenant from the context and
//! cannot be built for another; the [`Worker`] runs each job inside its
//! tenant's context (the registry record decides plan and tier), so a job
//! reaches exactly the data, cache and files its enqueuer could. A job whose
//! tenant is unknown or gone, or whose kind has no handler, goes to the dead
//! letters with the reason — it never runs globally.
//!
//! Fairness is per lane (`interactive`, `batch`): stride scheduling across
//! tenants, weights and concurrency caps per tenant held across every
//! worker process, pause and resume; see [`PgQueue`]. Delivery: leases
//! (a job whose worker died runs again when its lease runs out), retries
//! with exponential backoff and jitter, dead letters after the last
//! attempt, idempotency keys on enqueue.
//!
//! Backends: PostgreSQL (`FOR UPDATE SKIP LOCKED`, SQL in `sql/`). The
//! SQLite backend of the embedded default is still to come.

mod envelope;
mod postgres;
mod worker;

use std::fmt;
use std::str::FromStr;

pub use envelope::JobEnvelope;
pub use postgres::PgQueue;
pub use worker::{Handler, Worker, WorkerOptions};

use crate::context::{NoTenantContext, TenantId};

/// Which worker pool a job runs in: short user-facing work apart from bulk
/// work, so a batch backlog never delays an e-mail a user is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Short jobs someone is waiting for.
    Interactive,
    /// Everything else.
    Batch,
}

impl Lane {
    /// The lane's name in storage.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Lane::Interactive => "interactive",
            Lane::Batch => "batch",
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
}

/// A job that will not run again, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJob {
    /// Id.
    pub id: i64,
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
    /// The queue's storage failed.
    #[error("job queue: {0}")]
    Storage(String),
}
