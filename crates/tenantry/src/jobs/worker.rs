//! [`Worker`]: claims jobs from one lane and runs each inside its tenant's
//! context, several at once.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Job, JobError, JobObserver, JobQueue, Lane};
use crate::context::{self, RequestId, TenantContext, TraceParent, trace_id_of};
use crate::registry::{BoxFuture, TenantKey, TenantState, Tenants};

/// Resolves on the next wake-up; never without wake-ups (or once the
/// queue is gone).
async fn woken(wakeups: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    let changed = match wakeups {
        Some(w) => w.changed().await.is_ok(),
        None => false,
    };
    if !changed {
        std::future::pending::<()>().await;
    }
}

/// Records completions off the claim loop: finished jobs' ids are sent
/// here and completed in batches (one statement for all that arrived
/// meanwhile), so a worker never waits for a completion to claim again.
/// Ends once the sender is dropped and everything sent is recorded (or,
/// when the queue stays unreachable, left to the jobs' leases).
/// The watch changes after every recorded batch.
fn spawn_completer(
    queue: Arc<dyn JobQueue>,
) -> (
    tokio::sync::mpsc::UnboundedSender<Vec<i64>>,
    tokio::sync::watch::Receiver<u64>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<i64>>();
    let (recorded, completed) = tokio::sync::watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut pending: Vec<i64> = Vec::new();
        let mut failures = 0u32;
        loop {
            if pending.is_empty() {
                match receiver.recv().await {
                    Some(ids) => pending.extend(ids),
                    None => return,
                }
            }
            while let Ok(ids) = receiver.try_recv() {
                pending.extend(ids);
            }
            match queue.complete(&pending).await {
                Ok(()) => {
                    pending.clear();
                    failures = 0;
                    recorded.send_modify(|n| *n = n.wrapping_add(1));
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, jobs = pending.len(), "could not complete jobs; retrying");
                    if failures >= 20 {
                        // Their leases bring them back; handlers are idempotent.
                        pending.clear();
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(failures))).await;
                }
            }
        }
    });
    (sender, completed, task)
}

/// How an attempt ended, as a handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (after a backoff), if any are left.
    Retry(String),
    /// Can never succeed (bad payload): straight to the dead letters.
    Fatal(String),
    /// Not done yet, and nothing failed: run the job again after this
    /// long, without counting an attempt (a workflow waiting out a grace
    /// period, or backing off by its own count of attempts).
    Later(Duration),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Retry(message)
    }
}

/// A data error in a handler: the database being away or slow is worth a
/// retry; anything else (a constraint, a missing context, a bug) is not.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
impl From<crate::data::DataError> for Failure {
    fn from(e: crate::data::DataError) -> Self {
        use crate::data::ErrorKind;
        match e.kind() {
            // A tenant held since its job was claimed: the queue holds or
            // discards the job on its next claim.
            _ if matches!(e, crate::data::DataError::Fenced(_)) => Failure::Retry(e.to_string()),
            ErrorKind::Unavailable | ErrorKind::Timeout => Failure::Retry(e.to_string()),
            _ => Failure::Fatal(e.to_string()),
        }
    }
}

/// Runs jobs of one kind: `Ok` completes the job.
pub type Handler = Arc<dyn Fn(Job) -> BoxFuture<'static, Result<(), Failure>> + Send + Sync>;

/// How a [`Worker`] claims and retries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// The lane it serves.
    pub lane: Lane,
    /// Its name in the queue (`host:pid:n`), for leases.
    pub name: String,
    /// Jobs it runs at once.
    pub concurrency: usize,
    /// How long a claimed job is held before it counts as lost; running jobs
    /// are renewed every third of it.
    pub lease: Duration,
    /// How long to wait when no job is runnable and no wake-up comes.
    pub idle_poll: Duration,
    /// The first retry's delay; each next one doubles, plus jitter.
    pub base_backoff: Duration,
    /// How long a job of a suspended or provisioning tenant waits before
    /// it is looked at again (no attempt is counted).
    pub held_retry: Duration,
}

impl WorkerOptions {
    /// Defaults for `lane`: 8 at once, 30 s leases, 1 s idle polls, 1 s
    /// first backoff.
    pub fn new(lane: Lane, name: impl Into<String>) -> Self {
        Self {
            lane,
            name: name.into(),
            concurrency: 8,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            base_backoff: Duration::from_secs(1),
            held_retry: Duration::from_secs(30),
        }
    }
}

/// Claims jobs and runs their handlers; see the [module docs](super).
#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    tenants: Tenants,
    handlers: Arc<HashMap<String, Handler>>,
    options: WorkerOptions,
    observer: Option<Arc<dyn JobObserver>>,
}

/// An attempt's result, for the queue.
enum Outcome {
    Done,
    Retry(String),
    Bury(String),
    /// Removed without running: its tenant is leaving (being deleted,
    /// deleted, or its onboarding failed), so the job has nobody to serve.
    Discard,
    /// Back to the queue, no attempt counted: the tenant cannot run jobs now.
    Defer,
    /// Back to the queue after this long, no attempt counted: the handler
    /// asked for it.
    Later(Duration),
}

/// Whether a job's tenant may run it now.
enum Tenancy {
    Runs(TenantContext),
    /// Suspended or provisioning: later.
    Held(TenantState),
    /// Being deleted, deleted, or never onboarded: not at all.
    Leaving(TenantState),
    /// Unknown (a job no tenant of this registry enqueued): never.
    Gone,
}

impl Worker {
    /// A worker on `queue`, looking tenants up in `tenants`.
    pub fn new(queue: Arc<dyn JobQueue>, tenants: Tenants, options: WorkerOptions) -> Self {
        Self {
            queue,
            tenants,
            handlers: Arc::new(HashMap::new()),
            options,
            observer: None,
        }
    }

    /// Reports every finished attempt to `observer` (metrics).
    pub fn observed_by(mut self, observer: Arc<dyn JobObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs jobs of `kind` with `handler`; an `Err` is a failed attempt.
    pub fn handle<F, Fut, E>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Failure>,
    {
        let handler: Handler = Arc::new(move |job| {
            let attempt = handler(job);
            Box::pin(async move { attempt.await.map_err(Into::into) })
        });
        Arc::make_mut(&mut self.handlers).insert(kind.to_owned(), handler);
        self
    }

    /// Runs jobs of `kind` with `handler`, their payload decoded as `T`; a
    /// payload that does not decode goes to the dead letters unrun.
    pub fn handle_json<T, F, Fut, E>(self, kind: &str, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Job, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<Failure>,
    {
        let handler = Arc::new(handler);
        self.handle(kind, move |job: Job| {
            let handler = handler.clone();
            async move {
                let payload = serde_json::from_value::<T>(job.payload.clone())
                    .map_err(|e| Failure::Fatal(format!("undecodable payload: {e}")))?;
                handler(job, payload).await.map_err(Into::into)
            }
        })
    }

    /// Claims one job and runs it to its outcome; whether there was one.
    pub async fn run_once(&self) -> Result<bool, JobError> {
        let jobs = self
            .queue
            .claim(self.options.lane, &self.options.name, self.options.lease, 1)
            .await?;
        let Some(job) = jobs.into_iter().next() else {
            return Ok(false);
        };
        let (job, outcome) = self.clone().attempt(job).await;
        let mut done = Vec::new();
        self.settle(job, outcome, &mut done).await?;
        self.queue.complete(&done).await?;
        Ok(true)
    }

    /// Runs jobs, up to [`concurrency`](WorkerOptions::concurrency) at once,
    /// until `shutdown` completes; then stops claiming and drains: jobs
    /// already started finish and are recorded before it returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut running: JoinSet<(Job, Outcome)> = JoinSet::new();
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut done: Vec<i64> = Vec::new();
        let mut renew = tokio::time::interval(self.options.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping = false;
        let mut wakeups = self.queue.wakeups(self.options.lane);
        let (completions, mut completed, completer) = spawn_completer(self.queue.clone());
        loop {
            while let Some(finished) = running.try_join_next() {
                self.finish(finished, &mut in_flight, &mut done).await;
            }
            if !done.is_empty() {
                let _ = completions.send(std::mem::take(&mut done));
            }
            if stopping && running.is_empty() {
                drop(completions);
                let _ = completer.await;
                return;
            }
            let free = self.options.concurrency.saturating_sub(running.len());
            if !stopping && free > 0 {
                // Seen before the claim: a wake-up from now on is new work.
                if let Some(w) = &mut wakeups {
                    w.borrow_and_update();
                }
                match self
                    .queue
                    .claim(
                        self.options.lane,
                        &self.options.name,
                        self.options.lease,
                        free,
                    )
                    .await
                {
                    Ok(jobs) if !jobs.is_empty() => {
                        let more = jobs.len() == free;
                        for job in jobs {
                            in_flight.insert(job.id);
                            running.spawn(self.clone().attempt(job));
                        }
                        // Other tenants may have work too: claim again at once
                        // while there is room.
                        if !more {
                            continue;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, lane = %self.options.lane, "job worker could not reach the queue")
                    }
                }
            }
            tokio::select! {
                () = &mut shutdown, if !stopping => stopping = true,
                Some(finished) = running.join_next(), if !running.is_empty() => {
                    self.finish(finished, &mut in_flight, &mut done).await;
                }
                () = woken(&mut wakeups), if !stopping && running.len() < self.options.concurrency => {}
                // Completions free cap room: claim again.
                Ok(()) = completed.changed(), if !stopping && running.len() < self.options.concurrency => {}
                () = tokio::time::sleep(self.options.idle_poll), if !stopping => {}
                _ = renew.tick() => self.renew(&in_flight).await,
            }
        }
    }

    async fn finish(
        &self,
        finished: Result<(Job, Outcome), tokio::task::JoinError>,
        in_flight: &mut HashSet<i64>,
        done: &mut Vec<i64>,
    ) {
        match finished {
            Ok((job, outcome)) => {
                in_flight.remove(&job.id);
                if let Err(e) = self.settle(job, outcome, done).await {
                    // The lease brings the job back; it is not lost.
                    tracing::warn!(error = %e, "could not record a job's outcome");
                }
            }
            // A handler that panicked: its job's lease brings it back.
            Err(e) => tracing::error!(error = %e, "job handler panicked"),
        }
    }

    /// Renews running jobs' leases and brings back other workers' lost jobs.
    async fn renew(&self, in_flight: &HashSet<i64>) {
        let ids: Vec<i64> = in_flight.iter().copied().collect();
        if let Err(e) = self.queue.heartbeat(&ids, self.options.lease).await {
            tracing::warn!(error = %e, "could not renew job leases");
        }
        match self.queue.reap_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "requeued jobs of lost workers"),
            Err(e) => tracing::warn!(error = %e, "could not requeue lost jobs"),
        }
    }

    /// Runs one attempt in the job's tenant context, and reports it.
    async fn attempt(self, job: Job) -> (Job, Outcome) {
        let started = std::time::Instant::now();
        let observer = self.observer.clone();
        let (job, outcome) = self.run_attempt(job).await;
        if let Some(observer) = observer {
            let label = match outcome {
                Outcome::Done => "done",
                Outcome::Retry(_) => "retry",
                Outcome::Bury(_) => "dead",
                Outcome::Discard => "discarded",
                Outcome::Defer => "held",
                Outcome::Later(_) => "later",
            };
            observer.finished(&job, started.elapsed(), label);
        }
        (job, outcome)
    }

    async fn run_attempt(self, job: Job) -> (Job, Outcome) {
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let reason = format!("no handler for kind {:?}", job.kind);
            tracing::warn!(job = job.id, tenant = %job.tenant, %reason, "job moved to the dead letters");
            return (job, Outcome::Bury(reason));
        };
        // The job span is made inside the tenant scope, so it nests in the
        // tenant span and every line of the handler names both.
        let run = {
            let job = job.clone();
            async move {
                let span = tracing::info_span!(
                    "job",
                    job_id = job.id,
                    kind = %job.kind,
                    attempt = job.attempt
                );
                let result = handler(job).instrument(span.clone()).await;
                // Logged here, inside the tenant's scope and the job's span,
                // so the line names the tenant and the enqueuing request.
                span.in_scope(|| match &result {
                    Ok(()) => {}
                    Err(Failure::Retry(error)) => tracing::warn!(%error, "job failed"),
                    Err(Failure::Fatal(reason)) => {
                        tracing::warn!(%reason, "job failed for good; moved to the dead letters")
                    }
                    Err(Failure::Later(_)) => {}
                });
                result
            }
        };
        let result = if job.tenant.is_system() {
            context::run_as_system("job", run).await
        } else {
            match self.context_for(&job).await {
                Ok(Tenancy::Runs(ctx)) => ctx.scope(run).await,
                Ok(Tenancy::Held(state)) => {
                    // A suspended tenant's e-mails and webhooks wait for it
                    // to be resumed (or deleted); no attempt is used up.
                    tracing::debug!(job = job.id, tenant = %job.tenant, %state, "job held: its tenant is not active");
                    return (job, Outcome::Defer);
                }
                Ok(Tenancy::Leaving(state)) => {
                    tracing::info!(job = job.id, tenant = %job.tenant, %state, "job discarded: its tenant is leaving");
                    return (job, Outcome::Discard);
                }
                Ok(Tenancy::Gone) => {
                    let reason = format!("unknown tenant {}", job.tenant);
                    tracing::warn!(job = job.id, %reason, "job moved to the dead letters");
                    return (job, Outcome::Bury(reason));
                }
                Err(e) => {
                    tracing::warn!(job = job.id, tenant = %job.tenant, error = %e, "job's tenant lookup failed; will retry");
                    Err(Failure::Retry(format!("tenant lookup failed: {e}")))
                }
            }
        };
        let outcome = match result {
            Ok(()) => Outcome::Done,
            Err(Failure::Retry(error)) => Outcome::Retry(error),
            Err(Failure::Fatal(error)) => Outcome::Bury(error),
            Err(Failure::Later(delay)) => Outcome::Later(delay),
        };
        (job, outcome)
    }

    async fn settle(
        &self,
        job: Job,
        outcome: Outcome,
        done: &mut Vec<i64>,
    ) -> Result<(), JobError> {
        match outcome {
            Outcome::Done | Outcome::Discard => done.push(job.id),
            Outcome::Retry(error) => {
                // Logged by `run_attempt` in the tenant's scope.
                tracing::debug!(job = job.id, attempt = job.attempt, "retry scheduled");
                self.queue
                    .fail(&job, &error, self.backoff(job.attempt))
                    .await?;
            }
            Outcome::Bury(reason) => {
                tracing::debug!(job = job.id, %reason, "buried");
                self.queue.bury(job.id, &reason).await?;
            }
            Outcome::Defer => self.queue.defer(&job, self.options.held_retry).await?,
            Outcome::Later(delay) => self.queue.defer(&job, delay).await?,
        }
        Ok(())
    }

    /// The job's tenant context, from the registry, if its tenant may run
    /// jobs now.
    async fn context_for(&self, job: &Job) -> Result<Tenancy, JobError> {
        let record = self
            .tenants
            .find(&TenantKey::Id(job.tenant))
            .await
            .map_err(|e| JobError::Registry(Box::new(e)))?;
        let Some(record) = record else {
            return Ok(Tenancy::Gone);
        };
        match record.state {
            TenantState::Active => {}
            TenantState::Suspended | TenantState::Provisioning => {
                return Ok(Tenancy::Held(record.state));
            }
            TenantState::Failed | TenantState::Deleting | TenantState::Deleted => {
                return Ok(Tenancy::Leaving(record.state));
            }
        }
        let mut builder = record.context();
        if let Some(request) = job.request_id.as_deref().and_then(RequestId::parse) {
            // The enqueuing span, when it belongs to the request's trace.
            if let Some(parent) = job.trace_parent.as_deref().and_then(TraceParent::parse)
                && parent.trace_id == trace_id_of(request.as_str())
            {
                builder = builder.trace_parent(parent);
            }
            builder = builder.request_id(request);
        }
        Ok(builder.build().map_or(Tenancy::Gone, Tenancy::Runs))
    }

    /// `base · 2^(attempt − 1)`, plus up to as much again of jitter so
    /// retries of many failed jobs do not arrive together.
    fn backoff(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(16);
        let delay = self.options.base_backoff.saturating_mul(1 << exponent);
        let jitter_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX).max(1);
        // Random bits without a random-number crate: a v4 UUID is random.
        let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(jitter_ms)) as u64;
        delay + Duration::from_millis(jitter)
    }
}
