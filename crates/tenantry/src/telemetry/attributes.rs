//! The span processor that writes the tenant onto every span.

use std::time::Duration;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::{TENANT_ID, TENANT_SLUG};

/// Copies `tenant.id` / `tenant.slug` from the parent context's baggage to
/// each span's attributes as it starts.
#[derive(Debug)]
pub(super) struct TenantAttributes;

impl SpanProcessor for TenantAttributes {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        use opentelemetry::trace::Span as _;
        let baggage = cx.baggage();
        for key in [TENANT_ID, TENANT_SLUG] {
            if let Some(value) = baggage.get(key) {
                span.set_attribute(KeyValue::new(key, value.clone()));
            }
        }
    }

    fn on_end(&self, _span: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
