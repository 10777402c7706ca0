//! `/api/secrets` through the real server: write-only, admin only, tenant
//! scoped, encrypted at rest in the control plane — on SQLite, on
//! PostgreSQL, and with the master key in a real OpenBao.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::registry::TenantKey;
use tenantry::secrets::SecretsError;

const VALUE: &str = "smtp-pass-Xy7!q2Lw";

/// The tenant's context, as a server-side job would have it.
async fn context(s: &TestServer, slug: &str) -> tenantry::context::TenantContext {
    let record = s
        .services
        .tenants
        .find(&TenantKey::Slug(slug.into()))
        .await
        .unwrap()
        .unwrap();
    tenantry_server::demo::context_for(&record).unwrap()
}

async fn secrets_flow(s: &TestServer, a: &str, b: &str) {
    println!("secrets on {} with {a} and {b}", s.backend_name());
    let path = "/api/secrets/smtp_password";
    let response = s
        .as_tenant(a, Method::PUT, path)
        .json(&json!({"value": VALUE}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains(VALUE), "the value never comes back: {text}");
    let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (meta["name"].as_str(), meta["last4"].as_str()),
        (Some("smtp_password"), Some("q2Lw"))
    );

    // Reads show metadata only.
    for read in ["/api/secrets", path] {
        let text = s
            .as_tenant(a, Method::GET, read)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("q2Lw") && !text.contains(VALUE),
            "{read}: {text}"
        );
    }

    // The server itself can use it, in the tenant's context.
    let ctx = context(s, a).await;
    let revealed = ctx
        .clone()
        .scope(s.services.secrets.reveal("smtp_password"))
        .await
        .unwrap();
    assert_eq!(revealed.unwrap().expose(), VALUE);

    // Admins only; and another tenant has no such secret.
    let member = s.token(a, "member");
    let status = s
        .request(a, &member, Method::GET, "/api/secrets")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = s
        .request(a, &member, Method::PUT, path)
        .json(&json!({"value": "x"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = status_and_json(s.as_tenant(b, Method::GET, path)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = status_and_json(s.as_tenant(b, Method::GET, "/api/secrets")).await;
    assert!(
        listed["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["name"] != "smtp_password"),
        "{listed}"
    );
    let status = s
        .as_tenant(b, Method::DELETE, path)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad input: a clear 400, nothing stored.
    for (path, body) in [
        ("/api/secrets/Bad%20Name", json!({"value": "x"})),
        ("/api/secrets/ok_name", json!({"value": ""})),
        ("/api/secrets/ok_name", json!({"value": "x", "extra": 1})),
        ("/api/secrets/ok_name", json!({"value": 42})),
    ] {
        let (status, body) = status_and_json(s.as_tenant(a, Method::PUT, path).json(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
    let (_, listed) = status_and_json(s.as_tenant(a, Method::GET, "/api/secrets")).await;
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 1, "{listed}");

    // Delete, then gone.
    let status = s
        .as_tenant(a, Method::DELETE, path)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = status_and_json(s.as_tenant(a, Method::GET, path)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Offboarding's crypto-shredding: a stored secret is unreadable once the key is gone.
    s.as_tenant(a, Method::PUT, "/api/secrets/api_key")
        .json(&json!({"value": "to-be-shredded-123"}))
        .send()
        .await
        .unwrap();
    assert!(
        ctx.clone()
            .scope(s.services.secrets.destroy_tenant_key())
            .await
            .unwrap()
    );
    assert!(matches!(
        ctx.clone()
            .scope(s.services.secrets.reveal("api_key"))
            .await,
        Err(SecretsError::KeyDestroyed)
    ));
}

#[tokio::test]
async fn secrets_on_sqlite_are_sealed_at_rest() {
    let s = TestServer::sqlite().await;
    secrets_flow(&s, "acme", "globex").await;
    s.as_tenant("globex", Method::PUT, "/api/secrets/webhook_key")
        .json(&json!({"value": VALUE}))
        .send()
        .await
        .unwrap();
    // control.db holds ciphertext, not the value.
    let bytes = std::fs::read(s.config.data_dir.join("control.db")).unwrap();
    let wal = std::fs::read(s.config.data_dir.join("control.db-wal")).unwrap_or_default();
    let needle = VALUE.as_bytes();
    for file in [&bytes, &wal] {
        assert!(
            !file.windows(needle.len()).any(|w| w == needle),
            "plaintext at rest"
        );
    }
}

#[tokio::test]
async fn secrets_on_postgres_are_sealed_at_rest() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    secrets_flow(&s, "acme", "globex").await;
    s.as_tenant("globex", Method::PUT, "/api/secrets/webhook_key")
        .json(&json!({"value": VALUE}))
        .send()
        .await
        .unwrap();
    let owner = tenantry::data::postgres::migrate::connect(s.pg.as_ref().unwrap().url())
        .await
        .unwrap();
    let rows = owner
        .query("SELECT ciphertext, last4 FROM tenantry.tenant_secrets", &[])
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let ciphertext: Vec<u8> = row.get(0);
        assert!(
            !ciphertext
                .windows(VALUE.len())
                .any(|w| w == VALUE.as_bytes())
        );
    }
}

#[tokio::test]
async fn secrets_with_the_master_key_in_openbao() {
    let Some(addr) = tenantry_testkit::openbao_addr() else {
        return;
    };
    let key = format!("tenantry-server-{}", uuid::Uuid::new_v4().simple());
    let s = TestServer::sqlite_with(|settings| {
        settings.openbao_addr = Some(addr);
        settings.openbao_token = Some(tenantry_testkit::OPENBAO_TOKEN.into());
        settings.openbao_key = Some(key);
    })
    .await;
    secrets_flow(&s, "acme", "globex").await;
}

#[tokio::test]
async fn a_tenant_holds_a_bounded_number_of_secrets() {
    let s = TestServer::sqlite().await;
    let put = |name: String| {
        s.as_tenant("acme", Method::PUT, &format!("/api/secrets/{name}"))
            .json(&json!({"value": "value-0123456789"}))
    };
    for i in 0..100 {
        let (status, body) = status_and_json(put(format!("key_{i}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = status_and_json(put("one_too_many".into())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = status_and_json(put("key_7".into())).await;
    assert_eq!(status, StatusCode::OK, "replacing one is fine");
    let (_, listed) = status_and_json(s.as_tenant("acme", Method::GET, "/api/secrets")).await;
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 100);
    let (status, _) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/secrets/first")
            .json(&json!({"value": "value-0123456789"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "globex's own count");
}

/// A value may hold any character, NUL and controls included; what is
/// shown of it (and kept as text on PostgreSQL) masks them.
#[tokio::test]
async fn a_secret_of_any_characters_is_kept_on_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    let (status, meta) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/secrets/odd")
            .json(&json!({"value": "prefix-\u{0}\u{7}ab\u{0}"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["last4"], "\u{fffd}ab\u{fffd}");
}
