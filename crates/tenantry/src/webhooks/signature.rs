//! `Tenantry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
//!
//! The timestamp is inside the MAC, so a captured delivery cannot be
//! replayed later than the receiver's tolerance; the comparison is constant
//! time.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "tenantry-signature";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not of the form `t=…,v1=…`.
    #[error("malformed signature header")]
    Malformed,
    /// Older (or newer) than the tolerance allows.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    /// The MAC does not match.
    #[error("signature mismatch")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature header value for `body` sent at `timestamp` (Unix seconds).
///
/// ```
/// use std::time::Duration;
/// use tenantry::webhooks::{sign, verify};
/// let header = sign(b"whsec_acme", 1_700_000_000, b"{\"event\":\"invoice.paid\"}");
/// assert!(verify(b"whsec_acme", &header, b"{\"event\":\"invoice.paid\"}", 1_700_000_030, Duration::from_secs(300)).is_ok());
/// assert!(verify(b"whsec_globex", &header, b"{\"event\":\"invoice.paid\"}", 1_700_000_030, Duration::from_secs(300)).is_err());
/// ```
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", crate::hex::encode(&digest))
}

/// Checks `header` against `body` with `secret`, at time `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) => signature = crate::hex::decode(v),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    mac(secret, timestamp, body)
        .verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    #[test]
    fn tampering_staleness_and_garbage_are_refused() {
        let header = sign(b"s", 1_000, b"body");
        assert_eq!(verify(b"s", &header, b"body", 1_100, FIVE_MINUTES), Ok(()));
        assert_eq!(
            verify(b"s", &header, b"b0dy", 1_100, FIVE_MINUTES),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"s", &header, b"body", 2_000, FIVE_MINUTES),
            Err(SignatureError::Stale)
        );
        let moved = header.replace("t=1000", "t=1100");
        assert_eq!(
            verify(b"s", &moved, b"body", 1_100, FIVE_MINUTES),
            Err(SignatureError::Mismatch),
            "the timestamp is signed"
        );
        for garbage in ["", "t=1000", "v1=abcd", "t=x,v1=00", "t=1000,v1=zz"] {
            assert_eq!(
                verify(b"s", garbage, b"body", 1_000, FIVE_MINUTES),
                Err(SignatureError::Malformed),
                "{garbage:?}"
            );
        }
    }
}
