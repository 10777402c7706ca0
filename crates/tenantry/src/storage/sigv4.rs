//! An S3 upload URL bound to one body size: AWS Signature Version 4 query
//! presigning with `content-length` among the signed headers, so S3 refuses
//! an upload of any other size (`SignatureDoesNotMatch`). `object_store`
//! presigns only the host, which lets a holder upload any amount.

use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::StorageError;

/// What presigning needs to know of the bucket's server.
pub(super) struct Presign<'a> {
    /// `http://127.0.0.1:8333`, or `None` for AWS itself.
    pub endpoint: Option<&'a str>,
    pub region: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub bucket: &'a str,
}

impl Presign<'_> {
    /// A URL that lets its holder `PUT` exactly `size` bytes at `key` for
    /// `ttl` (at most 7 days, S3's limit), signed at `now`.
    pub(super) fn put_sized(
        &self,
        key: &str,
        size: u64,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, StorageError> {
        let (scheme, host, path) = match self.endpoint {
            // Path style, as the client is configured for a custom endpoint.
            Some(endpoint) => {
                let (scheme, rest) = endpoint
                    .split_once("://")
                    .ok_or_else(|| StorageError::config(format!("endpoint {endpoint:?}")))?;
                let host = rest.trim_end_matches('/');
                (
                    scheme,
                    host.to_owned(),
                    format!("/{}/{}", self.bucket, encode_path(key)),
                )
            }
            None => (
                "https",
                format!("{}.s3.{}.amazonaws.com", self.bucket, self.region),
                format!("/{}", encode_path(key)),
            ),
        };
        let at = chrono::DateTime::<chrono::Utc>::from(now);
        let (date, stamp) = (
            at.format("%Y%m%d").to_string(),
            at.format("%Y%m%dT%H%M%SZ").to_string(),
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let expires = ttl.as_secs().clamp(1, 7 * 24 * 3600);
        // Sorted by name, as the canonical query string requires.
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
            (
                "X-Amz-Credential",
                format!("{}/{scope}", self.access_key_id),
            ),
            ("X-Amz-Date", stamp.clone()),
            ("X-Amz-Expires", expires.to_string()),
            ("X-Amz-SignedHeaders", "content-length;host".to_owned()),
        ]
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
        let canonical = format!(
            "PUT\n{path}\n{query}\ncontent-length:{size}\nhost:{host}\n\ncontent-length;host\nUNSIGNED-PAYLOAD"
        );
        let signature = self.signature(&date, &stamp, &scope, &canonical);
        Ok(format!(
            "{scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"
        ))
    }
}

/// A request's URL and the headers that sign it.
pub(super) type SignedRequest = (String, Vec<(&'static str, String)>);

impl Presign<'_> {
    /// `method` on the bucket itself (`PUT` creates it, `DELETE` removes
    /// it) with `body`, signed in the `Authorization` header at `now`: the
    /// URL and the headers to send.
    pub(super) fn bucket_request(
        &self,
        method: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<SignedRequest, StorageError> {
        let (scheme, host, path) = match self.endpoint {
            Some(endpoint) => {
                let (scheme, rest) = endpoint
                    .split_once("://")
                    .ok_or_else(|| StorageError::config(format!("endpoint {endpoint:?}")))?;
                (
                    scheme,
                    rest.trim_end_matches('/').to_owned(),
                    format!("/{}", self.bucket),
                )
            }
            None => (
                "https",
                format!("{}.s3.{}.amazonaws.com", self.bucket, self.region),
                "/".to_owned(),
            ),
        };
        let at = chrono::DateTime::<chrono::Utc>::from(now);
        let (date, stamp) = (
            at.format("%Y%m%d").to_string(),
            at.format("%Y%m%dT%H%M%SZ").to_string(),
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let payload = crate::hex::encode(&Sha256::digest(body));
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let canonical = format!(
            "{method}\n{path}\n\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{stamp}\n\n{signed}\n{payload}"
        );
        let signature = self.signature(&date, &stamp, &scope, &canonical);
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key_id
        );
        Ok((
            format!("{scheme}://{host}{path}"),
            vec![
                ("authorization", authorization),
                ("x-amz-content-sha256", payload),
                ("x-amz-date", stamp),
            ],
        ))
    }
}

impl Presign<'_> {
    /// The SigV4 signature of `canonical` (the canonical request), made on
    /// `date` at `stamp` within `scope`.
    fn signature(&self, date: &str, stamp: &str, scope: &str, canonical: &str) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            crate::hex::encode(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key_bytes = format!("AWS4{}", self.secret_access_key).into_bytes();
        for part in [date, self.region, "s3", "aws4_request"] {
            key_bytes = hmac(&key_bytes, part.as_bytes());
        }
        crate::hex::encode(&hmac(&key_bytes, to_sign.as_bytes()))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Each `/`-separated segment of `key` encoded, the slashes kept.
fn encode_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// SigV4's URI encoding: every byte but `A–Z a–z 0–9 - _ . ~` as `%XX`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL names the signed headers, the scope and the time as SigV4
    /// spells them, and the size changes the signature (SeaweedFS checks the
    /// rest for real in the server's attachment tests).
    #[test]
    fn the_size_is_signed() {
        let presign = Presign {
            endpoint: Some("http://127.0.0.1:8333"),
            region: "us-east-1",
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            bucket: "tenantry",
        };
        // 2026-11-27 15:01:02 UTC.
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_795_791_662);
        let ten = presign
            .put_sized("t/acme/a b.txt", 10, Duration::from_secs(600), at)
            .unwrap();
        let eleven = presign
            .put_sized("t/acme/a b.txt", 11, Duration::from_secs(600), at)
            .unwrap();
        assert!(ten.starts_with("http://127.0.0.1:8333/tenantry/t/acme/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261127%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261127T150102Z&X-Amz-Expires=600&X-Amz-SignedHeaders=content-length%3Bhost&X-Amz-Signature="), "{ten}");
        assert_ne!(ten, eleven);
    }
}
