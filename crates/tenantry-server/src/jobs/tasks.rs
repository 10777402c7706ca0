//! The job handlers: what each kind does, inside its tenant's context.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{Doing as _, ServerError};
use tenantry::http_client::OutboundClient;
use tenantry::jobs::cron::Tick;
use tenantry::jobs::{Failure, Job, Worker};
use tenantry::webhooks::DestinationGuard;

use super::mail::{Email, Mailer};
use super::{InvoiceRef, kinds, webhooks};
use crate::config::{Config, MailTransport};
use crate::services::Services;
use crate::store::{invoices, users};

/// The most admins one invoice e-mail goes to.
const MAX_RECIPIENTS: i64 = 50;

/// Outbox files older than this are pruned by the system cleanup.
const OUTBOX_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// What the handlers share.
pub(super) struct Handlers {
    services: Services,
    mailer: Mailer,
    outbound: OutboundClient,
    mail_from: String,
    overdue_after: Duration,
    outbox: Option<std::path::PathBuf>,
    // Where tenants are reached (`<slug>.<base domain>`), for welcome mail.
    base_domain: String,
}

fn retry(e: impl std::fmt::Display) -> Failure {
    Failure::Retry(e.to_string())
}

impl Handlers {
    pub(super) fn new(config: &Config, services: &Services) -> Result<Self, ServerError> {
        let mut guard = DestinationGuard::new();
        for cidr in &config.jobs.webhook_allow {
            guard = guard
                .allow(cidr)
                .map_err(ServerError::other)
                .doing(|| format!("--webhook-allow {cidr}"))?;
        }
        let outbound = OutboundClient::new(guard)
            .map_err(ServerError::other)?
            .with_timeouts(Arc::new(services.config.clone()));
        Ok(Self {
            services: services.clone(),
            mailer: Mailer::new(config.jobs.mail.clone())?,
            outbound,
            mail_from: config.jobs.mail_from.clone(),
            overdue_after: config.jobs.overdue_after,
            base_domain: config.base_domain.clone(),
            outbox: match &config.jobs.mail {
                MailTransport::Files(dir) => Some(dir.clone()),
                MailTransport::Smtp(_) => None,
            },
        })
    }

    /// `worker` with a handler for every kind.
    pub(super) fn register(self: &Arc<Self>, worker: Worker) -> Worker {
        let (a, b, c, d) = (self.clone(), self.clone(), self.clone(), self.clone());
        let (e, f) = (self.clone(), self.clone());
        worker
            .handle_json(kinds::INVOICE_EMAIL, move |job, invoice: InvoiceRef| {
                let h = a.clone();
                async move { h.invoice_email(&job, invoice).await }
            })
            .handle_json(kinds::WEBHOOK, move |job, delivery: webhooks::Delivery| {
                let h = b.clone();
                async move { webhooks::deliver(&h.services, &h.outbound, &job, delivery).await }
            })
            .handle_json(kinds::OVERDUE_REMINDERS, move |job, tick: Tick| {
                let h = c.clone();
                async move { h.overdue_reminders(&job, tick).await }
            })
            .handle_json(kinds::CLEANUP, move |_job, _tick: Tick| {
                let h = d.clone();
                async move { h.cleanup().await }
            })
            .handle_json(
                kinds::INVITATION,
                move |job, invitation: super::Invitation| {
                    let h = e.clone();
                    async move { h.invitation(&job, invitation).await }
                },
            )
            .handle_json(kinds::SIGNUP_MAIL, move |job, mail: super::SignupMail| {
                let h = f.clone();
                async move { h.signup_mail(&job, mail).await }
            })
    }

    /// Answers a sign-up request at the address it named: the
    /// confirmation to send back, or word that the slug is taken — told
    /// here, to the mailbox's owner, never to the anonymous caller.
    async fn signup_mail(&self, job: &Job, mail: super::SignupMail) -> Result<(), Failure> {
        let body = match &mail.confirmation {
            Some(confirmation) => format!(
                "Someone (we hope you) asked to sign up {slug} with this address.\n\
                 To create it, within a day, send this back:\n\n\
                 curl -X POST -H 'Content-Type: application/json' https://{base}/signup/confirm -d '{json}'\n\n\
                 If it was not you, do nothing: nothing is created.\n",
                slug = mail.slug,
                base = self.base_domain,
                json = serde_json::to_string(confirmation).map_err(retry)?,
            ),
            None => format!(
                "Someone asked to sign up {slug} with this address, but that name is taken.\n\
                 Choose another one. If it was not you, do nothing.\n",
                slug = mail.slug,
            ),
        };
        let email = Email {
            from: self.mail_from.clone(),
            to: mail.to,
            subject: format!("Your sign-up for {}", mail.slug),
            body,
        };
        self.mailer
            .send(&email, "system", job.id)
            .await
            .map_err(Failure::Retry)
    }

    /// Who hears about the tenant's invoices: its admins (the first
    /// [`MAX_RECIPIENTS`] by e-mail).
    async fn recipients(&self) -> Result<Vec<String>, Failure> {
        Ok(users::admins(&self.services.db, MAX_RECIPIENTS)
            .await
            .map_err(retry)?
            .into_iter()
            .map(|u| u.email)
            .collect())
    }

    async fn settings(&self) -> Result<crate::tenant_settings::TenantSettings, Failure> {
        self.services.config.settings().await.map_err(retry)
    }

    /// The tenant's sender, or the platform's.
    fn sender(&self, settings: &crate::tenant_settings::TenantSettings) -> String {
        settings
            .email_from
            .clone()
            .unwrap_or_else(|| self.mail_from.clone())
    }

    async fn send_all(
        &self,
        job: &Job,
        settings: &crate::tenant_settings::TenantSettings,
        subject: &str,
        body: &str,
    ) -> Result<usize, Failure> {
        let ctx = tenantry::context::require().map_err(retry)?;
        let from = self.sender(settings);
        let recipients = self.recipients().await?;
        for to in &recipients {
            let email = Email {
                from: from.clone(),
                to: to.clone(),
                subject: subject.to_owned(),
                body: body.to_owned(),
            };
            self.mailer
                .send(&email, ctx.slug(), job.id)
                .await
                .map_err(Failure::Retry)?;
        }
        Ok(recipients.len())
    }

    async fn invoice_email(&self, job: &Job, invoice: InvoiceRef) -> Result<(), Failure> {
        let Some(invoice) = invoices::get(&self.services.db, invoice.invoice_id)
            .await
            .map_err(retry)?
        else {
            return Err(Failure::Fatal(format!("no invoice {}", invoice.invoice_id)));
        };
        // Amounts and dates as the tenant reads them (its currency and zone).
        let settings = self.settings().await?;
        let locale = settings.locale();
        let sent = self
            .send_all(
                job,
                &settings,
                &format!("Invoice #{} issued", invoice.number),
                &format!(
                    "Invoice #{} for {} was issued on {}.\n",
                    invoice.number,
                    locale.money(invoice.amount_cents),
                    locale.human(invoice.created_at.0),
                ),
            )
            .await?;
        tracing::info!(
            invoice = invoice.number,
            recipients = sent,
            "invoice e-mail sent"
        );
        Ok(())
    }

    /// Welcomes a tenant's first admin: where to sign in, from the
    /// tenant's sender.
    async fn invitation(&self, job: &Job, invitation: super::Invitation) -> Result<(), Failure> {
        let ctx = tenantry::context::require().map_err(retry)?;
        let settings = self.settings().await?;
        let email = Email {
            from: self.sender(&settings),
            to: invitation.email,
            subject: format!("Welcome to {} on tenantry", ctx.slug()),
            body: format!(
                "You are the first admin of {}.\nSign in at https://{}.{}/ with this address.\n",
                ctx.slug(),
                ctx.slug(),
                self.base_domain
            ),
        };
        self.mailer
            .send(&email, ctx.slug(), job.id)
            .await
            .map_err(Failure::Retry)
    }

    async fn overdue_reminders(&self, job: &Job, tick: Tick) -> Result<(), Failure> {
        // The tenant's `invoice_reminders` flag (its plan's default, or its
        // admin's override) decides whether it gets reminders at all.
        let wanted = self
            .services
            .config
            .flag(crate::flags::INVOICE_REMINDERS)
            .await
            .map_err(retry)?;
        if !wanted {
            tracing::debug!(
                tick = tick.tick,
                "overdue reminders are off for this tenant"
            );
            return Ok(());
        }
        let cutoff = SystemTime::now() - self.overdue_after;
        // Page through every invoice: the list endpoint's pages, not one
        // unbounded read.
        let mut overdue = Vec::new();
        let mut before = None;
        loop {
            let page = invoices::list(&self.services.db, 100, before)
                .await
                .map_err(retry)?;
            before = (page.len() == 100)
                .then(|| page.last().map(|i| i.number))
                .flatten();
            overdue.extend(
                page.into_iter()
                    .filter(|i| i.status == "open" && i.created_at.0 <= cutoff),
            );
            if before.is_none() {
                break;
            }
        }
        let settings = self.settings().await?;
        let locale = settings.locale();
        for invoice in &overdue {
            self.send_all(
                job,
                &settings,
                &format!("Reminder: invoice #{} is overdue", invoice.number),
                &format!(
                    "Invoice #{} for {}, issued on {}, is still open (reminder run {} at tick {}).\n",
                    invoice.number,
                    locale.money(invoice.amount_cents),
                    locale.human(invoice.created_at.0),
                    tick.schedule,
                    tick.tick
                ),
            )
            .await?;
        }
        tracing::info!(
            overdue = overdue.len(),
            tick = tick.tick,
            "overdue reminders sent"
        );
        Ok(())
    }

    /// Prunes outbox files past their retention (system tenant: every
    /// tenant's directory), and forgets server processes silent for a day.
    async fn cleanup(&self) -> Result<(), Failure> {
        let forgotten = self
            .services
            .route_acks
            .forget_silent(SILENT_PROCESS)
            .await
            .map_err(retry)?;
        if forgotten > 0 {
            tracing::info!(forgotten, "silent server processes forgotten");
        }
        let Some(outbox) = &self.outbox else {
            return Ok(());
        };
        let outbox = outbox.clone();
        let pruned = tokio::task::spawn_blocking(move || prune(&outbox, OUTBOX_RETENTION))
            .await
            .map_err(retry)?;
        tracing::info!(pruned, "outbox cleanup done");
        Ok(())
    }
}

/// A server process not heard from for this long is gone.
const SILENT_PROCESS: Duration = Duration::from_secs(24 * 3600);

fn prune(outbox: &std::path::Path, retention: Duration) -> usize {
    let Ok(tenants) = std::fs::read_dir(outbox) else {
        return 0;
    };
    let cutoff = SystemTime::now() - retention;
    let mut pruned = 0;
    for dir in tenants.flatten() {
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let old = file
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && std::fs::remove_file(file.path()).is_ok() {
                pruned += 1;
            }
        }
    }
    pruned
}
