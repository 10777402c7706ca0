//! Durable lifecycle workflows: an ordered list of named steps for one
//! tenant (onboarding, plan change, offboarding, a tier move), each step's
//! progress persisted, so that a process killed anywhere resumes where the
//! last one stopped.
//!
//! - A **step** is idempotent (running it again after a crash has the
//!   effect of running it once) and may have a **compensation** that undoes
//!   it. A step's state — pending, running, done, failed, compensating,
//!   compensated — with its attempts, last error, start, end and deadline
//!   is in the control plane ([`WorkflowStore`]: PostgreSQL and SQLite, one
//!   conformance suite).
//! - **One workflow per tenant at a time**: a second
//!   [`Workflows::start`] for a tenant with one running fails with
//!   [`WorkflowError::Busy`], naming the running one (an HTTP 409).
//! - **Failure** of step *k* after its attempts runs the compensations of
//!   steps *k−1 … 1*, newest first; the workflow ends `failed` with the
//!   reason.
//! - **Stuck**: a step still running past its deadline is reported by
//!   [`Workflows::stuck`].
//!
//! [`Workflows::advance`] does one unit of work (one step, or one
//! compensation) and says whether there is more; the job queue drives it
//! (one job per unit, so steps retry with the queue's backoff, survive
//! restarts and share the workers fairly), and so can a loop in a test.
//!
//! ```
//! use std::time::Duration;
//! use tenantry::workflow::{Step, WorkflowDef};
//!
//! let onboarding = WorkflowDef::new("onboarding")
//!     .step(Step::new("schema", |_| async { Ok(()) }).deadline(Duration::from_secs(300)))
//!     .step(Step::new("bucket", |_| async { Ok(()) }).compensate(|_| async { Ok(()) }));
//! assert_eq!(onboarding.step_names(), ["schema", "bucket"]);
//! ```

mod engine;
#[cfg(feature = "jobs")]
mod queue;
mod record;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stored;

pub use engine::{
    Advanced, Step, StepCause, StepContext, StepError, Stuck, WorkflowDef, Workflows,
};
#[cfg(feature = "jobs")]
pub use queue::ADVANCE_JOB;
pub use record::{StepRecord, StepState, WorkflowId, WorkflowRecord, WorkflowState};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use stored::SqlWorkflowStore;

use std::time::SystemTime;

use crate::context::TenantId;
use crate::registry::BoxFuture;

/// Workflow failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// The tenant already has a workflow running.
    #[error("tenant {tenant} already has workflow {running} ({kind}) running")]
    Busy {
        /// The tenant.
        tenant: TenantId,
        /// The running workflow.
        running: WorkflowId,
        /// Its kind.
        kind: String,
    },
    /// No workflow by this id.
    #[error("no workflow {0}")]
    NotFound(WorkflowId),
    /// No definition for this kind is registered.
    #[error("no workflow kind {0:?} is registered")]
    UnknownKind(String),
    /// The workflow is not in a state that allows this.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error("workflow storage: {0}")]
    Data(#[from] crate::data::DataError),
    /// The workflow's job could not be queued.
    #[cfg(feature = "jobs")]
    #[error("queueing workflow {id}: {source}")]
    Queue {
        /// The workflow.
        id: WorkflowId,
        /// Why.
        #[source]
        source: Box<crate::jobs::JobError>,
    },
}

/// A workflow to record: its tenant, kind, input and step names.
#[derive(Clone, Debug)]
pub struct NewWorkflow<'a> {
    /// The tenant it is for.
    pub tenant: TenantId,
    /// Its kind (`onboarding`).
    pub kind: &'a str,
    /// What its steps read.
    pub input: &'a serde_json::Value,
    /// Who asked (an operator, a sign-up), for the record.
    pub requested_by: Option<&'a str>,
    /// Its steps' names, in order.
    pub steps: &'a [&'a str],
}

/// A boxed future of this module's `Result`: what its traits' methods return.
pub type WorkflowFuture<'a, T> = BoxFuture<'a, Result<T, WorkflowError>>;

/// Where workflows and their steps are kept.
pub trait WorkflowStore: Send + Sync + 'static {
    /// Records a new running workflow with every step pending; fails with
    /// [`WorkflowError::Busy`] when the tenant has one running.
    fn start<'a>(&'a self, new: NewWorkflow<'a>) -> WorkflowFuture<'a, WorkflowId>;

    /// Workflow `id` with its steps.
    fn get(&self, id: WorkflowId) -> WorkflowFuture<'_, Option<WorkflowRecord>>;

    /// Workflows newest first: one tenant's, or every tenant's; at most `limit`.
    fn list(&self, tenant: Option<TenantId>, limit: u32)
    -> WorkflowFuture<'_, Vec<WorkflowRecord>>;

    /// Every running or compensating workflow.
    fn live(&self) -> WorkflowFuture<'_, Vec<WorkflowRecord>>;

    /// Marks step `position` of `id` as `state` (running or compensating),
    /// one more attempt, started now, due by `deadline`; returns the attempt.
    fn begin_step(
        &self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        deadline: SystemTime,
    ) -> WorkflowFuture<'_, u32>;

    /// Records the end (or a failed attempt) of step `position`: its new
    /// state and the error, if any. A terminal state sets its finish time.
    fn end_step<'a>(
        &'a self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        error: Option<&'a str>,
    ) -> WorkflowFuture<'a, ()>;

    /// Replaces workflow `id`'s input (an operator's later decision a step
    /// reads: a hold released, a retention cut short).
    fn set_input<'a>(
        &'a self,
        id: WorkflowId,
        input: &'a serde_json::Value,
    ) -> WorkflowFuture<'a, ()>;

    /// Moves workflow `id` to `state` with `error` (kept when `None`); a
    /// terminal state sets its finish time.
    fn set_state<'a>(
        &'a self,
        id: WorkflowId,
        state: WorkflowState,
        error: Option<&'a str>,
    ) -> WorkflowFuture<'a, ()>;
}
