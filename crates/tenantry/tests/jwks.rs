//! RS256/ES256 tokens against a JWKS file: selection by `kid`, refresh on an
//! unknown `kid` (rate-limited), and algorithm confusion refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use tenantry::edge::{AuthError, Claims, JwksSource, TokenVerifier};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn claims() -> Claims {
    Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        tenant: "acme".into(),
        role: None,
        exp: jsonwebtoken::get_current_timestamp() + 600,
        ..Claims::default()
    }
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    tenantry::edge::install_jwt_crypto();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    encode(&header, &claims(), key).unwrap()
}

fn ec_key(name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("rs256.pem")).unwrap()).unwrap()
}

/// A JWKS file the test can rewrite, removed afterwards.
struct KeySetFile(PathBuf);

impl KeySetFile {
    fn with(fixture_name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("jwks-{}.json", uuid::Uuid::new_v4().simple()));
        std::fs::copy(fixture(fixture_name), &path).unwrap();
        Self(path)
    }
}

impl Drop for KeySetFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn es256_and_rs256_tokens_verify_by_kid() {
    let file = KeySetFile::with("jwks-a.json");
    let verifier = TokenVerifier::jwks(JwksSource::File(file.0.clone()));
    let es = sign(Algorithm::ES256, "ec-a", &ec_key("es256-a.pem"));
    assert_eq!(verifier.verify(&es).await.unwrap().tenants, ["acme"]);
    let rs = sign(Algorithm::RS256, "rsa-1", &rsa_key());
    assert_eq!(verifier.verify(&rs).await.unwrap().tenants, ["acme"]);

    // Right kid, wrong key: the signature does not verify.
    let forged = sign(Algorithm::ES256, "ec-a", &ec_key("es256-b.pem"));
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(AuthError::Invalid(_))
    ));
    // An ES256 header pointing at the RSA key: refused, whatever the signature.
    let crossed = sign(Algorithm::ES256, "rsa-1", &ec_key("es256-a.pem"));
    assert!(verifier.verify(&crossed).await.is_err());
}

#[tokio::test]
async fn hmac_tokens_are_refused_by_a_jwks_verifier() {
    let file = KeySetFile::with("jwks-a.json");
    let verifier = TokenVerifier::jwks(JwksSource::File(file.0.clone()));
    // The classic confusion: HS256 "signed" with public key material (here
    // the published key set itself) as the HMAC secret.
    let published = std::fs::read(fixture("jwks-a.json")).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = encode(&header, &claims(), &EncodingKey::from_secret(&published)).unwrap();
    let err = verifier.verify(&confused).await.unwrap_err();
    assert!(err.to_string().contains("not accepted"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_kid_refreshes_the_key_set_at_most_every_ten_seconds() {
    let file = KeySetFile::with("jwks-a.json");
    let verifier = TokenVerifier::jwks(JwksSource::File(file.0.clone()));
    let a = sign(Algorithm::ES256, "ec-a", &ec_key("es256-a.pem"));
    verifier.verify(&a).await.unwrap();

    // The provider publishes key b; a token with kid ec-b arrives at once.
    std::fs::copy(fixture("jwks-rotated.json"), &file.0).unwrap();
    let b = sign(Algorithm::ES256, "ec-b", &ec_key("es256-b.pem"));
    assert!(
        matches!(verifier.verify(&b).await, Err(AuthError::UnknownKey(_))),
        "within the interval, no refetch: made-up kids cannot force fetches"
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(
        verifier.verify(&b).await.unwrap().tenants[0],
        "acme",
        "refreshed on the unknown kid"
    );
}

#[cfg(feature = "jwks-http")]
#[tokio::test]
async fn the_key_set_can_come_from_a_url() {
    use axum::routing::get;
    let body = std::fs::read_to_string(fixture("jwks-a.json")).unwrap();
    let app = axum::Router::new().route("/.well-known/jwks.json", get(move || async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = format!("http://{addr}/.well-known/jwks.json");
    let verifier = TokenVerifier::jwks(loopback(&url));
    let token = sign(Algorithm::ES256, "ec-a", &ec_key("es256-a.pem"));
    assert_eq!(verifier.verify(&token).await.unwrap().tenants, ["acme"]);

    let unreachable = TokenVerifier::jwks(loopback(&format!("http://{addr}/missing.json")));
    let err = unreachable.verify(&token).await.unwrap_err();
    assert!(err.to_string().contains("key set unavailable"), "{err}");
}

#[cfg(feature = "jwks-http")]
fn loopback(url: &str) -> JwksSource {
    JwksSource::Url(tenantry::edge::JwksUrl::allowing_loopback_http(url).unwrap())
}

/// A key-set server for the fetch-bounds tests: `/jwks.json` answers with
/// the fixture, `/moved` redirects to it, `/huge` sends 1 MiB, `/slow`
/// never answers.
#[cfg(feature = "jwks-http")]
async fn key_set_server() -> std::net::SocketAddr {
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    let body = std::fs::read_to_string(fixture("jwks-a.json")).unwrap();
    let app = axum::Router::new()
        .route("/jwks.json", get(move || async move { body }))
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/jwks.json")]) }),
        )
        .route("/huge", get(|| async { " ".repeat(1024 * 1024) }))
        .route("/slow", get(std::future::pending::<String>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[cfg(feature = "jwks-http")]
#[tokio::test]
async fn a_fetch_follows_no_redirect_and_is_bounded_in_size_and_time() {
    use tenantry::edge::JwksOptions;
    let addr = key_set_server().await;
    let token = sign(Algorithm::ES256, "ec-a", &ec_key("es256-a.pem"));
    let verify = |path: &str| {
        let options = JwksOptions::default().timeout(Duration::from_millis(300));
        let verifier = TokenVerifier::jwks_with(loopback(&format!("http://{addr}{path}")), options);
        let token = token.clone();
        async move { verifier.verify(&token).await }
    };
    assert!(verify("/jwks.json").await.is_ok(), "the control");
    let moved = verify("/moved").await.unwrap_err();
    assert!(moved.to_string().contains("302"), "{moved}");
    let huge = verify("/huge").await.unwrap_err();
    assert!(huge.to_string().contains("larger than"), "{huge}");
    let slow = verify("/slow").await.unwrap_err();
    assert!(
        matches!(slow, AuthError::KeySetUnavailable(_)),
        "a provider that never answers: {slow}"
    );
}

/// Key set `jwks-a.json` fresh for 60 s and usable stale for 600 s, a
/// token signed with its key `ec-a`, verified once (so the set is cached).
async fn verified_once_with_lifetimes() -> (KeySetFile, TokenVerifier, String) {
    let file = KeySetFile::with("jwks-a.json");
    let options = tenantry::edge::JwksOptions::default()
        .lifetimes(Duration::from_secs(60), Duration::from_secs(600));
    let verifier = TokenVerifier::jwks_with(JwksSource::File(file.0.clone()), options);
    let a = sign(Algorithm::ES256, "ec-a", &ec_key("es256-a.pem"));
    verifier.verify(&a).await.unwrap();
    (file, verifier, a)
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_stops_verifying_after_the_ttl() {
    let (file, verifier, a) = verified_once_with_lifetimes().await;

    // The provider drops key a (revoked) and publishes only key b.
    std::fs::copy(fixture("jwks-rotated-only-b.json"), &file.0).unwrap();
    assert!(
        verifier.verify(&a).await.is_ok(),
        "within the TTL the cached key still verifies"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    // Past the TTL the stale key serves while one refresh runs behind it;
    // once that refresh lands, key a is gone.
    let mut refused = false;
    for _ in 0..50 {
        if verifier.verify(&a).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked key kept verifying");
}

#[tokio::test(start_paused = true)]
async fn an_out_of_date_key_set_is_fetched_at_most_once_per_interval_too() {
    let (file, verifier, a) = verified_once_with_lifetimes().await;
    std::fs::remove_file(&file.0).unwrap(); // the provider is down
    tokio::time::advance(Duration::from_secs(601)).await; // no fetch for max_stale
    assert!(matches!(
        verifier.verify(&a).await,
        Err(AuthError::KeySetUnavailable(_))
    ));
    // The provider is back; a token with a new key id right after the
    // failed fetch does not bring another one (each would wait for it).
    std::fs::copy(fixture("jwks-rotated.json"), &file.0).unwrap();
    let b = sign(Algorithm::ES256, "ec-b", &ec_key("es256-b.pem"));
    let refused = verifier.verify(&b).await.unwrap_err();
    assert!(
        matches!(refused, AuthError::KeySetUnavailable(_)),
        "{refused}"
    );
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(verifier.verify(&b).await.unwrap().tenants, ["acme"]);
}

#[tokio::test(start_paused = true)]
async fn cached_keys_outlive_a_provider_outage_but_not_max_stale() {
    let (file, verifier, a) = verified_once_with_lifetimes().await;

    std::fs::remove_file(&file.0).unwrap(); // the provider is down
    tokio::time::advance(Duration::from_secs(300)).await;
    assert!(
        verifier.verify(&a).await.is_ok(),
        "stale keys serve while refreshes fail"
    );
    tokio::time::advance(Duration::from_secs(301)).await;
    let err = verifier.verify(&a).await.unwrap_err();
    assert!(
        matches!(err, AuthError::KeySetUnavailable(_)),
        "past max_stale the keys are not used: {err}"
    );
}
