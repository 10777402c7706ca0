//! Webhooks of the reference server: invoice events posted to the tenant's
//! endpoint (its `webhook_url` setting), signed with the tenant's own
//! secret (`webhook_signing`, kept with its other secrets), delivered by
//! jobs that retry with backoff, each attempt in the tenant's delivery log.

use serde::{Deserialize, Serialize};
use tenantry::http_client::{OutboundClient, OutboundError};
use tenantry::jobs::{Failure, Job, JobEnvelope, Lane};
use tenantry::secrets::{SecretValue, Secrets};
use tenantry::webhooks::{SIGNATURE_HEADER, sign};

use super::kinds;
use crate::services::Services;
use crate::store::invoices::Invoice;
use crate::store::webhook_deliveries::{self, Attempt};

/// The secret's name among the tenant's secrets.
pub(crate) const SIGNING_SECRET: &str = "webhook_signing";

/// One event on its way.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Delivery {
    /// Event name (`invoice.created`).
    pub event: String,
    /// The endpoint, as configured when the event happened.
    pub url: String,
    /// The JSON body, exactly as signed and sent.
    pub body: String,
}

/// Enqueues `event` about `invoice` for the context's tenant, when it has
/// an endpoint.
pub(crate) async fn emit(services: &Services, event: &str, invoice: &Invoice) {
    let url = match services.config.settings().await {
        Ok(settings) => settings.webhook_url,
        Err(e) => {
            tracing::error!(error = %e, event, "could not read the tenant's settings; webhook not sent");
            return;
        }
    };
    let Some(url) = url else { return };
    let job = tenantry::context::require()
        .map_err(tenantry::jobs::JobError::from)
        .and_then(|ctx| {
            let body = serde_json::json!({
                "event": event,
                "tenant_id": ctx.tenant_id(),
                "data": invoice,
            })
            .to_string();
            JobEnvelope::new(
                kinds::WEBHOOK,
                &Delivery {
                    event: event.to_owned(),
                    url,
                    body,
                },
            )
        })
        .map(|job| {
            job.lane(Lane::Interactive)
                .max_attempts(8)
                .idempotency_key(format!("webhook:{event}:{}", invoice.id))
        });
    super::enqueue(services, job).await;
    tracing::info!(event, "webhook event queued");
}

/// A new signing secret for the context's tenant, replacing the old one;
/// the only time its value is shown.
pub(crate) async fn rotate_secret(
    secrets: &Secrets,
) -> Result<String, tenantry::secrets::SecretsError> {
    let random = crate::random::hex_secret(32)
        .map_err(|e| tenantry::secrets::SecretsError::Crypto(random_failure(e)))?;
    let value = format!("whsec_{random}");
    secrets
        .put(SIGNING_SECRET, SecretValue::new(value.clone()))
        .await?;
    Ok(value)
}

/// Delivers one event: signs it, posts it within the tenant's outbound
/// timeout, logs the attempt. A non-2xx answer, a timeout or a missing
/// secret is a failed attempt (retried); a refused destination can never
/// succeed and goes to the dead letters.
pub(crate) async fn deliver(
    services: &Services,
    client: &OutboundClient,
    job: &Job,
    delivery: Delivery,
) -> Result<(), Failure> {
    let secret = services
        .secrets
        .reveal(SIGNING_SECRET)
        .await
        .map_err(|e| Failure::Retry(format!("reading the signing secret: {e}")))?
        .ok_or_else(|| {
            Failure::Retry("no webhook signing secret: POST /api/webhooks/secret first".into())
        })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let signature = sign(secret.expose().as_bytes(), now, delivery.body.as_bytes());
    let sent = client
        .post_with(
            &delivery.url,
            "application/json",
            &[
                (SIGNATURE_HEADER, signature),
                ("tenantry-event", delivery.event.clone()),
                ("tenantry-delivery", job.id.to_string()),
            ],
            delivery.body.clone().into_bytes(),
        )
        .await;
    let (status_code, error) = match &sent {
        Ok(response) if (200..300).contains(&response.status) => (Some(response.status), None),
        Ok(response) => (
            Some(response.status),
            Some(format!("endpoint answered {}", response.status)),
        ),
        Err(e) => (None, Some(e.to_string())),
    };
    let attempt = Attempt {
        job_id: job.id,
        event: &delivery.event,
        url: &delivery.url,
        attempt: i64::from(job.attempt),
        status_code: status_code.map(i64::from),
        error: error.as_deref(),
    };
    if let Err(e) = webhook_deliveries::record(&services.db, &attempt).await {
        tracing::warn!(error = %e, "could not log a webhook delivery");
    }
    match (sent, error) {
        (Err(OutboundError::Refused(e)), _) => {
            Err(Failure::Fatal(format!("destination refused: {e}")))
        }
        (_, Some(error)) => Err(Failure::Retry(error)),
        (_, None) => {
            tracing::info!(event = %delivery.event, status = ?status_code, "webhook delivered");
            Ok(())
        }
    }
}

/// The OS generator failed (it does not, short of a broken system).
fn random_failure(_: getrandom::Error) -> &'static str {
    "the operating system's random generator failed"
}
