//! `/api/settings` and `/api/flags` through the real server, on SQLite and
//! PostgreSQL: typed and validated, admin-only writes, tenant-scoped.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn flag<'a>(flags: &'a Value, key: &str) -> &'a Value {
    flags["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap()
}

async fn settings_flow(s: &TestServer) {
    println!("settings on {}", s.backend_name());
    // Defaults until saved.
    let (status, defaults) =
        status_and_json(s.as_tenant("acme", Method::GET, "/api/settings")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (defaults["currency"].as_str(), defaults["timezone"].as_str()),
        (Some("USD"), Some("UTC"))
    );

    let wanted = json!({"email_from": "billing@acme.example", "currency": "EUR", "timezone": "Europe/Paris",
                        "webhook_url": "https://hooks.acme.example/in", "request_timeout_ms": 5000,
                        "outbound_timeout_ms": 2500, "rate_limit_per_second": 1000,
                        "rate_limit_burst": null, "max_concurrent_requests": 8});
    let (status, saved) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/settings")
            .json(&wanted),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, read) = status_and_json(s.as_tenant("acme", Method::GET, "/api/settings")).await;
    assert_eq!(read, wanted);
    // Another tenant's settings are its own.
    let (_, other) = status_and_json(s.as_tenant("globex", Method::GET, "/api/settings")).await;
    assert_eq!(other["currency"], "USD");

    // Every invalid field is named; nothing is saved.
    let bad = json!({"email_from": "nobody", "currency": "euro", "timezone": "Mars/Olympus Mons",
                     "webhook_url": "ftp://x", "request_timeout_ms": 5});
    let (status, body) =
        status_and_json(s.as_tenant("acme", Method::PUT, "/api/settings").json(&bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"].as_str().unwrap();
    for field in [
        "email_from",
        "currency",
        "timezone",
        "webhook_url",
        "request_timeout_ms",
    ] {
        assert!(message.contains(field), "{field} missing from {message}");
    }
    for body in [
        json!({"currency": "EUR", "colour": "red"}),
        json!({"request_timeout_ms": "fast"}),
    ] {
        let (status, _) = status_and_json(
            s.as_tenant("acme", Method::PUT, "/api/settings")
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (_, read) = status_and_json(s.as_tenant("acme", Method::GET, "/api/settings")).await;
    assert_eq!(read, wanted, "refused writes changed nothing");

    // Admins only.
    let member = s.token("acme", "member");
    for (method, path) in [
        (Method::GET, "/api/settings"),
        (Method::PUT, "/api/settings"),
        (Method::PUT, "/api/flags/bulk_export"),
    ] {
        let status = s
            .request("acme", &member, method.clone(), path)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
    }

    // Flags: plan defaults (acme is pro, globex free), then an override and its removal.
    let (_, acme_flags) = status_and_json(s.as_tenant("acme", Method::GET, "/api/flags")).await;
    let (_, globex_flags) = status_and_json(s.as_tenant("globex", Method::GET, "/api/flags")).await;
    assert_eq!(
        (
            flag(&acme_flags, "bulk_export")["enabled"].as_bool(),
            flag(&acme_flags, "bulk_export")["source"].as_str()
        ),
        (Some(true), Some("plan"))
    );
    assert_eq!(flag(&globex_flags, "bulk_export")["enabled"], false);
    let (status, set) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/flags/bulk_export")
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        (set["enabled"].as_bool(), set["source"].as_str()),
        (Some(true), Some("override"))
    );
    let (_, globex_flags) = status_and_json(s.as_tenant("globex", Method::GET, "/api/flags")).await;
    assert_eq!(flag(&globex_flags, "bulk_export")["enabled"], true);
    let (_, acme_flags) = status_and_json(s.as_tenant("acme", Method::GET, "/api/flags")).await;
    assert_eq!(
        flag(&acme_flags, "bulk_export")["source"],
        "plan",
        "globex's override is its own"
    );
    let (_, cleared) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/flags/bulk_export")
            .json(&json!({"enabled": null})),
    )
    .await;
    assert_eq!(cleared["enabled"], false);
    let (status, _) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/flags/no_such_flag")
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn settings_and_flags_on_sqlite() {
    settings_flow(&TestServer::sqlite().await).await;
}

#[tokio::test]
async fn settings_and_flags_on_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    settings_flow(&s).await;
}
