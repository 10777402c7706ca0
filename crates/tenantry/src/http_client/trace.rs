//! W3C trace headers from the tenant context.
//!
//! The trace id is the request id's when it is a UUID (or 32 hex digits):
//! a request, the jobs it enqueued and the calls they made share one trace
//! id, which is how the receiving side can follow them. Other request ids
//! are hashed to one. Each call gets a fresh span id.

use crate::context::TenantContext;

/// `00-<trace id>-<span id>-01` for a call made in `ctx`.
///
/// ```
/// use tenantry::context::{RequestId, TenantContext, TenantId};
/// let request = RequestId::parse("0b0e2a64-5d4e-4c2e-9f5e-1d2c3b4a5968").unwrap();
/// let ctx = TenantContext::builder(TenantId::new_v4(), "acme").request_id(request).build().unwrap();
/// let header = tenantry::http_client::traceparent(&ctx);
/// assert!(header.starts_with("00-0b0e2a645d4e4c2e9f5e1d2c3b4a5968-"));
/// assert!(header.ends_with("-01") && header.len() == 55);
/// ```
pub fn traceparent(ctx: &TenantContext) -> String {
    // Traced: the current span is the caller the receiver's spans hang off.
    #[cfg(feature = "otel")]
    if let Some(current) = crate::telemetry::current_traceparent() {
        return current;
    }
    let trace_id = ctx
        .request_id()
        .map(|r| crate::context::trace_id_of(r.as_str()))
        .unwrap_or_else(|| uuid::Uuid::new_v4().as_u128());
    let span_id = (uuid::Uuid::new_v4().as_u128() as u64).max(1);
    format!("00-{trace_id:032x}-{span_id:016x}-01")
}

/// `tenant.id=…,tenant.slug=…` (slugs are URL-safe by construction).
pub(super) fn baggage(ctx: &TenantContext) -> String {
    format!("tenant.id={},tenant.slug={}", ctx.tenant_id(), ctx.slug())
}
