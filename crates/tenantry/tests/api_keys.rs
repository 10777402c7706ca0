//! The custom-authenticator example, over HTTP: API keys per tenant pass the
//! same edge checks as tokens.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../examples/api_keys.rs"]
mod api_keys;
mod registered;

use std::sync::Arc;

use api_keys::{ApiKeys, IssuedKey};
use tenantry::context::Role;
use tenantry::registry::{MemoryTenantStore, TenantState, Tenants};

#[tokio::test]
async fn an_api_key_speaks_for_its_tenant_only() {
    let tenants = Tenants::new(Arc::new(MemoryTenantStore::default()));
    let records = registered::register(&tenants, &["acme", "globex", "initech"]).await;
    let mut keys = ApiKeys::default();
    let issue = |tenant: &str, role, name: &str| IssuedKey {
        tenant: tenant.into(),
        role,
        name: name.into(),
    };
    keys.issue("acme-key-0123456789", issue("acme", Role::Admin, "acme-ci"));
    keys.issue(
        "globex-key-0123456789",
        issue("globex", Role::Member, "globex-sync"),
    );
    keys.issue(
        "initech-key-0123456789",
        issue("initech", Role::Member, "initech-sync"),
    );
    tenants
        .set_state(records[2].id, TenantState::Suspended)
        .await
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = api_keys::app(tenants, keys);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let call = |host: &str, key: Option<&str>| {
        let mut request = tenantry_testkit::http()
            .get(format!("http://{addr}/whoami"))
            .header("host", format!("{host}.api.localhost"));
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send()
    };

    let answer = call("acme", Some("acme-key-0123456789")).await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"tenant": "acme", "client": "api-key:acme-ci", "role": "admin"})
    );
    let member: serde_json::Value = call("globex", Some("globex-key-0123456789"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(member["role"], "member");

    assert_eq!(
        call("globex", Some("acme-key-0123456789"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(call("acme", Some("not-a-key")).await.unwrap().status(), 401);
    assert_eq!(call("acme", None).await.unwrap().status(), 401);
    assert_eq!(
        call("initech", Some("initech-key-0123456789"))
            .await
            .unwrap()
            .status(),
        403,
        "a suspended tenant's key is refused like its users' tokens"
    );
}
