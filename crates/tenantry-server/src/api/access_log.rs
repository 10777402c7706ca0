//! One access-log line and one metrics record per tenant request.
//!
//! Runs inside the tenant's scope, so the line carries `tenant_id`,
//! `tenant_slug` and `request_id` from the span like every other line, and
//! the metrics get the tenant's tier and plan.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tenantry::metrics::RequestLabels;

use super::AppState;

pub(crate) async fn log_request(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // The route template, never the raw path: raw paths carry ids.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    tracing::info!(
        target: "tenantry::access",
        %method,
        route = route.as_deref().unwrap_or("unmatched"),
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    let ctx = tenantry::context::current();
    app.services.http_metrics.record(
        &RequestLabels {
            method: method.as_str(),
            route: route.as_deref().unwrap_or("unmatched"),
            status: response.status().as_u16(),
            tier: ctx.as_ref().map_or("none", |c| c.tier().as_str()),
            plan: ctx.as_ref().map_or("none", |c| c.plan().as_str()),
            tenant: ctx.as_ref().map(|c| c.tenant_id()),
        },
        started.elapsed(),
    );
    response
}
