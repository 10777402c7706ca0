//! API errors: one JSON shape, `{"error": "…"}` (plus `"field"` for
//! validation), and one convention — an id the tenant cannot see is 404,
//! whether it does not exist or belongs to someone else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenantry::data::DataError;

use crate::store::invoices::InvoiceError;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 404.
    NotFound,
    /// 400, naming the offending field when there is one.
    BadRequest {
        /// The field (`customer`), if the problem is one field.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// 403 with a reason.
    Forbidden(&'static str),
    /// 409 with a reason.
    Conflict(String),
    /// 503: the database is overloaded or down.
    Unavailable,
    /// 500; the detail is logged, not sent.
    Internal(String),
}

impl ApiError {
    /// A 400 about `field`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Constraint(what) => ApiError::Conflict(what),
            DataError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<InvoiceError> for ApiError {
    fn from(e: InvoiceError) -> Self {
        match e {
            InvoiceError::OrderNotFound => ApiError::NotFound,
            InvoiceError::AlreadyInvoiced | InvoiceError::AlreadyPaid => {
                ApiError::Conflict(e.to_string())
            }
            InvoiceError::Data(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, json!({ "error": "not found" })),
            ApiError::BadRequest {
                field: Some(field),
                message,
            } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": format!("{field}: {message}"), "field": field }),
            ),
            ApiError::BadRequest {
                field: None,
                message,
            } => (StatusCode::BAD_REQUEST, json!({ "error": message })),
            ApiError::Forbidden(why) => (StatusCode::FORBIDDEN, json!({ "error": why })),
            ApiError::Conflict(why) => (StatusCode::CONFLICT, json!({ "error": why })),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "temporarily unavailable; retry shortly" }),
            ),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "error": "internal error" }),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
