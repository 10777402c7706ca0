//! [`UrlSigner`]: HMAC-signed URLs for objects served by the app itself (the
//! local backend), bound to a tenant, a method, a path and an expiry.
//!
//! The tenant is not in the URL: the server resolves it from the request
//! (host or path prefix) as for any request, and the signature covers it, so
//! a URL signed for one tenant does not verify on another tenant's host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::ObjectKey;
use crate::context::TenantId;

/// Where signed object URLs live, below the tenant's own URL space.
pub const SIGNED_PATH_PREFIX: &str = "/files/";

/// Signs and checks object URLs with one secret key.
///
/// ```
/// use std::time::Duration;
/// use tenantry::context::TenantId;
/// use tenantry::storage::{ObjectKey, UrlSigner};
///
/// let signer = UrlSigner::new(b"a secret of at least thirty-two bytes!!");
/// let (acme, globex) = (TenantId::new_v4(), TenantId::new_v4());
/// let key = ObjectKey::parse("invoices/7/scan 1.pdf").unwrap();
/// let url = signer.sign("GET", acme, &key, Duration::from_secs(300));
/// assert!(url.starts_with("/files/invoices/7/scan%201.pdf?expires="));
/// let (path, query) = url.split_once('?').unwrap();
/// assert!(signer.verify("GET", acme, path, Some(query)).is_ok());
/// assert!(signer.verify("GET", globex, path, Some(query)).is_err());
/// assert!(signer.verify("PUT", acme, path, Some(query)).is_err());
/// ```
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// `expires` or `signature` is missing or malformed.
    #[error("the URL is not signed")]
    Missing,
    /// The expiry has passed.
    #[error("the signed URL has expired")]
    Expired,
    /// The signature does not match (another tenant, method, path or key).
    #[error("the URL signature does not match")]
    Mismatch,
}

impl UrlSigner {
    /// A signer with `key` (keep it secret; 32 bytes or more).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// A path and query (`/files/<key>?expires=…&signature=…`) that lets
    /// whoever holds it `method` the object `key` of `tenant` for `ttl`.
    pub fn sign(&self, method: &str, tenant: TenantId, key: &ObjectKey, ttl: Duration) -> String {
        self.sign_with(method, tenant, key, None, ttl)
    }

    /// An upload URL (`PUT`) for exactly `size` bytes: the size is signed
    /// with the rest, and [`verify`](Self::verify) hands it back for the
    /// server to hold the body to.
    pub fn sign_upload(
        &self,
        tenant: TenantId,
        key: &ObjectKey,
        size: u64,
        ttl: Duration,
    ) -> String {
        self.sign_with("PUT", tenant, key, Some(size), ttl)
    }

    fn sign_with(
        &self,
        method: &str,
        tenant: TenantId,
        key: &ObjectKey,
        size: Option<u64>,
        ttl: Duration,
    ) -> String {
        let expires = unix_now().saturating_add(ttl.as_secs());
        let path = format!("{SIGNED_PATH_PREFIX}{}", encode_key(key.as_str()));
        let signature = crate::hex::encode(&self.mac(method, tenant, &path, expires, size));
        match size {
            Some(size) => format!("{path}?expires={expires}&size={size}&signature={signature}"),
            None => format!("{path}?expires={expires}&signature={signature}"),
        }
    }

    /// Checks a request's raw `path` and `query` for `method` as `tenant`;
    /// the body size the URL binds an upload to, if it binds one.
    pub fn verify(
        &self,
        method: &str,
        tenant: TenantId,
        path: &str,
        query: Option<&str>,
    ) -> Result<Option<u64>, SignatureError> {
        let (mut expires, mut size, mut signature) = (None, None, None);
        for pair in query.unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse::<u64>().ok(),
                Some(("size", v)) => {
                    size = Some(v.parse::<u64>().map_err(|_| SignatureError::Mismatch)?)
                }
                Some(("signature", v)) => signature = crate::hex::decode(v),
                _ => {}
            }
        }
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let mut mac = self.keyed();
        mac.update(&message(method, tenant, path, expires, size));
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| SignatureError::Mismatch)?;
        if unix_now() > expires {
            return Err(SignatureError::Expired);
        }
        Ok(size)
    }

    fn keyed(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    fn mac(
        &self,
        method: &str,
        tenant: TenantId,
        path: &str,
        expires: u64,
        size: Option<u64>,
    ) -> Vec<u8> {
        let mut mac = self.keyed();
        mac.update(&message(method, tenant, path, expires, size));
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

fn message(method: &str, tenant: TenantId, path: &str, expires: u64, size: Option<u64>) -> Vec<u8> {
    let mut text = format!(
        "tenantry-url-v1\n{}\n{tenant}\n{path}\n{expires}",
        method.to_ascii_uppercase()
    );
    // Only upload URLs bind a size; the others' messages stay as they were.
    if let Some(size) = size {
        text.push_str(&format!("\nsize={size}"));
    }
    text.into_bytes()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Percent-encodes every byte of each segment but RFC 3986's unreserved ones.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a path produced by [`UrlSigner::sign`] back to its key text.
pub(crate) fn decode_key(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_and_expiry_are_refused() {
        let signer = UrlSigner::new(b"0123456789abcdef0123456789abcdef");
        let tenant = TenantId::new_v4();
        let key = ObjectKey::parse("a/b.txt").unwrap();
        let url = signer.sign("GET", tenant, &key, Duration::from_secs(60));
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(signer.verify("get", tenant, path, Some(query)), Ok(None));
        assert_eq!(
            signer.verify("GET", tenant, "/files/a/c.txt", Some(query)),
            Err(SignatureError::Mismatch)
        );
        let later = query.replace("expires=", "expires=9");
        assert_eq!(
            signer.verify("GET", tenant, path, Some(&later)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            signer.verify("GET", tenant, path, None),
            Err(SignatureError::Missing)
        );
        let other = UrlSigner::new(b"another key, also thirty-two bytes");
        assert_eq!(
            other.verify("GET", tenant, path, Some(query)),
            Err(SignatureError::Mismatch)
        );
        let past = unix_now() - 10;
        let path = "/files/a/b.txt";
        let mac = crate::hex::encode(&signer.mac("GET", tenant, path, past, None));
        assert_eq!(
            signer.verify(
                "GET",
                tenant,
                path,
                Some(&format!("expires={past}&signature={mac}"))
            ),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn an_upload_url_binds_its_size() {
        let signer = UrlSigner::new(b"0123456789abcdef0123456789abcdef");
        let tenant = TenantId::new_v4();
        let key = ObjectKey::parse("invoices/7/scan.pdf").unwrap();
        let url = signer.sign_upload(tenant, &key, 10, Duration::from_secs(60));
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(
            signer.verify("PUT", tenant, path, Some(query)),
            Ok(Some(10))
        );
        let larger = query.replace("size=10", "size=11000000");
        assert_eq!(
            signer.verify("PUT", tenant, path, Some(&larger)),
            Err(SignatureError::Mismatch)
        );
        let unbounded = query.replace("size=10&", "");
        assert_eq!(
            signer.verify("PUT", tenant, path, Some(&unbounded)),
            Err(SignatureError::Mismatch),
            "dropping the size does not lift it"
        );
        let plain = signer.sign("GET", tenant, &key, Duration::from_secs(60));
        let (path, query) = plain.split_once('?').unwrap();
        assert_eq!(signer.verify("GET", tenant, path, Some(query)), Ok(None));
    }

    #[test]
    fn keys_round_trip_through_encoding() {
        for key in ["a/b c.pdf", "ünï/cödé", "x%y", "plain/name.txt"] {
            assert_eq!(decode_key(&encode_key(key)).as_deref(), Some(key));
        }
    }
}
