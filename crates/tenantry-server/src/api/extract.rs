//! Extractors that turn client mistakes into clear 400/404 answers.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use tenantry::context::Role;
use tenantry::edge::Tenant;
use uuid::Uuid;

use super::ApiError;

/// A JSON body; malformed JSON, a wrong type or an unknown field is a 400
/// that says what and where.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest {
                field: None,
                message: "expected Content-Type: application/json".into(),
            });
        }
        let bytes = axum::body::Bytes::from_request(req, state).await?;
        // Every body of this API is an object; serde would also read a
        // struct from an array (`[null, null]`), which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::BadRequest {
                field: None,
                message: "the body must be a JSON object".into(),
            });
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::BadRequest {
                field: None,
                message: e.body_text(),
            }),
            Err(e) => Err(ApiError::BadRequest {
                field: None,
                message: e.body_text(),
            }),
        }
    }
}

/// `application/json` or any `+json` type, as axum's own `Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Query parameters; a bad value is a 400.
pub(crate) struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|e: QueryRejection| ApiError::BadRequest {
                field: None,
                message: e.body_text(),
            })
    }
}

/// The `{id}` path segment. Anything but a UUID is 404: such an id cannot
/// name a row, and 404 is the one answer for ids the tenant cannot see.
pub(crate) struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(Id)
            .map_err(|_| ApiError::NotFound)
    }
}

/// Proof that the caller is a tenant admin (403 otherwise).
pub(crate) struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Tenant(ctx) = Tenant::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        match ctx.role() {
            Role::Admin => Ok(Admin),
            _ => Err(ApiError::Forbidden("admin role required")),
        }
    }
}
