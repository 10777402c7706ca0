//! One access-log line per tenant request.
//!
//! Runs inside the tenant's scope, so the line carries `tenant_id`,
//! `tenant_slug` and `request_id` from the span like every other line.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

pub(crate) async fn log_request(req: Request, next: Next) -> Response {
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
    response
}
