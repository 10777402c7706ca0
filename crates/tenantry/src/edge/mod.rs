//! The edge: from an HTTP request to a verified [`TenantContext`](crate::context::TenantContext).
//!
//! [`TenantLayer`] is a tower layer for any axum app. For each request it
//!
//! 1. collects the tenant the request **claims**, from every configured
//!    [`TenantResolver`] (subdomain, custom domain, path prefix, header) —
//!    no claim → 400;
//! 2. authenticates the caller with its [`Authenticator`] **before
//!    looking anything up** — missing, invalid or expired → 401, the same
//!    whatever the request claims. The usual one is a [`TokenVerifier`]:
//!    a bearer JWT checked against a key set (RS/PS/ES/EdDSA, found by
//!    `OidcIssuer` discovery or configured) or an HMAC secret, `iss`/`aud`
//!    when required, with the tenant, subject and roles read where a
//!    [`ClaimMapping`] says (Auth0's, Keycloak's and Clerk's layouts pass
//!    with configuration only). API keys or sessions are an
//!    [`Authenticator`] of your own. On paths a [`SignedRequests`] covers,
//!    a URL signature made for the claimed tenant may stand in (the context
//!    then has no user; an unknown tenant is a bad signature, 401);
//! 3. looks the *credential's* tenant up through the TTL-cached
//!    [`Tenants`](crate::registry::Tenants) — unknown → 404;
//! 4. requires every claim to name that tenant, by comparison, without a
//!    lookup — otherwise 403 `{"error":"tenant mismatch"}`, the same for
//!    another tenant and a made-up one (a credential that names several
//!    tenants has the claimed one looked up instead, and it must be among
//!    them: 403 otherwise, unknown or not);
//! 5. gates on the tenant's state — provisioning → 503 + `Retry-After`,
//!    suspended → 403, deleting/deleted → 404;
//! 6. inside the tenant's context, asks the app's [`Membership`] (when
//!    configured) whether the token's user is still a member — not → 401 —
//!    and narrows the role to the member's;
//! 7. runs the inner service inside the tenant's context.
//!
//! `OidcIssuer` needs the `jwks-http` feature.
//!
//! [`RequestIdLayer`] (outermost) gives every request a well-formed
//! `X-Request-Id` and echoes it on every response, refusals included.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use tenantry::edge::{FromSubdomain, RequestIdLayer, TenantLayer, TokenVerifier};
//! use tenantry::registry::{Tenants, TenantStore};
//!
//! fn app(store: Arc<dyn TenantStore>) -> Router {
//!     let edge = TenantLayer::new(Tenants::new(store), TokenVerifier::hs256(b"secret"))
//!         .resolver(FromSubdomain::new("app.localhost"));
//!     Router::new()
//!         .route("/api/me", get(|tenantry::edge::Tenant(ctx): tenantry::edge::Tenant| async move {
//!             ctx.slug().to_owned()
//!         }))
//!         .layer(edge)
//!         .layer(RequestIdLayer)
//! }
//! ```

mod auth;
mod auth_error;
mod claims;
mod extract;
mod identity;
mod jwks;
mod jwt_crypto;
mod layer;
mod membership;
#[cfg(feature = "jwks-http")]
mod oidc;
mod rejection;
mod request_id;
mod resolve;

pub use auth::{Claims, TokenVerifier, issue_hs256};
pub use auth_error::{AuthCause, AuthError};
pub use claims::{ClaimMapping, ClaimPath};
pub use extract::Tenant;
pub use identity::{Authenticator, Identity};
pub use jwks::{JwksOptions, JwksSource};
#[cfg(feature = "jwks-http")]
pub use jwks::{JwksUrl, JwksUrlError};
pub use jwt_crypto::install_jwt_crypto;
pub use layer::{SignedRequests, TenantLayer, TenantService};
pub use membership::{CachedMembership, Membership, MembershipError};
#[cfg(feature = "jwks-http")]
pub use oidc::OidcIssuer;
pub use rejection::Rejection;
pub use request_id::{REQUEST_ID_HEADER, RequestIdLayer, RequestIdService};
pub use resolve::{
    Claim, FromCustomDomain, FromHeader, FromPathPrefix, FromSubdomain, TenantResolver,
};
