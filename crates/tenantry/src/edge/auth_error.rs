//! [`AuthError`]: why a credential was refused, shared by every part of
//! authentication (tokens, claim mappings, key sets, authenticators),
//! and [`AuthCause`], the error under it.

use std::fmt;
use std::sync::Arc;

/// Why a request's credential was refused (all become 401; the text is
/// for logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no credential this authenticator reads.
    #[error("missing credentials")]
    Missing,
    /// Malformed, badly signed, expired, not yet valid, for another issuer
    /// or audience, of a refused algorithm, or without the claims the
    /// [`ClaimMapping`](super::ClaimMapping) needs.
    #[error("invalid token: {0}")]
    Invalid(#[source] AuthCause),
    /// Signed with a key id the JWKS does not have.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The key set (or the issuer's discovery document) could not be
    /// fetched and no usable copy is cached.
    #[error("key set unavailable: {0}")]
    KeySetUnavailable(#[source] AuthCause),
}

/// The error under an [`AuthError`]: the decoder's, the HTTP client's or
/// the file system's, kept as a source (a caller can downcast it to tell a
/// timeout from a refusal); or just a message when there is no underlying
/// error (`"token has no kid"`). Shared, because one failed key-set fetch
/// answers every request that waited on it. Two causes are equal when they
/// read the same.
#[derive(Clone)]
pub struct AuthCause(Arc<dyn std::error::Error + Send + Sync>);

impl AuthCause {
    /// `error`, kept as the cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// The underlying error, to downcast.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl From<String> for AuthCause {
    fn from(message: String) -> Self {
        Self(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
            message,
        )))
    }
}

impl From<&str> for AuthCause {
    fn from(message: &str) -> Self {
        Self::from(message.to_owned())
    }
}

impl fmt::Display for AuthCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for AuthCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AuthCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for AuthCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

impl Eq for AuthCause {}
