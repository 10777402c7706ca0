//! `JobError` as an HTTP response (feature `edge`).

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::JobError;

/// A full backlog is the tenant's to wait out (429); the queue being away
/// is a 503; the rest are bugs (500). The body never names another tenant.
impl IntoResponse for JobError {
    fn into_response(self) -> Response {
        #[cfg(any(feature = "postgres", feature = "sqlite"))]
        if let JobError::Data(e) = self {
            return e.into_response();
        }
        let (status, message) = match &self {
            JobError::BacklogFull { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many jobs are waiting; retry later",
            ),
            JobError::Unavailable(_) | JobError::Batch(_) | JobError::Registry(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the job queue is unavailable; retry shortly",
            ),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        tracing::warn!(error = %self, "job error");
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    }
}
