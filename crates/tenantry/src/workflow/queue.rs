//! Workflows driven by the job queue: a workflow is driven by one
//! system-tenant job of kind [`ADVANCE_JOB`] in the
//! [`Lifecycle`](crate::jobs::Lane::Lifecycle) lane, so its steps survive
//! restarts (a lost worker's lease runs out and the job runs again) and
//! take their fair share of the workers beside every tenant's jobs.
//!
//! The job's idempotency key is the workflow's id: there is never more
//! than one job driving a workflow, however often it is scheduled (at
//! start-up, by a retry, by a cancellation), so no two workers run its
//! steps at once. The job does units of work until the workflow ends,
//! waits (a grace period) or backs off after a failed attempt — the last
//! two put the job back for later without using up the job's attempts;
//! the step counts its own.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Advanced, WorkflowError, WorkflowId, Workflows};
use crate::context::{TenantId, run_as_system};
use crate::jobs::{Failure, JobEnvelope, JobQueue, Lane, Worker};

/// The job kind that advances a workflow.
pub const ADVANCE_JOB: &str = "workflow.advance";

#[derive(Serialize, Deserialize)]
struct Advance {
    workflow: i64,
}

/// The longest wait between two looks at a waiting workflow, so a
/// cancellation during a long grace period is acted on within this time.
const WAIT_POLL: Duration = Duration::from_secs(30);

/// The pause before a failed step's next attempt: a quarter second,
/// doubling per attempt, at most five minutes.
fn backoff(attempt: u32) -> Duration {
    let doubled = Duration::from_millis(250).saturating_mul(1 << attempt.saturating_sub(1).min(16));
    doubled.min(Duration::from_secs(300))
}

impl Workflows {
    /// Starts a workflow of `kind` for `tenant` and queues its first unit.
    pub async fn launch(
        &self,
        queue: &dyn JobQueue,
        kind: &str,
        tenant: TenantId,
        input: serde_json::Value,
        requested_by: Option<&str>,
    ) -> Result<WorkflowId, WorkflowError> {
        let id = self.start(kind, tenant, input, requested_by).await?;
        self.schedule(queue, id).await?;
        Ok(id)
    }

    /// Queues the job that drives workflow `id` (nothing new if it has
    /// one queued or running). Also what resumes a workflow whose job was
    /// lost (moved to the dead letters).
    pub async fn schedule(
        &self,
        queue: &dyn JobQueue,
        id: WorkflowId,
    ) -> Result<(), WorkflowError> {
        let record = self.get(id).await?;
        if !record.state.is_live() {
            return Ok(());
        }
        let key = format!("workflow:{id}");
        run_as_system("workflow: schedule the next step", async {
            let job = JobEnvelope::new(ADVANCE_JOB, &Advance { workflow: id.0 })?
                .lane(Lane::Lifecycle)
                // The steps count their own attempts; the job's run out
                // only if workers keep dying under it.
                .max_attempts(100)
                .idempotency_key(key.clone());
            // A concurrent schedule of the same workflow (a start-up resume
            // while it is launched) may win the race for the key: then the
            // next try finds its job.
            let mut tries = 0;
            loop {
                match queue.enqueue(&job).await {
                    Err(crate::jobs::JobError::KeyRace) if tries < 3 => tries += 1,
                    done => break done.map(drop)?,
                };
            }
            // Already queued for later (a wait, a backoff): whoever
            // scheduled it (a cancellation, a retry) wants it now.
            queue.hurry(&key).await.map(drop)
        })
        .await
        .map_err(|e| WorkflowError::Queue {
            id,
            source: Box::new(e),
        })
    }

    /// Queues the job of every live workflow that has none: run at
    /// start-up, so a workflow whose job went to the dead letters is
    /// picked up again.
    pub async fn resume_all(&self, queue: &dyn JobQueue) -> Result<usize, WorkflowError> {
        let live = self.store().live().await?;
        for record in &live {
            self.schedule(queue, record.id).await?;
        }
        Ok(live.len())
    }

    /// `worker` with the handler of [`ADVANCE_JOB`]: the workflow's units
    /// of work one after another until it ends; a failed attempt or a wait
    /// puts the job back for later.
    pub fn drive(&self, worker: Worker) -> Worker {
        let workflows = self.clone();
        worker.handle_json(ADVANCE_JOB, move |_job, advance: Advance| {
            let workflows = workflows.clone();
            async move {
                let id = WorkflowId(advance.workflow);
                loop {
                    let outcome = workflows.advance(id).await.map_err(|e| match e {
                        WorkflowError::NotFound(_) | WorkflowError::UnknownKind(_) => {
                            Failure::Fatal(e.to_string())
                        }
                        other => Failure::Retry(other.to_string()),
                    })?;
                    match outcome {
                        Advanced::More => {}
                        Advanced::Retry { error, attempt } => {
                            tracing::warn!(workflow = %id, attempt, %error, "workflow step failed; will retry");
                            return Err(Failure::Later(backoff(attempt)));
                        }
                        Advanced::Wait(until) => {
                            let left = until
                                .duration_since(SystemTime::now())
                                .unwrap_or_default();
                            return Err(Failure::Later(left.min(WAIT_POLL)));
                        }
                        Advanced::Finished(state) => {
                            tracing::info!(workflow = %id, %state, "workflow finished");
                            return Ok(());
                        }
                    }
                }
            }
        })
    }
}
