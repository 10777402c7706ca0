//! [`Workflows`]: runs registered [`WorkflowDef`]s one unit of work at a
//! time over a [`WorkflowStore`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    NewWorkflow, StepRecord, StepState, WorkflowError, WorkflowId, WorkflowRecord, WorkflowState,
    WorkflowStore,
};
use crate::context::TenantId;
use crate::registry::BoxFuture;

/// The error under a [`StepError`], kept whole (a caller may downcast it);
/// a `String` or `&str` converts too.
pub type StepCause = Box<dyn std::error::Error + Send + Sync>;

/// Why a step did not finish. The workflow's record keeps the cause's text.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Worth another attempt (a service away, a timeout).
    #[error(transparent)]
    Retry(StepCause),
    /// Will fail again however often it is tried (bad input, a refusal).
    #[error(transparent)]
    Fatal(StepCause),
}

impl StepError {
    /// Worth another attempt: `cause` is kept as the source.
    pub fn retry<E: Into<StepCause>>(cause: E) -> Self {
        Self::Retry(cause.into())
    }

    /// Will fail again: `cause` is kept as the source.
    pub fn fatal<E: Into<StepCause>>(cause: E) -> Self {
        Self::Fatal(cause.into())
    }
}

/// What a step is given.
#[derive(Clone, Debug)]
pub struct StepContext {
    /// The workflow.
    pub workflow: WorkflowId,
    /// The tenant it is for.
    pub tenant: TenantId,
    /// The workflow's input.
    pub input: Arc<serde_json::Value>,
    /// This attempt, from 1.
    pub attempt: u32,
    /// For a compensation: whether the workflow is being undone because
    /// it was cancelled (an operator's decision), not because a step
    /// failed — some undoing (giving a tenant its service back) is only
    /// right on a cancellation.
    pub cancelled: bool,
}

type StepFn = Arc<dyn Fn(StepContext) -> BoxFuture<'static, Result<(), StepError>> + Send + Sync>;
type WaitFn = Arc<dyn Fn(&serde_json::Value) -> Option<SystemTime> + Send + Sync>;

fn boxed<F, Fut>(f: F) -> StepFn
where
    F: Fn(StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), StepError>> + Send + 'static,
{
    Arc::new(move |ctx| Box::pin(f(ctx)))
}

/// One step of a [`WorkflowDef`].
#[derive(Clone)]
pub struct Step {
    name: &'static str,
    deadline: Duration,
    attempts: u32,
    run: StepFn,
    compensate: Option<StepFn>,
    not_before: Option<WaitFn>,
    no_return: bool,
}

impl Step {
    /// A step `name` that runs `run` (idempotent: it may run again after a
    /// crash), due within 5 minutes, tried up to 5 times.
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        Self {
            name,
            deadline: Duration::from_secs(300),
            attempts: 5,
            run: boxed(run),
            compensate: None,
            not_before: None,
            no_return: false,
        }
    }

    /// Holds the step until the time `when` reads from the workflow's input
    /// (a grace period): until then the workflow waits — no attempt is
    /// used, nothing is stuck, and a cancellation is still heard.
    pub fn not_before<F>(mut self, when: F) -> Self
    where
        F: Fn(&serde_json::Value) -> Option<SystemTime> + Send + Sync + 'static,
    {
        self.not_before = Some(Arc::new(when));
        self
    }

    /// Marks the step as the point of no return (it destroys what the
    /// compensations would restore): once it has started, the workflow
    /// can no longer be cancelled, and a later step that fails is retried
    /// until it works (reported stuck past its deadline) instead of
    /// undoing the ones before.
    pub fn point_of_no_return(mut self) -> Self {
        self.no_return = true;
        self
    }

    /// What undoes the step (idempotent too) when a later one fails.
    pub fn compensate<F, Fut>(mut self, undo: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), StepError>> + Send + 'static,
    {
        self.compensate = Some(boxed(undo));
        self
    }

    /// How long an attempt may take before the workflow counts as stuck.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Attempts before the step fails (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }
}

/// A kind of workflow: its name and its steps.
#[derive(Clone)]
pub struct WorkflowDef {
    kind: String,
    steps: Vec<Step>,
}

impl WorkflowDef {
    /// A workflow kind `kind` without steps yet.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            steps: Vec::new(),
        }
    }

    /// Adds `step` after the others.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Its kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Its steps' names, in order.
    pub fn step_names(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.name).collect()
    }

    /// Whether the step at `position`, or one before it, is a point of no
    /// return.
    fn committed_at(&self, position: u32) -> bool {
        self.steps
            .iter()
            .take(position as usize + 1)
            .any(|s| s.no_return)
    }
}

/// What one [`Workflows::advance`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advanced {
    /// A unit of work finished; call again for the next.
    More,
    /// The attempt failed and may be tried again (after a backoff): the
    /// error, and which attempt of the step it was.
    Retry {
        /// What failed.
        error: String,
        /// The step's attempt that failed, from 1 (for the backoff).
        attempt: u32,
    },
    /// The next step may not start before this time.
    Wait(SystemTime),
    /// Nothing is left: the workflow is in this final state.
    Finished(WorkflowState),
}

/// A workflow with a step past its deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct Stuck {
    /// The workflow.
    pub workflow: WorkflowRecord,
    /// The overdue step's name.
    pub step: String,
}

/// The registered workflow kinds over a store.
#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn WorkflowStore>,
    defs: Arc<HashMap<String, WorkflowDef>>,
}

impl Workflows {
    /// Workflows of the kinds in `defs`, kept in `store`.
    pub fn new(store: Arc<dyn WorkflowStore>, defs: impl IntoIterator<Item = WorkflowDef>) -> Self {
        Self {
            store,
            defs: Arc::new(defs.into_iter().map(|d| (d.kind.clone(), d)).collect()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn WorkflowStore> {
        &self.store
    }

    /// Starts a workflow of `kind` for `tenant`; [`WorkflowError::Busy`]
    /// when the tenant already has one running.
    pub async fn start(
        &self,
        kind: &str,
        tenant: TenantId,
        input: serde_json::Value,
        requested_by: Option<&str>,
    ) -> Result<WorkflowId, WorkflowError> {
        let def = self.def(kind)?;
        let names = def.step_names();
        self.store
            .start(NewWorkflow {
                tenant,
                kind,
                input: &input,
                requested_by,
                steps: &names,
            })
            .await
    }

    /// Workflow `id`.
    pub async fn get(&self, id: WorkflowId) -> Result<WorkflowRecord, WorkflowError> {
        self.store.get(id).await?.ok_or(WorkflowError::NotFound(id))
    }

    fn def(&self, kind: &str) -> Result<&WorkflowDef, WorkflowError> {
        self.defs
            .get(kind)
            .ok_or_else(|| WorkflowError::UnknownKind(kind.to_owned()))
    }

    /// Does the next unit of work of workflow `id`: runs its first
    /// unfinished step, or — when compensating — undoes its newest done
    /// step. Safe to call again after a crash at any point: a step marked
    /// running is simply run again (steps are idempotent).
    pub async fn advance(&self, id: WorkflowId) -> Result<Advanced, WorkflowError> {
        let record = self.get(id).await?;
        let def = self.def(&record.kind)?;
        let cancelled = record
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with(CANCELLED));
        let ctx = |attempt| StepContext {
            workflow: id,
            tenant: record.tenant,
            input: Arc::new(record.input.clone()),
            attempt,
            cancelled,
        };
        match record.state {
            WorkflowState::Running => {
                let Some(step) = record.steps.iter().find(|s| s.state != StepState::Done) else {
                    self.store
                        .set_state(id, WorkflowState::Succeeded, None)
                        .await?;
                    return Ok(Advanced::Finished(WorkflowState::Succeeded));
                };
                let spec = self.spec(def, step)?;
                if let Some(when) = spec.not_before.as_ref().and_then(|f| f(&record.input))
                    && when > SystemTime::now()
                {
                    return Ok(Advanced::Wait(when));
                }
                let attempt = self
                    .store
                    .begin_step(id, step.position, StepState::Running, deadline(spec))
                    .await?;
                let committed = def.committed_at(step.position);
                match (spec.run)(ctx(attempt)).await {
                    Ok(()) => {
                        self.store
                            .end_step(id, step.position, StepState::Done, None)
                            .await?;
                        Ok(Advanced::More)
                    }
                    Err(StepError::Retry(e)) if attempt < spec.attempts => {
                        let e = e.to_string();
                        self.store
                            .end_step(id, step.position, StepState::Running, Some(&e))
                            .await?;
                        Ok(Advanced::Retry { error: e, attempt })
                    }
                    Err(e) if committed => {
                        // Past the point of no return there is nothing to
                        // go back to: the step is tried until it works.
                        let e = e.to_string();
                        self.store
                            .end_step(id, step.position, StepState::Running, Some(&e))
                            .await?;
                        Ok(Advanced::Retry { error: e, attempt })
                    }
                    Err(e) => {
                        let e = e.to_string();
                        self.store
                            .end_step(id, step.position, StepState::Failed, Some(&e))
                            .await?;
                        let reason = format!("step {} failed: {e}", step.name);
                        self.store
                            .set_state(id, WorkflowState::Compensating, Some(&reason))
                            .await?;
                        Ok(Advanced::More)
                    }
                }
            }
            WorkflowState::Compensating => {
                let undo = record
                    .steps
                    .iter()
                    .rev()
                    .find(|s| matches!(s.state, StepState::Done | StepState::Compensating));
                let Some(step) = undo else {
                    let end = if record
                        .error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(CANCELLED))
                    {
                        WorkflowState::Cancelled
                    } else {
                        WorkflowState::Failed
                    };
                    self.store.set_state(id, end, None).await?;
                    return Ok(Advanced::Finished(end));
                };
                let spec = self.spec(def, step)?;
                let attempt = self
                    .store
                    .begin_step(id, step.position, StepState::Compensating, deadline(spec))
                    .await?;
                let undone = match &spec.compensate {
                    Some(undo) => undo(ctx(attempt)).await,
                    None => Ok(()),
                };
                match undone {
                    Ok(()) => {
                        self.store
                            .end_step(id, step.position, StepState::Compensated, None)
                            .await?;
                        Ok(Advanced::More)
                    }
                    Err(e) => {
                        // A compensation is retried until it works: what it
                        // undoes must not be left half-undone.
                        let e = e.to_string();
                        self.store
                            .end_step(id, step.position, StepState::Compensating, Some(&e))
                            .await?;
                        Ok(Advanced::Retry { error: e, attempt })
                    }
                }
            }
            done => Ok(Advanced::Finished(done)),
        }
    }

    /// Stops a running workflow: its done steps are undone (by the next
    /// [`advance`](Self::advance) calls) and it ends `cancelled`.
    pub async fn cancel(&self, id: WorkflowId, by: &str) -> Result<(), WorkflowError> {
        let record = self.get(id).await?;
        if record.state != WorkflowState::Running {
            return Err(WorkflowError::Invalid(format!(
                "workflow {id} is {}, not running",
                record.state
            )));
        }
        let def = self.def(&record.kind)?;
        if let Some(step) = record
            .steps
            .iter()
            .filter(|s| s.state != StepState::Pending)
            .find(|s| def.committed_at(s.position))
        {
            return Err(WorkflowError::Invalid(format!(
                "workflow {id} is past step {}, its point of no return: it can no longer be cancelled",
                step.name
            )));
        }
        let reason = format!("{CANCELLED} by {by}");
        self.store
            .set_state(id, WorkflowState::Compensating, Some(&reason))
            .await
    }

    /// Live workflows with a step in progress past its deadline at `now`.
    pub async fn stuck(&self, now: SystemTime) -> Result<Vec<Stuck>, WorkflowError> {
        Ok(self
            .store
            .live()
            .await?
            .into_iter()
            .filter_map(|workflow| {
                let step = workflow.overdue_step(now)?.name.clone();
                Some(Stuck { workflow, step })
            })
            .collect())
    }

    fn spec<'d>(&self, def: &'d WorkflowDef, step: &StepRecord) -> Result<&'d Step, WorkflowError> {
        def.steps
            .get(step.position as usize)
            .filter(|s| s.name == step.name)
            .ok_or_else(|| {
                WorkflowError::Invalid(format!(
                    "workflow kind {} has no step {} at {}: the definition changed under a live workflow",
                    def.kind, step.name, step.position
                ))
            })
    }
}

/// How a cancellation's reason starts.
const CANCELLED: &str = "cancelled";

fn deadline(step: &Step) -> SystemTime {
    SystemTime::now() + step.deadline
}
