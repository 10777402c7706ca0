//! The axum extractor for handlers behind [`TenantLayer`](super::TenantLayer).

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::Rejection;
use crate::context::TenantContext;

/// The verified tenant context of this request.
///
/// Handlers rarely need it — tenant-scoped helpers read the context
/// themselves — but it is there for responses that show who the caller is.
/// Outside a [`TenantLayer`](super::TenantLayer) the extraction fails with
/// 401, so a route mounted without the layer fails closed.
#[derive(Clone, Debug)]
pub struct Tenant(pub TenantContext);

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .map(Tenant)
            .ok_or_else(|| Rejection::Unauthenticated.into_response())
    }
}
