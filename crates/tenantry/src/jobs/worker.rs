//! [`Worker`]: claims jobs from one lane and runs each inside its tenant's
//! context.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Job, JobError, Lane, PgQueue};
use crate::context::{self, TenantContext};
use crate::registry::{BoxFuture, TenantKey, TenantState, Tenants};

/// Runs jobs of one kind: `Ok` completes the job, `Err` is a failed attempt.
pub type Handler = Arc<dyn Fn(Job) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// How a [`Worker`] claims and retries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// The lane it serves.
    pub lane: Lane,
    /// Its name in the queue (`host:pid:n`), for leases.
    pub name: String,
    /// How long a claimed job is held before it counts as lost.
    pub lease: Duration,
    /// How long to wait when no job is runnable.
    pub idle_poll: Duration,
    /// The first retry's delay; each next one doubles, plus jitter.
    pub base_backoff: Duration,
}

impl WorkerOptions {
    /// Defaults for `lane`: 30 s leases, 200 ms idle polls, 1 s first backoff.
    pub fn new(lane: Lane, name: impl Into<String>) -> Self {
        Self {
            lane,
            name: name.into(),
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(200),
            base_backoff: Duration::from_secs(1),
        }
    }
}

/// Claims jobs and runs their handlers; see the [module docs](super).
#[derive(Clone)]
pub struct Worker {
    queue: PgQueue,
    tenants: Tenants,
    handlers: Arc<HashMap<String, Handler>>,
    options: WorkerOptions,
}

impl Worker {
    /// A worker on `queue`, looking tenants up in `tenants`.
    pub fn new(queue: PgQueue, tenants: Tenants, options: WorkerOptions) -> Self {
        Self {
            queue,
            tenants,
            handlers: Arc::new(HashMap::new()),
            options,
        }
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle<F, Fut>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |job| Box::pin(handler(job)));
        Arc::make_mut(&mut self.handlers).insert(kind.to_owned(), handler);
        self
    }

    /// Claims one job and runs it to its outcome; whether there was one.
    pub async fn run_once(&self) -> Result<bool, JobError> {
        let Some(job) = self
            .queue
            .claim(self.options.lane, &self.options.name, self.options.lease)
            .await?
        else {
            return Ok(false);
        };
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            self.queue
                .bury(job.id, &format!("no handler for kind {:?}", job.kind))
                .await?;
            return Ok(true);
        };
        let outcome = if job.tenant.is_system() {
            context::run_as_system("job", handler(job.clone())).await
        } else {
            match self.context_for(&job).await? {
                Some(ctx) => ctx.scope(handler(job.clone())).await,
                None => {
                    self.queue
                        .bury(job.id, &format!("unknown or deleted tenant {}", job.tenant))
                        .await?;
                    return Ok(true);
                }
            }
        };
        match outcome {
            Ok(()) => self.queue.complete(job.id).await?,
            Err(error) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, %error, "job failed");
                self.queue
                    .fail(&job, &error, self.backoff(job.attempt))
                    .await?;
            }
        }
        Ok(true)
    }

    /// Runs jobs until `shutdown` completes; a job already started finishes
    /// first (its lease would bring it back otherwise).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let idle = tokio::select! {
                biased;
                () = &mut shutdown => return,
                ran = self.run_once() => match ran {
                    Ok(true) => false,
                    Ok(false) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "job worker could not reach the queue");
                        true
                    }
                },
            };
            if idle {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(self.options.idle_poll) => {}
                }
            }
        }
    }

    /// The job's tenant context, from the registry: `None` when the tenant is
    /// unknown, being deleted or gone.
    async fn context_for(&self, job: &Job) -> Result<Option<TenantContext>, JobError> {
        let record = self
            .tenants
            .find(&TenantKey::Id(job.tenant))
            .await
            .map_err(|e| JobError::Storage(e.to_string()))?;
        let Some(record) = record else {
            return Ok(None);
        };
        if matches!(record.state, TenantState::Deleting | TenantState::Deleted) {
            return Ok(None);
        }
        Ok(TenantContext::builder(record.id, record.slug.clone())
            .plan(record.plan)
            .route(record.route())
            .build()
            .ok())
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
