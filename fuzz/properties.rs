//! What the edges must hold for any input, checked by the cargo-fuzz
//! targets (`fuzz_targets/`, libFuzzer) and by their proptest twins
//! (`crates/tenantry/tests/fuzz_twins.rs`, stable toolchain, in CI). Each
//! check takes raw bytes, so both drivers feed it the same way; none may
//! panic on any input, and each asserts what a wrong answer would look like.

#![allow(dead_code)] // each fuzz target uses one check

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tenantry::context::TenantId;
use tenantry::edge::{
    Claims, FromCustomDomain, FromPathPrefix, FromSubdomain, TenantResolver, TokenVerifier,
    issue_hs256,
};
use tenantry::registry::TenantKey;
use tenantry::storage::{ObjectKey, UrlSigner};

const BASE: &str = "app.example";
const SECRET: &[u8] = b"fuzzing-secret-0123456789abcdef0123";

/// `bytes` split at the first 0xFF (a byte no UTF-8 text holds): two inputs
/// from one.
fn split(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0xFF) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

/// A `Host` header: a subdomain claim is one non-empty label directly under
/// the base domain, as the host names it; a custom-domain claim is never
/// the base domain, one of its subdomains or an IP literal; at most one of
/// the two claims a host.
pub(crate) fn host(bytes: &[u8]) {
    let Ok(value) = http::HeaderValue::from_bytes(bytes) else {
        return;
    };
    let request = http::Request::builder()
        .header(http::header::HOST, value)
        .body(());
    let Ok(request) = request else {
        return;
    };
    let parts = request.into_parts().0;
    let subdomain = FromSubdomain::new(BASE).resolve(&parts);
    let custom = FromCustomDomain::new(BASE).resolve(&parts);
    assert!(
        subdomain.is_none() || custom.is_none(),
        "{bytes:?} claimed twice"
    );
    let host = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    if let Some(claim) = subdomain {
        let TenantKey::Slug(label) = claim.key else {
            panic!("a subdomain claims by slug");
        };
        assert!(!label.is_empty() && !label.contains('.'), "{label:?}");
        assert!(!label.bytes().any(|b| b.is_ascii_uppercase()), "{label:?}");
        assert!(
            host.contains(&format!("{label}.{BASE}")),
            "{label:?} from {host:?}"
        );
        assert!(claim.rewrite.is_none());
    }
    if let Some(claim) = custom {
        let TenantKey::Domain(domain) = claim.key else {
            panic!("a custom domain claims by domain");
        };
        assert!(
            domain != BASE && !domain.ends_with(&format!(".{BASE}")),
            "{domain:?}"
        );
        assert!(domain.parse::<std::net::IpAddr>().is_err(), "{domain:?}");
        assert!(!domain.is_empty(), "an empty host names no domain");
    }
}

/// A path under `/t/`: the claim's slug is one non-empty segment, and the
/// rewritten path is exactly what followed it (the query kept), so no
/// request can reach a route the prefix did not name.
pub(crate) fn path_prefix(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(uri) = http::Uri::builder().path_and_query(text).build() else {
        return;
    };
    let request = http::Request::builder().uri(uri.clone()).body(()).unwrap();
    let Some(claim) = FromPathPrefix::new("/t").resolve(&request.into_parts().0) else {
        assert!(
            !uri.path().starts_with("/t/")
                || uri.path()[3..].starts_with('/')
                || uri.path() == "/t/",
            "{text:?} was not claimed"
        );
        return;
    };
    let TenantKey::Slug(slug) = claim.key else {
        panic!("a path prefix claims by slug");
    };
    assert!(!slug.is_empty() && !slug.contains('/'), "{slug:?}");
    let rewrite = claim.rewrite.expect("a prefix claim rewrites the path");
    let original = uri.path();
    let rest = &original[format!("/t/{slug}").len()..];
    let expected = if rest.is_empty() { "/" } else { rest };
    assert_eq!(rewrite.path(), expected, "{text:?}");
    assert_eq!(rewrite.query(), uri.query(), "{text:?}");
}

/// Runs a future that never waits (HS256 verification does no I/O).
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("HS256 verification waited"),
    }
}

/// Any text as a bearer token: it never verifies (the fuzzer cannot sign
/// with the key), never panics, and a real token verifies to its claims —
/// and stops verifying once its payload is replaced by the input.
pub(crate) fn jwt(bytes: &[u8]) {
    let verifier = TokenVerifier::hs256(SECRET);
    let text = String::from_utf8_lossy(bytes);
    assert!(now(verifier.verify(&text)).is_err(), "{text:?} verified");
    let claims = Claims {
        sub: "4f2c7e1a-0000-4000-8000-000000000001".into(),
        tenant: "acme".into(),
        role: Some("member".into()),
        exp: 4_000_000_000,
        ..Claims::default()
    };
    let token = issue_hs256(SECRET, &claims).unwrap();
    let verified = now(verifier.verify(&token)).unwrap();
    assert_eq!(verified.tenants, ["acme"]);
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next().unwrap(), parts.next(), parts.next().unwrap());
    let forged = format!("{header}.{text}.{signature}");
    if let Ok(claims) = now(verifier.verify(&forged)) {
        // Only the original payload can carry the original signature.
        assert_eq!(claims.tenants, ["acme"], "{forged:?}");
        assert_eq!(forged, token);
    }
}

/// An object key: a parsed key never climbs out of, or aliases across, the
/// tenant prefix it is joined to.
pub(crate) fn object_key(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(key) = ObjectKey::parse(text) else {
        return;
    };
    let key = key.as_str();
    assert_eq!(key, text);
    assert!(!key.is_empty() && key.len() <= 900);
    assert!(!key.starts_with('/') && !key.contains('\\'), "{key:?}");
    assert!(!key.chars().any(char::is_control), "{key:?}");
    assert!(
        !key.contains(['<', '>', ':', '"', '|', '?', '*']),
        "{key:?}"
    );
    for segment in key.split('/') {
        assert!(!matches!(segment, "" | "." | ".."), "{key:?}");
    }
    let joined = format!("tenants/acme/{key}");
    let mut depth = 0usize;
    for segment in joined.split('/') {
        depth = if segment == ".." {
            depth.checked_sub(1).expect("climbed out")
        } else {
            depth + 1
        };
    }
    assert!(depth > 2, "{joined:?} left the tenant's prefix");
}

/// A signed-URL request: a path and query the fuzzer made never verifies;
/// a URL this signer made verifies for its tenant and method only.
pub(crate) fn signed_url(bytes: &[u8]) {
    let signer = UrlSigner::new(SECRET);
    let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
    let other = TenantId::from_uuid(uuid::Uuid::from_u128(2));
    let (path, query) = split(bytes);
    let path = String::from_utf8_lossy(path);
    let query = String::from_utf8_lossy(query);
    assert!(
        signer.verify("GET", tenant, &path, Some(&query)).is_err(),
        "{path:?}?{query:?} verified"
    );
    let Ok(key) = ObjectKey::parse(&path) else {
        return;
    };
    let url = signer.sign("GET", tenant, &key, Duration::from_secs(60));
    let (signed_path, signed_query) = url.split_once('?').unwrap();
    assert!(
        signer
            .verify("GET", tenant, signed_path, Some(signed_query))
            .is_ok(),
        "{url}"
    );
    assert!(
        signer
            .verify("PUT", tenant, signed_path, Some(signed_query))
            .is_err()
    );
    assert!(
        signer
            .verify("GET", other, signed_path, Some(signed_query))
            .is_err()
    );
    let moved = format!("{signed_path}x");
    assert!(
        signer
            .verify("GET", tenant, &moved, Some(signed_query))
            .is_err()
    );
}

/// A webhook signature header: one the fuzzer made never verifies; a real
/// one verifies for its body only.
pub(crate) fn webhook_signature(bytes: &[u8]) {
    let (header, body) = split(bytes);
    let header = String::from_utf8_lossy(header);
    let tolerance = Duration::from_secs(300);
    let at = 1_800_000_000;
    assert!(
        tenantry::webhooks::verify(SECRET, &header, body, at, tolerance).is_err(),
        "{header:?} verified"
    );
    let signed = tenantry::webhooks::sign(SECRET, at, body);
    assert!(tenantry::webhooks::verify(SECRET, &signed, body, at + 10, tolerance).is_ok());
    let mut other = body.to_vec();
    other.push(b'!');
    assert!(tenantry::webhooks::verify(SECRET, &signed, &other, at, tolerance).is_err());
    assert!(tenantry::webhooks::verify(b"another-secret", &signed, body, at, tolerance).is_err());
}
