//! Tenant lifecycle workflows of the reference server, on
//! [`tenantry::workflow`]: durable steps with compensations, run as
//! system-tenant jobs in the lifecycle lane (by the server's workers, or by
//! the CLI command that started them).

use crate::error::ServerError;
pub(crate) mod everywhere;
pub mod offboarding;
mod onboarding;
mod plan_change;
pub mod tier_move;

use std::sync::Arc;
use std::time::Duration;

use tenantry::jobs::{Lane, Worker, WorkerOptions};
use tenantry::workflow::{StepContext, StepError, WorkflowId, WorkflowRecord, Workflows};

use crate::services::Services;

pub(crate) use offboarding::{OFFBOARDING, Offboarding, export_name, outbox_of};
pub use onboarding::first_admin_id;
pub(crate) use onboarding::{ONBOARDING, Onboarding};
pub(crate) use plan_change::{PLAN_CHANGE, PlanChange};

/// Why a tenant was not onboarded.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    /// It could not be registered (see [`crate::provision::RegisterError`]).
    #[error(transparent)]
    Register(#[from] crate::provision::RegisterError),
    /// The onboarding's input did not serialise.
    #[error("onboarding input: {0}")]
    Input(#[from] serde_json::Error),
    /// It was registered, but its onboarding could not be queued.
    #[error("queueing its onboarding: {0}")]
    Launch(#[from] tenantry::workflow::WorkflowError),
}

/// The lifecycle's handles: the services its steps work on and the
/// workflow kinds over them. The kinds' steps capture the services, so the
/// registry is built from them — once per process, by the composition
/// root ([`crate::app::build`], or a CLI command) — and handed on from
/// there with this.
#[derive(Clone)]
pub struct Lifecycle {
    /// The services the steps work on.
    pub services: Services,
    /// The server's workflow kinds (onboarding, plan change, offboarding,
    /// tier move) over them.
    pub workflows: Workflows,
}

impl Lifecycle {
    /// The server's workflow kinds over `services`.
    pub fn new(services: &Services) -> Self {
        Self {
            services: services.clone(),
            workflows: Workflows::new(
                services.workflow_store.clone(),
                [
                    onboarding::definition(services),
                    plan_change::definition(services),
                    offboarding::definition(services),
                    tier_move::definition(services),
                ],
            ),
        }
    }
}

impl From<OnboardError> for ServerError {
    fn from(error: OnboardError) -> Self {
        ServerError::other(error)
    }
}

/// Registers `tenant` (`provisioning`; from the warm pool when it has a
/// target of its tier) and starts its onboarding on the queue, for the
/// server's lifecycle workers; the record and the workflow. The one way a
/// tenant is onboarded: sign-up, the CLI and the demo's callers all come
/// here (the CLI then runs the workflow itself).
pub async fn onboard(
    lifecycle: &Lifecycle,
    tenant: tenantry::registry::NewTenant,
    admin_email: Option<String>,
    requested_by: &str,
) -> Result<(tenantry::registry::TenantRecord, WorkflowId), OnboardError> {
    let record = crate::provision::register(&lifecycle.services, tenant).await?;
    let id = start_onboarding(lifecycle, &record, admin_email, requested_by).await?;
    Ok((record, id))
}

/// Queues the onboarding of `record` (registered, `provisioning`).
pub(crate) async fn start_onboarding(
    lifecycle: &Lifecycle,
    record: &tenantry::registry::TenantRecord,
    admin_email: Option<String>,
    requested_by: &str,
) -> Result<WorkflowId, OnboardError> {
    let input = serde_json::to_value(Onboarding { admin_email })?;
    Ok(lifecycle
        .workflows
        .launch(
            &*lifecycle.services.queue,
            ONBOARDING,
            record.id,
            input,
            Some(requested_by),
        )
        .await?)
}

/// Starts `record`'s offboarding (see [`offboarding`]): suspended now,
/// exported, and deleted from every store once `grace` has passed; the
/// workflow, for the server's lifecycle workers. `requested_by` goes into
/// the deletion record.
pub async fn offboard(
    lifecycle: &Lifecycle,
    record: &tenantry::registry::TenantRecord,
    grace: Duration,
    requested_by: &str,
) -> Result<WorkflowId, ServerError> {
    let now = u64::try_from(jiff::Timestamp::now().as_millisecond())?;
    let input = Offboarding {
        delete_after_ms: now.saturating_add(u64::try_from(grace.as_millis())?),
        was: record.state,
        requested_by: requested_by.to_owned(),
        requested_at_ms: now,
    };
    Ok(lifecycle
        .workflows
        .launch(
            &*lifecycle.services.queue,
            OFFBOARDING,
            record.id,
            serde_json::to_value(input)?,
            Some(requested_by),
        )
        .await?)
}

/// Waits until workflow `id` has ended (the server's workers run it) and
/// returns its record.
pub async fn finished(
    lifecycle: &Lifecycle,
    id: WorkflowId,
) -> Result<WorkflowRecord, ServerError> {
    loop {
        let record = lifecycle.workflows.get(id).await?;
        if !record.state.is_live() {
            return Ok(record);
        }
        // The workers do the work; this only watches, gently.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts this process's share of the lifecycle work into `background`: a
/// lifecycle-lane worker, every live workflow queued again (one whose job
/// was lost resumes here), and the stuck-workflow report.
pub(crate) fn start(
    config: &crate::config::Config,
    lifecycle: &Lifecycle,
    background: &mut crate::jobs::Background,
) {
    let Lifecycle {
        services,
        workflows,
    } = lifecycle.clone();
    let name = format!("{}:{}", crate::process::process_name(), Lane::Lifecycle);
    let worker =
        worker(lifecycle, &name, config.jobs.lease).observed_by(services.job_metrics.clone());
    background.spawn(worker.run(background.stopping()));
    background.spawn(report_stuck(workflows.clone(), background.stopping()));
    if config.warm_pool > 0 {
        background.spawn(keep_warm(
            services.clone(),
            config.warm_pool,
            background.stopping(),
        ));
    }
    let queue = services.queue.clone();
    background.spawn(async move {
        match workflows.resume_all(&*queue).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(workflows = n, "live workflows resumed"),
            Err(e) => tracing::error!(error = %e, "could not resume the live workflows"),
        }
    });
}

/// The context of the lifecycle's own work for `record`'s tenant (export,
/// purge, copies): the tenant's, marked as lifecycle work, which the
/// process fence lets through while the tenant is held.
pub(crate) fn lifecycle_context(
    record: &tenantry::registry::TenantRecord,
) -> Result<tenantry::context::TenantContext, ServerError> {
    Ok(record.context().lifecycle().build()?)
}

/// Keeps `size` tier targets per tier made ahead of sign-ups, topping the
/// pool up every few seconds until `stop`.
async fn keep_warm(services: Services, size: usize, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(Duration::from_secs(2));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {}
        }
        match crate::provision::fill_warm_pool(&services, size).await {
            Ok(0) => {}
            Ok(made) => tracing::info!(made, "warm pool topped up"),
            Err(e) => tracing::warn!(error = %e, "could not top up the warm pool"),
        }
    }
}

/// Logs every stuck workflow (a step past its deadline) once a minute, with
/// its tenant, until `stop`; `tenant_lifecycle_stuck` counts them too.
async fn report_stuck(
    workflows: tenantry::workflow::Workflows,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {}
        }
        match workflows.stuck(std::time::SystemTime::now()).await {
            Ok(stuck) => {
                for s in stuck {
                    tracing::error!(
                        workflow = %s.workflow.id,
                        kind = %s.workflow.kind,
                        tenant = %s.workflow.tenant,
                        step = %s.step,
                        "lifecycle workflow stuck: a step is past its deadline"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check for stuck workflows"),
        }
    }
}

/// A lifecycle-lane worker that runs the lifecycle's steps, holding each
/// claimed step for `lease` (renewed while it runs).
pub(crate) fn worker(lifecycle: &Lifecycle, name: &str, lease: Duration) -> Worker {
    let Lifecycle {
        services,
        workflows,
    } = lifecycle;
    let mut options = WorkerOptions::new(Lane::Lifecycle, name.to_owned());
    options.concurrency = 4;
    options.lease = lease;
    options.idle_poll = Duration::from_millis(200);
    options.base_backoff = Duration::from_millis(250);
    workflows.drive(Worker::new(
        services.queue.clone(),
        services.tenants.clone(),
        options,
    ))
}

/// Runs workflow `id` in this process (a CLI command with no server
/// running) until it ends or `far_enough` says so (a workflow that waits
/// out a grace period is left to the server's workers), calling
/// `progress` after every change; returns the last record seen.
pub(crate) async fn run_here(
    lifecycle: &Lifecycle,
    id: WorkflowId,
    progress: &dyn Fn(&WorkflowRecord),
    far_enough: &dyn Fn(&WorkflowRecord) -> bool,
) -> Result<WorkflowRecord, ServerError> {
    let workflows = &lifecycle.workflows;
    let worker = worker(
        lifecycle,
        &format!("cli:{}:workflow-{id}", std::process::id()),
        Duration::from_secs(30),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let mut last = None;
    let record = loop {
        let record = workflows.get(id).await?;
        if last.as_ref() != Some(&record) {
            progress(&record);
        }
        if !record.state.is_live() || far_enough(&record) {
            break record;
        }
        last = Some(record);
        // The worker does the work; this only watches it.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let _ = running.await;
    Ok(record)
}

/// A step's body: the tenant's record and a context for it, looked up by
/// the workflow's tenant; any failure is worth another attempt (the step's
/// attempts bound them).
pub(crate) fn in_tenant<F, Fut>(
    services: &Services,
    body: F,
) -> impl Fn(StepContext) -> std::pin::Pin<Box<dyn Future<Output = Result<(), StepError>> + Send>>
+ Send
+ Sync
+ 'static
where
    F: Fn(Services, Arc<tenantry::registry::TenantRecord>, StepContext) -> Fut
        + Send
        + Sync
        + 'static,
    Fut: Future<Output = Result<(), ServerError>> + Send + 'static,
{
    let services = services.clone();
    let body = Arc::new(body);
    move |ctx: StepContext| {
        let (services, body) = (services.clone(), body.clone());
        Box::pin(async move {
            let record = services
                .tenants
                .find(&tenantry::registry::TenantKey::Id(ctx.tenant))
                .await
                .map_err(StepError::retry)?
                .ok_or_else(|| {
                    StepError::fatal(format!("tenant {} is not registered", ctx.tenant))
                })?;
            let scope = lifecycle_context(&record).map_err(StepError::fatal)?;
            scope
                .scope(body(services, record, ctx))
                .await
                .map_err(StepError::retry)
        })
    }
}
