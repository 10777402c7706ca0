//! [`JobEnvelope`]: a job to enqueue, bound to the tenant of the context
//! it was made in.

use serde::Serialize;

use super::{JobError, Lane};
use crate::context::{self, TenantId};

/// A job on its way to the queue. Its tenant comes from the current
/// [context](crate::context) and no constructor takes one, so no code can
/// enqueue work for a tenant other than its own:
///
/// ```compile_fail
/// use tenantry::jobs::JobEnvelope;
/// // Private fields: there is no way to name a tenant.
/// let forged = JobEnvelope { tenant: tenantry::TenantId::new_v4(), kind: "x".into() };
/// ```
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tenantry::context::{TenantContext, TenantId};
/// use tenantry::jobs::JobEnvelope;
///
/// assert!(JobEnvelope::new("send_invoice", &"42").is_err()); // no context, no job
/// let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
/// let job = acme.clone().sync_scope(|| JobEnvelope::new("send_invoice", &"42")).unwrap();
/// assert_eq!(job.tenant(), acme.tenant_id());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct JobEnvelope {
    tenant: TenantId,
    kind: String,
    payload: serde_json::Value,
    pub(super) lane: Lane,
    pub(super) priority: i16,
    pub(super) delay: std::time::Duration,
    pub(super) idempotency_key: Option<String>,
    pub(super) max_attempts: i32,
    pub(super) request_id: Option<String>,
    pub(super) trace_parent: Option<String>,
    pub(super) plan: crate::plans::Plan,
}

impl JobEnvelope {
    /// A job of `kind` with `payload`, for the current tenant (the system
    /// tenant inside [`run_as_system`](crate::context::run_as_system)).
    pub fn new(kind: &str, payload: &impl Serialize) -> Result<Self, JobError> {
        let ctx = context::require()?;
        let tenant = ctx.tenant_id();
        if kind.is_empty() || kind.len() > 100 {
            return Err(JobError::Invalid(
                "a job kind is 1 to 100 characters".into(),
            ));
        }
        Ok(Self {
            tenant,
            kind: kind.to_owned(),
            payload: serde_json::to_value(payload)?,
            lane: Lane::Batch,
            priority: 0,
            delay: std::time::Duration::ZERO,
            idempotency_key: None,
            max_attempts: 5,
            request_id: ctx.request_id().map(|r| r.as_str().to_owned()),
            trace_parent: enqueuing_span(),
            plan: ctx.plan().clone(),
        })
    }

    /// Runs in `lane` (default: batch).
    pub fn lane(mut self, lane: Lane) -> Self {
        self.lane = lane;
        self
    }

    /// Runs before the tenant's lower-priority jobs (default 0).
    pub fn priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    /// Runs no sooner than `delay` from now.
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Enqueued once per tenant and `key`, however often it is sent.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Attempts before the job goes to the dead letters (default 5).
    pub fn max_attempts(mut self, attempts: u16) -> Self {
        self.max_attempts = i32::from(attempts.max(1));
        self
    }

    /// The tenant the job runs for.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The payload.
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }
}

/// The current span as a `traceparent`, so the job's spans hang off it.
fn enqueuing_span() -> Option<String> {
    #[cfg(feature = "otel")]
    return crate::telemetry::current_traceparent();
    #[cfg(not(feature = "otel"))]
    None
}
