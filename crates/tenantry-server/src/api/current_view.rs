//! Before the edge: a process whose view of the tenants' states is not
//! recent re-reads it before it serves anything (see `tenantry::fence`).
//!
//! A process paused (or cut off from the control plane) for a while may
//! hold a suspended or deleted tenant's record as active; the edge would
//! admit it on that. So the first request after such a gap waits for one
//! acknowledgement round — the changed records re-read, held tenants held
//! — and is refused with a 503 if the round cannot be done.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tenantry::fence::Acknowledger;

pub(crate) async fn current_view(
    State(acknowledger): State<Arc<Acknowledger>>,
    req: Request,
    next: Next,
) -> Response {
    match acknowledger.ensure_fresh().await {
        Ok(()) => next.run(req).await,
        Err(refused) => {
            tracing::warn!(error = %refused, "request refused: this process's view of tenant states is out of date");
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                [(http::header::RETRY_AFTER, "2")],
                axum::Json(serde_json::json!({
                    "error": "the service is catching up; retry shortly"
                })),
            )
                .into_response()
        }
    }
}
