//! [`AuthError`]: why a credential was refused, shared by every part of
//! authentication (tokens, claim mappings, key sets, authenticators).

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
    Invalid(String),
    /// Signed with a key id the JWKS does not have.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The key set (or the issuer's discovery document) could not be
    /// fetched and no usable copy is cached.
    #[error("key set unavailable: {0}")]
    KeySetUnavailable(String),
}
