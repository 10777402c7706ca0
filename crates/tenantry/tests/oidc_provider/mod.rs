//! A local OpenID Connect provider for the edge tests: discovery documents
//! and the test key set over real HTTP on a loopback port, and tokens signed
//! with the test RSA key (`fixtures/rs256.pem`, kid `provider-rsa`).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn provider_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(fixture("rs256.pem")).unwrap()).unwrap()
}

pub fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    tenantry::edge::install_jwt_crypto();
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

/// `claims` signed as the provider signs (RS256, kid `provider-rsa`).
pub fn provider_token(claims: &Value) -> String {
    sign(Algorithm::RS256, "provider-rsa", &provider_key(), claims)
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Serves, for each `(issuer path, key-set path)`, a discovery document
/// naming the issuer `http://<addr><issuer path>` and the key set at
/// `<key-set path>`, plus the key set itself; `/impostor` publishes a
/// document that speaks for the first issuer instead of itself.
pub async fn serve(issuers: &[(&str, &str)]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let keys: Value =
        serde_json::from_slice(&std::fs::read(fixture("jwks-provider.json")).unwrap()).unwrap();
    let discovery = |issuer: String, jwks_uri: String| {
        get(move || {
            let doc = json!({
                "issuer": issuer,
                "jwks_uri": jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
            });
            async move { axum::Json(doc) }
        })
    };
    let mut app = Router::new();
    for (issuer, key_set) in issuers {
        let well_known = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let keys = keys.clone();
        app = app
            .route(
                &well_known,
                discovery(format!("{base}{issuer}"), format!("{base}{key_set}")),
            )
            .route(key_set, get(move || async move { axum::Json(keys) }));
    }
    if let Some((first, key_set)) = issuers.first() {
        app = app.route(
            "/impostor/.well-known/openid-configuration",
            discovery(format!("{base}{first}"), format!("{base}{key_set}")),
        );
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
