//! [`OidcIssuer`]: an OpenID Connect issuer's keys, found from its name.
//!
//! An identity provider publishes `<issuer>/.well-known/openid-configuration`
//! (OpenID Connect Discovery 1.0), which names its `jwks_uri`. Configuring
//! the issuer alone is then enough: the verifier fetches the document once,
//! checks that it speaks for that issuer (its `issuer` must equal the
//! configured one, character for character, as the spec requires — a
//! document that names another issuer is refused), and from then on
//! verifies tokens against the key set, requiring `iss` to be the issuer.
//!
//! The document is fetched like a key set: HTTPS only (plain HTTP to a
//! loopback host only when asked), no redirects, bounded in time and size.

use serde::Deserialize;

use super::auth::TokenVerifier;
use super::auth_error::{AuthCause, AuthError};
use super::jwks::{JwksOptions, JwksSource, JwksUrl, bounded_client, fetch_bounded};

/// An OpenID Connect issuer, to be discovered.
///
/// ```no_run
/// # async fn demo() -> Result<(), tenantry::edge::AuthError> {
/// use tenantry::edge::{ClaimMapping, OidcIssuer};
///
/// let verifier = OidcIssuer::new("https://acme-saas.eu.auth0.com/")
///     .discover()
///     .await?
///     .require_audience("https://api.acme-saas.example")
///     .claims(ClaimMapping::default().tenant("org_id").roles("https://acme-saas.example/roles"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct OidcIssuer {
    issuer: String,
    loopback_http: bool,
    options: JwksOptions,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl OidcIssuer {
    /// The issuer exactly as its tokens' `iss` names it (trailing slash
    /// included where the provider has one, as Auth0's does).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            loopback_http: false,
            options: JwksOptions::default(),
        }
    }

    /// Allows plain HTTP to a loopback host (a provider in a test, or a
    /// sidecar on the same machine).
    pub fn allowing_loopback_http(mut self) -> Self {
        self.loopback_http = true;
        self
    }

    /// The key set's refresh, timeout and size settings (also bounding the
    /// discovery fetch).
    pub fn options(mut self, options: JwksOptions) -> Self {
        self.options = options;
        self
    }

    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// Fetches the discovery document and returns a verifier for the
    /// issuer's key set that requires `iss` to be this issuer.
    ///
    /// Fails with [`AuthError::KeySetUnavailable`] when the document cannot
    /// be fetched or read, names another issuer, or points at a key set URL
    /// that is refused (not HTTPS).
    pub async fn discover(self) -> Result<TokenVerifier, AuthError> {
        let unavailable = |e: AuthCause| AuthError::KeySetUnavailable(e);
        let url = self.url(&self.discovery_url())?;
        let body = fetch_bounded(
            &bounded_client(&self.options),
            url.as_url(),
            self.options.max_bytes,
        )
        .await?;
        let document: Discovery = serde_json::from_slice(&body)
            .map_err(|e| unavailable(AuthCause::from(format!("{}: {e}", self.discovery_url()))))?;
        if document.issuer != self.issuer {
            return Err(unavailable(AuthCause::from(format!(
                "the discovery document speaks for issuer {:?}, not {:?}",
                document.issuer, self.issuer
            ))));
        }
        let keys = self.url(&document.jwks_uri)?;
        Ok(
            TokenVerifier::jwks_with(JwksSource::Url(keys), self.options)
                .require_issuer(self.issuer),
        )
    }

    fn url(&self, url: &str) -> Result<JwksUrl, AuthError> {
        let parsed = if self.loopback_http {
            JwksUrl::allowing_loopback_http(url)
        } else {
            JwksUrl::https(url)
        };
        parsed.map_err(|e| AuthError::KeySetUnavailable(AuthCause::new(e)))
    }
}
