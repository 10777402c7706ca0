//! The sign-up confirmation: what the e-mail carries and `POST
//! /signup/confirm` sends back — the request's slug, name and address,
//! signed (HMAC-SHA256, a key of its own derived from the JWT secret) and
//! dated, so only someone who read the e-mail can confirm, within a day.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a confirmation can be used.
pub(crate) const VALID_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// A sign-up to confirm, as the e-mail gives it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Confirmation {
    /// The slug asked for.
    pub(crate) slug: String,
    /// The display name asked for.
    pub(crate) name: String,
    /// The first admin's address (where the e-mail went).
    pub(crate) admin_email: String,
    /// `t=<unix seconds>,v1=<hex>`: the signature over the three.
    pub(crate) signature: String,
}

/// The signing key for confirmations, from the JWT secret (a distinct
/// key: a token's signature is never a confirmation's).
pub(crate) fn key(jwt_secret: &[u8]) -> Vec<u8> {
    let mut key = b"tenantry-signup-confirmation\0".to_vec();
    key.extend_from_slice(jwt_secret);
    key
}

fn signed_bytes(slug: &str, name: &str, admin_email: &str) -> Vec<u8> {
    // A JSON array: no separator ambiguity between the three.
    serde_json::to_vec(&(slug, name, admin_email)).unwrap_or_default()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Confirmation {
    /// `slug`, `name` and `admin_email`, signed now with `key`.
    pub(crate) fn sign(key: &[u8], slug: &str, name: &str, admin_email: &str) -> Self {
        Self {
            slug: slug.to_owned(),
            name: name.to_owned(),
            admin_email: admin_email.to_owned(),
            signature: tenantry::webhooks::sign(key, now(), &signed_bytes(slug, name, admin_email)),
        }
    }

    /// Whether `key` signed exactly this, within [`VALID_FOR`].
    pub(crate) fn is_valid(&self, key: &[u8]) -> bool {
        tenantry::webhooks::verify(
            key,
            &self.signature,
            &signed_bytes(&self.slug, &self.name, &self.admin_email),
            now(),
            VALID_FOR,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_request_confirms() {
        let key = key(b"secret-secret-secret-secret-secret");
        let signed = Confirmation::sign(&key, "initech", "Initech", "boss@initech.example");
        assert!(signed.is_valid(&key));
        let mut other_slug = signed.clone();
        other_slug.slug = "initrode".into();
        assert!(!other_slug.is_valid(&key));
        let mut other_address = signed.clone();
        other_address.admin_email = "me@evil.example".into();
        assert!(!other_address.is_valid(&key));
        assert!(!signed.is_valid(b"another key"));
    }
}
