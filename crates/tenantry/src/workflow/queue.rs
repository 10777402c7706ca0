//! Workflows driven by the job queue: each unit of work (one step, or one
//! compensation) is a system-tenant job of kind [`ADVANCE_JOB`] in the
//! [`Lifecycle`](crate::jobs::Lane::Lifecycle) lane, so steps
//! retry with the queue's backoff, survive restarts (a lost worker's lease
//! runs out and the job runs again) and take their fair share of the
//! workers beside every tenant's jobs.
//!
//! Each job does one unit and enqueues the next. The next job's
//! idempotency key names the workflow's progress (attempts and finished
//! steps so far), so a job that runs twice — its worker died after
//! enqueueing the next one — enqueues nothing new.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Advanced, StepState, WorkflowError, WorkflowId, WorkflowRecord, Workflows};
use crate::context::{TenantId, run_as_system};
use crate::jobs::{Failure, JobEnvelope, JobQueue, Lane, Worker};

/// The job kind that advances a workflow.
pub const ADVANCE_JOB: &str = "workflow.advance";

#[derive(Serialize, Deserialize)]
struct Advance {
    workflow: i64,
}

/// A number that grows with every unit of work done or attempted.
fn progress(record: &WorkflowRecord) -> u32 {
    record
        .steps
        .iter()
        .map(|s| {
            let finished = matches!(
                s.state,
                StepState::Done | StepState::Failed | StepState::Compensated
            );
            s.attempts + u32::from(finished)
        })
        .sum()
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

    /// Queues the next unit of workflow `id` (nothing new if it is queued
    /// already). Also what resumes a workflow whose job was lost.
    pub async fn schedule(
        &self,
        queue: &dyn JobQueue,
        id: WorkflowId,
    ) -> Result<(), WorkflowError> {
        let record = self.get(id).await?;
        if !record.state.is_live() {
            return Ok(());
        }
        let key = format!("workflow:{id}:{}:{}", record.state, progress(&record));
        run_as_system("workflow: schedule the next step", async {
            let job = JobEnvelope::new(ADVANCE_JOB, &Advance { workflow: id.0 })?
                .lane(Lane::Lifecycle)
                .idempotency_key(key);
            queue.enqueue(&job).await.map(drop)
        })
        .await
        .map_err(|e| WorkflowError::Storage(format!("queueing workflow {id}: {e}")))
    }

    /// Queues the next unit of every live workflow: run at start-up, so a
    /// workflow whose job went to the dead letters is picked up again.
    pub async fn resume_all(&self, queue: &dyn JobQueue) -> Result<usize, WorkflowError> {
        let live = self.store().live().await?;
        for record in &live {
            self.schedule(queue, record.id).await?;
        }
        Ok(live.len())
    }

    /// `worker` with the handler of [`ADVANCE_JOB`]: one unit of work per
    /// job, the next one queued on `queue`; a step worth retrying fails the
    /// job (the queue backs off and runs it again).
    pub fn drive(&self, worker: Worker, queue: Arc<dyn JobQueue>) -> Worker {
        let workflows = self.clone();
        worker.handle_json(ADVANCE_JOB, move |_job, advance: Advance| {
            let (workflows, queue) = (workflows.clone(), queue.clone());
            async move {
                let id = WorkflowId(advance.workflow);
                let outcome = workflows.advance(id).await.map_err(|e| match e {
                    WorkflowError::NotFound(_) | WorkflowError::UnknownKind(_) => {
                        Failure::Fatal(e.to_string())
                    }
                    other => Failure::Retry(other.to_string()),
                })?;
                match outcome {
                    Advanced::More => workflows
                        .schedule(&*queue, id)
                        .await
                        .map_err(|e| Failure::Retry(e.to_string())),
                    Advanced::Retry(e) => Err(Failure::Retry(e)),
                    Advanced::Finished(state) => {
                        tracing::info!(workflow = %id, %state, "workflow finished");
                        Ok(())
                    }
                }
            }
        })
    }
}
