//! `DataError` as an HTTP response (feature `edge`): the status its
//! [`ErrorKind`] calls for, and a body that never carries the database's
//! text (it names constraints, columns and key values — other tenants'
//! among them). The text goes to the log.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::{ConstraintKind, DataError, ErrorKind};

impl DataError {
    /// The HTTP status for this error: 409 for a constraint, 400 for a value
    /// the database cannot store, 503 when unavailable, 504 on a timeout,
    /// 500 for the rest (a missing context or a refused row is a bug, not
    /// the client's doing).
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_message(&self) -> &'static str {
        match self.kind() {
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict if self.constraint_kind() == Some(ConstraintKind::Unique) => {
                "a record with these values already exists"
            }
            ErrorKind::Conflict => "the change conflicts with other records",
            ErrorKind::InvalidInput => "a value cannot be stored as given",
            ErrorKind::Unavailable => "the database is unavailable; retry shortly",
            ErrorKind::Timeout => "the database did not answer in time",
            _ => "internal error",
        }
    }
}

/// `{"error": "<what happened, in general terms>"}` with [`DataError::status`].
///
/// ```
/// use axum::response::IntoResponse;
/// use tenantry::data::{DataError, DbFailure};
/// let taken = DataError::Constraint(
///     DbFailure::new("duplicate key value violates unique constraint \"users_email_key\" (Key (email)=(a@acme.example))")
///         .with_sqlstate("23505"),
/// );
/// let response = taken.into_response();
/// assert_eq!(response.status(), http::StatusCode::CONFLICT);
/// ```
impl IntoResponse for DataError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, sqlstate = self.sqlstate(), "data error");
        } else {
            tracing::info!(error = %self, constraint = self.constraint(), "data error");
        }
        let body = serde_json::json!({ "error": self.public_message() });
        (status, axum::Json(body)).into_response()
    }
}
