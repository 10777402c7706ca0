//! Refusals as HTTP responses: a status and a `{"error": …}` body, never internals.

use axum::body::Body;
use http::{HeaderValue, Response, StatusCode, header};

/// Why the edge refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// 400: the request names no tenant.
    NoTenantClaimed,
    /// 401: missing, invalid or expired token.
    Unauthenticated,
    /// 403: the claimed tenant is not the token's tenant.
    TenantMismatch,
    /// 404: no such tenant (or deleting/deleted).
    UnknownTenant,
    /// 403: the tenant is suspended.
    Suspended,
    /// 503: the tenant is still being set up.
    Provisioning,
    /// 503: the registry could not be reached.
    RegistryUnavailable,
}

impl Rejection {
    /// Seconds a client should wait before retrying a provisioning tenant.
    pub const PROVISIONING_RETRY_AFTER: u32 = 5;

    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::NoTenantClaimed => StatusCode::BAD_REQUEST,
            Rejection::Unauthenticated => StatusCode::UNAUTHORIZED,
            Rejection::TenantMismatch | Rejection::Suspended => StatusCode::FORBIDDEN,
            Rejection::UnknownTenant => StatusCode::NOT_FOUND,
            Rejection::Provisioning | Rejection::RegistryUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The client-facing message.
    pub fn message(&self) -> &'static str {
        match self {
            Rejection::NoTenantClaimed => "the request does not name a tenant",
            Rejection::Unauthenticated => "missing or invalid bearer token",
            Rejection::TenantMismatch => "tenant mismatch",
            Rejection::UnknownTenant => "unknown tenant",
            Rejection::Suspended => "tenant suspended",
            Rejection::Provisioning => "tenant is being provisioned; retry shortly",
            Rejection::RegistryUnavailable => "tenant registry unavailable; retry shortly",
        }
    }

    /// The response.
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.message() }).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match self {
            Rejection::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Rejection::Provisioning | Rejection::RegistryUnavailable => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(Self::PROVISIONING_RETRY_AFTER),
                );
            }
            _ => {}
        }
        response
    }
}
