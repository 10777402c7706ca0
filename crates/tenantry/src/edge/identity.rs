//! [`Authenticator`]: how the edge learns who a request is from.

use crate::context::{Role, UserId};
use crate::registry::BoxFuture;

use super::auth_error::AuthError;

/// Who a request is from and which tenant(s) its credential was issued for,
/// as an [`Authenticator`] established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user (or API client) acting.
    pub subject: UserId,
    /// The tenants the credential names, each by slug or id; usually one.
    /// A request must claim one of them (otherwise 403), and an identity
    /// that names none is refused (401).
    pub tenants: Vec<String>,
    /// The caller's role in the tenant. [`Role::System`] is never taken
    /// from an identity: the edge makes it a member.
    pub role: Role,
}

/// Establishes the [`Identity`] behind a request: a bearer token
/// ([`TokenVerifier`](super::TokenVerifier)), an API key, a session cookie,
/// an mTLS client certificate…
///
/// Return [`AuthError::Missing`] when the request carries no credential of
/// yours (the edge may then accept a signed URL instead), and another
/// [`AuthError`] when it carries a bad one. Every refusal becomes the same
/// 401; the reason goes to the debug log only.
///
/// An API key per tenant, as a sketch (`examples/api_keys.rs` has the whole
/// service):
///
/// ```
/// use std::collections::HashMap;
/// use tenantry::context::{Role, UserId};
/// use tenantry::edge::{AuthError, Authenticator, Identity};
/// use tenantry::registry::BoxFuture;
///
/// struct ApiKeys(HashMap<String, (String, Role)>); // key → (tenant slug, role)
///
/// impl Authenticator for ApiKeys {
///     fn authenticate<'a>(&'a self, request: &'a http::request::Parts) -> BoxFuture<'a, Result<Identity, AuthError>> {
///         Box::pin(async move {
///             let key = request.headers.get("x-api-key").ok_or(AuthError::Missing)?;
///             let key = key.to_str().map_err(|_| AuthError::Invalid("not text".into()))?;
///             let (tenant, role) = self.0.get(key).ok_or_else(|| AuthError::Invalid("unknown key".into()))?;
///             Ok(Identity {
///                 subject: UserId::new(&format!("api-key:{}", &key[..8.min(key.len())])).expect("short and printable"),
///                 tenants: vec![tenant.clone()],
///                 role: *role,
///             })
///         })
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// The identity behind `request`.
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Identity, AuthError>>;
}

/// The bearer token of `request`, if it has one.
pub(crate) fn bearer(parts: &http::request::Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
