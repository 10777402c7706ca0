//! Background work of the reference server, all of it tenant-scoped jobs
//! on the fair queue: invoice e-mails, webhooks on invoice events, the
//! nightly overdue reminders (one job per tenant per night) and the hourly
//! system cleanup.
//!
//! Events are enqueued right after the change commits, with an idempotency
//! key per invoice and event, so a retried request never sends twice. (The
//! invoice and its jobs live in different stores — `control.db` and
//! `shared.db` on SQLite — so the enqueue is not in the invoice's
//! transaction; a failed enqueue is logged.)

use crate::error::ServerError;
pub(crate) mod mail;
mod tasks;
pub(crate) mod webhooks;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tenantry::jobs::cron::{CronJob, Fanout, Scheduler};
use tenantry::jobs::{JobEnvelope, JobError, Lane, Worker, WorkerOptions};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::services::Services;
use crate::store::invoices::Invoice;

/// Job kinds.
pub(crate) mod kinds {
    /// E-mail the tenant's admins about a new invoice.
    pub(crate) const INVOICE_EMAIL: &str = "invoice.email";
    /// Deliver one webhook event.
    pub(crate) const WEBHOOK: &str = "webhook.deliver";
    /// E-mail reminders for the tenant's overdue invoices (nightly, per tenant).
    pub(crate) const OVERDUE_REMINDERS: &str = "invoice.overdue_reminders";
    /// Prune old outbox files (hourly, system tenant).
    pub(crate) const CLEANUP: &str = "system.cleanup";
    /// Welcome a tenant's first admin (onboarding).
    pub(crate) const INVITATION: &str = "user.invitation";
    /// Answer a sign-up request by e-mail (system tenant).
    pub(crate) const SIGNUP_MAIL: &str = "signup.mail";
}

/// A sign-up request's answer, by e-mail to the address it named.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SignupMail {
    /// The address.
    pub(crate) to: String,
    /// The slug asked for.
    pub(crate) slug: String,
    /// What confirms it; `None`: the slug is taken.
    pub(crate) confirmation: Option<crate::signup_confirmation::Confirmation>,
}

/// Queues `mail` as a system-tenant job (there is no tenant yet).
pub(crate) async fn mail_signup(services: &Services, mail: &SignupMail) -> Result<(), JobError> {
    let queue = services.queue.clone();
    let mail = mail.clone();
    tenantry::context::run_as_system("signup-mail", async move {
        // The envelope takes its tenant from the context: the system.
        let job = JobEnvelope::new(kinds::SIGNUP_MAIL, &mail)?.lane(Lane::Interactive);
        queue.enqueue(&job).await.map(drop)
    })
    .await
}

/// Who a welcome e-mail goes to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Invitation {
    /// The new admin's e-mail.
    pub(crate) email: String,
}

/// Queues the welcome e-mail of the current tenant's new admin `email`
/// (once per address, however often onboarding's step runs).
pub(crate) async fn invite(services: &Services, email: &str) -> Result<(), JobError> {
    let job = JobEnvelope::new(
        kinds::INVITATION,
        &Invitation {
            email: email.to_owned(),
        },
    )?
    .lane(Lane::Interactive)
    .idempotency_key(format!("invitation:{email}"));
    services.queue.enqueue(&job).await.map(drop)
}

/// The invoice a job is about.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct InvoiceRef {
    /// Its id.
    pub invoice_id: uuid::Uuid,
}

/// Enqueues what follows a new invoice: its e-mail, and a webhook when the
/// tenant has an endpoint. Must run in the tenant's context.
pub(crate) async fn invoice_created(services: &Services, invoice: &Invoice) {
    // The webhook waits on the tenant's settings; it is prepared on a task
    // of its own (which carries the tenant context and span) while the
    // e-mail is enqueued, and both are in the queue before the response.
    let webhook = {
        let (services, invoice) = (services.clone(), invoice.clone());
        tenantry::context::spawn(async move {
            webhooks::emit(&services, "invoice.created", &invoice).await;
        })
    };
    let email = JobEnvelope::new(
        kinds::INVOICE_EMAIL,
        &InvoiceRef {
            invoice_id: invoice.id,
        },
    )
    .map(|job| {
        job.lane(Lane::Interactive)
            .idempotency_key(format!("invoice-email:{}", invoice.id))
    });
    enqueue(services, email).await;
    if let Err(e) = webhook.await {
        tracing::error!(error = %e, "the webhook task failed; webhook not sent");
    }
}

/// Enqueues what follows a payment: the `invoice.paid` webhook.
pub(crate) async fn invoice_paid(services: &Services, invoice: &Invoice) {
    webhooks::emit(services, "invoice.paid", invoice).await;
}

pub(crate) async fn enqueue(services: &Services, job: Result<JobEnvelope, JobError>) {
    let result = match job {
        Ok(job) => services.queue.enqueue(&job).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "could not enqueue a job");
    }
}

/// The running workers and scheduler; [`stop`](Self::stop) drains them.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Background {
    /// Runs `task` with the rest: stopped and awaited with them.
    pub(crate) fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Completes when [`stop`](Self::stop) is called.
    pub(crate) fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        until(self.stop.subscribe())
    }

    /// Stops claiming, lets running jobs finish, and returns when they have.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts a worker per lane and the cron scheduler (none when
/// `config.jobs.workers` is 0).
pub(crate) fn start(config: &Config, services: &Services) -> Result<Background, ServerError> {
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if config.jobs.workers == 0 {
        return Ok(Background { stop, tasks });
    }
    let handlers = Arc::new(tasks::Handlers::new(config, services)?);
    let name = format!(
        "{}:{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "tenantry".into()),
        std::process::id()
    );
    for lane in [Lane::Interactive, Lane::Batch] {
        let mut options = WorkerOptions::new(lane, format!("{name}:{lane}"));
        options.concurrency = config.jobs.workers;
        options.lease = config.jobs.lease;
        let worker = handlers
            .register(Worker::new(
                services.queue.clone(),
                services.tenants.clone(),
                options,
            ))
            .observed_by(services.job_metrics.clone());
        tasks.spawn(worker.run(until(stopped.clone())));
    }
    let schedules = vec![
        CronJob::new(
            "overdue-reminders",
            &config.jobs.cron_reminders,
            Fanout::EachTenant,
            kinds::OVERDUE_REMINDERS,
        )?,
        CronJob::new(
            "cleanup",
            &config.jobs.cron_cleanup,
            Fanout::System,
            kinds::CLEANUP,
        )?,
    ];
    let scheduler = Scheduler::new(services.queue.clone(), services.tenants.clone(), schedules);
    tasks.spawn(scheduler.run(until(stopped)));
    Ok(Background { stop, tasks })
}

async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}
