//! OpenTelemetry traces with the tenant in every span.
//!
//! [`Telemetry::otlp`] exports spans over OTLP (HTTP, protobuf) and gives a
//! `tracing` layer, so the spans the code already makes — the tenant scope's,
//! the access log's, each job's, each outbound call's — become OpenTelemetry
//! spans. Three things make the tenant follow the work:
//!
//! - **One trace per request, jobs included.** A tenant scope continues the
//!   trace of its request id (see [`TraceParent`](crate::context::TraceParent)):
//!   under the inbound `traceparent` when the caller sent one, else under a
//!   span id derived from the request id. A job stores the request id and
//!   the span that enqueued it, and runs in a context rebuilt from both, so
//!   its spans hang off that span. Spawned tasks keep their span
//!   ([`spawn`](crate::context::spawn)).
//! - **Baggage.** The tenant scope puts `tenant.id` and `tenant.slug` in the
//!   W3C baggage of its span's context; every span below inherits it. The
//!   outbound client sends it on (`baggage` header). Inbound baggage is
//!   *not* trusted: the tenant comes from the edge, never from a header a
//!   client can write.
//! - **Attributes.** A span processor copies the baggage's tenant onto each
//!   span as it starts, so every exported span names its tenant — the
//!   backend can filter "tenant X is degraded" without joining spans.

mod attributes;
mod exporter;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::{TenantContext, trace_id_of};

pub use exporter::{Telemetry, TelemetryError};

/// Baggage and attribute key of the tenant's id.
pub const TENANT_ID: &str = "tenant.id";
/// Baggage and attribute key of the tenant's slug.
pub const TENANT_SLUG: &str = "tenant.slug";

/// Parents the tenant scope's `span` in its request's trace and gives it
/// the tenant's baggage. Must run before the span has children.
pub(crate) fn adopt(span: &tracing::Span, ctx: &TenantContext) {
    let current = tracing::Span::current().context();
    let parent = match ctx.request_id().map(|r| (trace_id_of(r.as_str()), r)) {
        // Already inside this request's trace (a nested scope): stay there.
        Some((trace, _)) if current.span().span_context().trace_id() == TraceId::from(trace) => {
            current
        }
        Some((trace, request)) => {
            let span_id = match ctx.trace_parent() {
                Some(caller) if caller.trace_id == trace => caller.span_id,
                // No caller span: one stable span id per request, so the
                // request's and its jobs' scopes hang off the same point.
                _ => (trace_id_of(&format!("span:{}", request.as_str())) as u64).max(1),
            };
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span_id),
                TraceFlags::SAMPLED,
                true,
                TraceState::default(),
            ))
        }
        None => current,
    };
    let with_tenant = parent.with_baggage([
        KeyValue::new(TENANT_ID, ctx.tenant_id().to_string()),
        KeyValue::new(TENANT_SLUG, ctx.slug().to_owned()),
    ]);
    // Fails only when no OpenTelemetry layer is installed: nothing to parent.
    let _ = span.set_parent(with_tenant);
}

/// The `traceparent` of the current span, when one is being traced.
#[cfg_attr(not(any(feature = "jobs", feature = "http-client")), allow(dead_code))]
pub(crate) fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| format!("00-{}-{}-01", sc.trace_id(), sc.span_id()))
}
