//! Tokens shaped like Auth0's, Keycloak's and Clerk's pass the edge with
//! configuration only: each provider is discovered from its issuer (a
//! local OpenID Connect discovery document and key set, over real HTTP),
//! and a [`ClaimMapping`] says where its tenant and roles are.
//!
//! The tokens are minted here with each provider's claim layout (as their
//! documentation and real tokens show it) and a test key.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use tenantry::edge::{
    ClaimMapping, FromSubdomain, JwksSource, OidcIssuer, Tenant, TenantLayer, TokenVerifier,
};
use tenantry::registry::{MemoryTenantStore, Tenants};

mod oidc_provider;
mod registered;

use oidc_provider::{fixture, now, provider_key, sign};

const API_HOST: &str = "app.localhost";

/// The provider, as Auth0, Keycloak and Clerk lay out their issuers and key sets.
async fn identity_provider() -> SocketAddr {
    oidc_provider::serve(&[
        // Auth0: the issuer ends with a slash.
        ("/auth0/", "/auth0/.well-known/jwks.json"),
        // Keycloak: a realm's issuer, certificates under protocol/openid-connect.
        (
            "/realms/acme-saas",
            "/realms/acme-saas/protocol/openid-connect/certs",
        ),
        // Clerk: the instance's frontend API is the issuer.
        ("/clerk", "/clerk/.well-known/jwks.json"),
    ])
    .await
}

/// The app under test: three tenants, the tenant from the subdomain, and
/// `/whoami` answering with what the edge put in the context.
async fn app(verifier: TokenVerifier) -> SocketAddr {
    let tenants = Tenants::new(Arc::new(MemoryTenantStore::default()));
    registered::register(&tenants, &["acme", "globex", "initech"]).await;
    let edge = TenantLayer::new(tenants, verifier).resolver(FromSubdomain::new(API_HOST));
    let app = Router::new()
        .route(
            "/whoami",
            get(|Tenant(ctx): Tenant| async move {
                axum::Json(json!({
                    "tenant": ctx.slug(),
                    "user": ctx.user_id().map(|u| u.to_string()),
                    "role": ctx.role().as_str(),
                }))
            }),
        )
        .layer(edge);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// `GET /whoami` on `tenant`'s subdomain with `token`: status and body.
async fn whoami(app: SocketAddr, tenant: &str, token: &str) -> (u16, Value) {
    let response = tenantry_testkit::http()
        .get(format!("http://{app}/whoami"))
        .header("host", format!("{tenant}.{API_HOST}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn discovered(idp: SocketAddr, issuer_path: &str) -> TokenVerifier {
    OidcIssuer::new(format!("http://{idp}{issuer_path}"))
        .allowing_loopback_http()
        .discover()
        .await
        .unwrap()
}

#[tokio::test]
async fn auth0_tokens_with_a_namespaced_tenant_claim() {
    let idp = identity_provider().await;
    let issuer = format!("http://{idp}/auth0/");
    let verifier = discovered(idp, "/auth0/")
        .await
        .require_audience("https://api.acme-saas.example")
        .claims(
            ClaimMapping::default()
                .tenant("https://acme-saas.example/tenant")
                .roles("https://acme-saas.example/roles"),
        );
    let app = app(verifier).await;
    let token = |tenant: &str, roles: Value, aud: Value| {
        let claims = json!({
            "iss": issuer,
            "sub": "auth0|64f1c2a9e0b3d4c5f6a7b8c9",
            "aud": aud,
            "iat": now(),
            "exp": now() + 600,
            "azp": "x8KdQ2mZbP4rT6vW9yA1cE3gH5jL7nR0",
            "scope": "openid profile email",
            "org_id": "org_9aB3cD4eF5gH6iJ7",
            "https://acme-saas.example/tenant": tenant,
            "https://acme-saas.example/roles": roles,
            "permissions": ["read:invoices", "write:invoices"],
        });
        sign(Algorithm::RS256, "provider-rsa", &provider_key(), &claims)
    };
    let ours = json!(["https://api.acme-saas.example", format!("{issuer}userinfo")]);

    let admin = token("acme", json!(["admin"]), ours.clone());
    let (status, body) = whoami(app, "acme", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"tenant": "acme", "user": "auth0|64f1c2a9e0b3d4c5f6a7b8c9", "role": "admin"})
    );
    assert_eq!(
        whoami(app, "globex", &admin).await.0,
        403,
        "another tenant's host"
    );

    let member = token("acme", json!(["billing-viewer"]), ours);
    assert_eq!(whoami(app, "acme", &member).await.1["role"], "member");

    let other_api = token("acme", json!(["admin"]), json!("https://api.other.example"));
    assert_eq!(
        whoami(app, "acme", &other_api).await.0,
        401,
        "another API's token"
    );
}

#[tokio::test]
async fn keycloak_tokens_with_organizations_and_client_roles() {
    let idp = identity_provider().await;
    let issuer = format!("http://{idp}/realms/acme-saas");
    let verifier = discovered(idp, "/realms/acme-saas")
        .await
        .require_audience("billing-api")
        .claims(
            ClaimMapping::default()
                .tenant("organization")
                .roles("resource_access.billing-api.roles")
                .admin_roles(["tenant-admin"]),
        );
    let app = app(verifier).await;
    let token = |organization: Value, client_roles: Value| {
        let claims = json!({
            "exp": now() + 300,
            "iat": now(),
            "jti": "onrtac:4c3f2b1a-9d8e-7f6a-5b4c-3d2e1f0a9b8c",
            "iss": issuer,
            "aud": ["billing-api", "account"],
            "sub": "f1b8c1de-3f0e-4a4f-9d7e-0a4c7e1b2c3d",
            "typ": "Bearer",
            "azp": "billing-web",
            "sid": "0d8f7e6c-5b4a-4938-8271-6a5b4c3d2e1f",
            "acr": "1",
            "allowed-origins": ["https://app.acme-saas.example"],
            "realm_access": {"roles": ["offline_access", "uma_authorization", "default-roles-acme-saas"]},
            "resource_access": {
                "billing-api": {"roles": client_roles},
                "account": {"roles": ["manage-account", "view-profile"]},
            },
            "scope": "openid organization profile email",
            "email_verified": true,
            "organization": organization,
            "preferred_username": "jane",
        });
        sign(Algorithm::RS256, "provider-rsa", &provider_key(), &claims)
    };

    let admin = token(json!(["acme"]), json!(["tenant-admin"]));
    let (status, body) = whoami(app, "acme", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], "f1b8c1de-3f0e-4a4f-9d7e-0a4c7e1b2c3d");
    assert_eq!(body["role"], "admin");
    assert_eq!(whoami(app, "globex", &admin).await.0, 403);

    // A user in two organisations may use either, and no third.
    let both = token(json!(["globex", "acme"]), json!([]));
    assert_eq!(whoami(app, "acme", &both).await.1["tenant"], "acme");
    let (status, body) = whoami(app, "globex", &both).await;
    assert_eq!((status, body["role"].as_str()), (200, Some("member")));
    assert_eq!(whoami(app, "initech", &both).await.0, 403);
    assert_eq!(
        whoami(app, "nonexistent", &both).await.0,
        403,
        "same as another tenant"
    );

    // The organization mapper's "add organization id" form: keyed by alias.
    let keyed = token(
        json!({"acme": {"id": "6d3c2b1a-0f9e-4d8c-b7a6-958473625140"}}),
        json!([]),
    );
    assert_eq!(whoami(app, "acme", &keyed).await.0, 200);

    // No organization scope, no tenant: refused, whoever signed it.
    let without = token(Value::Null, json!(["tenant-admin"]));
    assert_eq!(whoami(app, "acme", &without).await.0, 401);
}

#[tokio::test]
async fn clerk_session_tokens_with_the_active_organization() {
    let idp = identity_provider().await;
    let issuer = format!("http://{idp}/clerk");
    let verifier = discovered(idp, "/clerk").await.claims(
        ClaimMapping::default()
            .tenant("o.slg")
            .roles("o.rol")
            .admin_roles(["admin"]),
    );
    let app = app(verifier).await;
    let token = |slug: &str, role: &str| {
        // Clerk's version 2 session token: the active organisation in `o`.
        let claims = json!({
            "azp": "https://app.acme-saas.example",
            "exp": now() + 60,
            "fva": [0, -1],
            "iat": now(),
            "iss": issuer,
            "nbf": now() - 10,
            "sid": "sess_2yPq1hJ4xK7mN0bV3cZ6aS9dF2g",
            "sts": "active",
            "sub": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC",
            "v": 2,
            "o": {"id": "org_2xKq8Tg3LmN5pR7sV9wY1zB4cD6", "rol": role, "slg": slug, "per": "manage,read"},
        });
        sign(Algorithm::RS256, "provider-rsa", &provider_key(), &claims)
    };
    let admin = token("acme", "admin");
    let (status, body) = whoami(app, "acme", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"tenant": "acme", "user": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC", "role": "admin"})
    );
    assert_eq!(whoami(app, "globex", &admin).await.0, 403);
    assert_eq!(
        whoami(app, "acme", &token("acme", "member")).await.1["role"],
        "member"
    );

    // Signed by a key the issuer does not publish under that kid: refused.
    let forged = {
        let mut claims: Value = serde_json::from_slice(&base64_payload(&admin)).unwrap();
        claims["o"]["rol"] = json!("admin");
        let other =
            EncodingKey::from_ec_pem(&std::fs::read(fixture("es256-a.pem")).unwrap()).unwrap();
        sign(Algorithm::ES256, "provider-rsa", &other, &claims)
    };
    assert_eq!(whoami(app, "acme", &forged).await.0, 401);
}

fn base64_payload(token: &str) -> Vec<u8> {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap()
}

#[tokio::test]
async fn discovery_refuses_a_document_for_another_issuer() {
    let idp = identity_provider().await;
    let err = OidcIssuer::new(format!("http://{idp}/impostor"))
        .allowing_loopback_http()
        .discover()
        .await
        .err()
        .expect("a document speaking for another issuer is refused");
    assert!(err.to_string().contains("speaks for issuer"), "{err}");
    let err = OidcIssuer::new(format!("http://{idp}/auth0/"))
        .discover()
        .await
        .err()
        .expect("plain HTTP is refused unless allowed");
    assert!(err.to_string().contains("HTTPS"), "{err}");
}

#[tokio::test]
async fn every_signature_family_verifies_with_its_own_key_only() {
    let verifier = TokenVerifier::jwks(JwksSource::File(fixture("jwks-families.json")));
    let claims = json!({"sub": "u-1", "tenant": "acme", "exp": now() + 300});
    let rsa = provider_key();
    let p384 = EncodingKey::from_ec_pem(&std::fs::read(fixture("es384.pem")).unwrap()).unwrap();
    let ed = EncodingKey::from_ed_pem(&std::fs::read(fixture("ed25519.pem")).unwrap()).unwrap();
    for (alg, kid, key) in [
        (Algorithm::PS256, "rsa-ps256", &rsa),
        (Algorithm::RS512, "rsa-rs512", &rsa),
        (Algorithm::ES384, "ec-384", &p384),
        (Algorithm::EdDSA, "ed-1", &ed),
    ] {
        let identity = verifier.verify(&sign(alg, kid, key, &claims)).await;
        assert_eq!(identity.unwrap().tenants, ["acme"], "{alg:?}");
    }
    // The key's algorithm, not the token's: an RS256 token under the
    // PS256 key, and a key whose declared alg does not fit its type.
    for (alg, kid) in [
        (Algorithm::RS256, "rsa-ps256"),
        (Algorithm::RS256, "rsa-lying"),
    ] {
        assert!(
            verifier
                .verify(&sign(alg, kid, &rsa, &claims))
                .await
                .is_err(),
            "{kid}"
        );
    }
}
