//! API errors: one JSON shape, `{"error": "…"}` (plus `"field"` for
//! validation), and one convention — an id the tenant cannot see is 404,
//! whether it does not exist or belongs to someone else.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tenantry::data::{ConstraintKind, DataError};

use crate::store::invoices::InvoiceError;

/// An error answer.
#[derive(Debug)]
pub(crate) enum ApiError {
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
    /// 413: the body is over the route's size limit.
    TooLarge,
    /// 503: the database is overloaded or down.
    Unavailable,
    /// 503: a service one feature needs (file storage, the secrets' master
    /// key) is unreachable; the rest of the API keeps working.
    FeatureUnavailable {
        /// What is unavailable, for the client.
        what: &'static str,
        /// Why, for the log only.
        detail: String,
    },
    /// 500; the detail is logged, not sent.
    Internal(String),
}

impl ApiError {
    /// A 400 about `field`.
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl From<DataError> for ApiError {
    fn from(e: DataError) -> Self {
        match e {
            DataError::Constraint(ref detail) => {
                // The database's text names constraints, columns and key
                // values (tenant ids among them): logged, never sent.
                tracing::info!(%detail, constraint = e.constraint(), "constraint violation");
                ApiError::Conflict(
                    if e.constraint_kind() == Some(ConstraintKind::Unique) {
                        "a record with these values already exists"
                    } else {
                        "the change conflicts with other records"
                    }
                    .to_owned(),
                )
            }
            DataError::NotFound => ApiError::NotFound,
            // A statement cancelled by its timeout or a lock wait that ran
            // out: the database is overloaded for now, as before the split.
            DataError::Unavailable(_) | DataError::Timeout(_) => {
                tracing::warn!(error = %e, "database unavailable or too slow: 503");
                ApiError::Unavailable
            }
            DataError::InvalidValue(detail) => {
                tracing::info!(%detail, "value refused by the database");
                ApiError::BadRequest {
                    field: None,
                    message: "a value cannot be stored as given (a NUL character, or out of range)"
                        .into(),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(e: axum::extract::rejection::BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadRequest {
                field: None,
                message: e.body_text(),
            }
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

impl From<tenantry::workflow::WorkflowError> for ApiError {
    fn from(e: tenantry::workflow::WorkflowError) -> Self {
        use tenantry::workflow::WorkflowError;
        match e {
            // One workflow per tenant at a time: the second request is told
            // which one holds the tenant, so it can wait for or cancel it.
            WorkflowError::Busy { running, kind, .. } => ApiError::Conflict(format!(
                "workflow {running} ({kind}) is running for this tenant; \
                 retry once it has finished, or cancel it"
            )),
            WorkflowError::Invalid(why) => ApiError::Conflict(why),
            WorkflowError::NotFound(_) => ApiError::NotFound,
            WorkflowError::Data(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
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
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": "the body is over the size limit" }),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "temporarily unavailable; retry shortly" }),
            ),
            ApiError::FeatureUnavailable { what, detail } => {
                tracing::warn!(error = %detail, what, "a backing service is unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({ "error": format!("{what} is temporarily unavailable; retry shortly") }),
                )
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry::data::DbFailure;

    async fn body_of(error: ApiError) -> (StatusCode, String) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn constraint_text_is_logged_not_sent() {
        let raw = "duplicate key value violates unique constraint \"invoices_order_id_key\" \
                   DETAIL: Key (tenant_id, order_id)=(0190a5a0-7b1c-7c3e-9c1a-2f5d9b1e4a10, 42) already exists.";
        let unique = DbFailure::new(raw)
            .with_sqlstate("23505")
            .with_constraint("invoices_order_id_key");
        let (status, body) = body_of(DataError::Constraint(unique).into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body,
            r#"{"error":"a record with these values already exists"}"#
        );
        let fk = "insert or update on table \"invoices\" violates foreign key constraint \"invoices_order_fk\"";
        let fk = DbFailure::new(fk).with_sqlstate("23503");
        let (_, body) = body_of(DataError::Constraint(fk).into()).await;
        assert_eq!(
            body,
            r#"{"error":"the change conflicts with other records"}"#
        );
        let (_, body) =
            body_of(DataError::Constraint("UNIQUE constraint failed: users.email".into()).into())
                .await;
        assert!(!body.contains("users.email"), "{body}");
        // SQLite's unique violation, as the backend classifies it.
        let lite = DbFailure::new("UNIQUE constraint failed: users.email").with_sqlstate("23505");
        let (_, body) = body_of(DataError::Constraint(lite).into()).await;
        assert_eq!(
            body,
            r#"{"error":"a record with these values already exists"}"#
        );
        assert!(!body.contains("users.email"), "{body}");
    }

    #[tokio::test]
    async fn the_database_away_or_slow_is_a_503_wherever_it_surfaces() {
        let away = || DataError::Unavailable(DbFailure::new("connection refused"));
        let slow = DataError::Timeout(
            DbFailure::new("canceling statement due to statement timeout").with_sqlstate("57014"),
        );
        for error in [
            ApiError::from(away()),
            ApiError::from(slow),
            ApiError::from(tenantry::config::ConfigError::Data(away())),
            ApiError::from(tenantry::jobs::JobError::Data(away())),
        ] {
            let (status, body) = body_of(error).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert!(!body.contains("refused"), "{body}");
        }
    }

    #[tokio::test]
    async fn a_second_workflow_for_a_tenant_is_a_409_naming_the_running_one() {
        let busy = tenantry::workflow::WorkflowError::Busy {
            tenant: tenantry::context::TenantId::new_v4(),
            running: tenantry::workflow::WorkflowId(7),
            kind: "plan_change".into(),
        };
        let (status, body) = body_of(busy.into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body.contains("workflow 7 (plan_change)"), "{body}");
    }
}
