//! The quick start, run for real: `examples/quickstart.rs` against a fresh
//! PostgreSQL database and a local OpenID Connect provider, called over
//! HTTP as two tenants' users would.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod oidc_provider;
#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../examples/quickstart.rs"]
mod quickstart;
mod registered;

use std::sync::Arc;

use serde_json::json;
use tenantry::data::Migration;
use tenantry::data::postgres::{PgDatabase, PrepareError, migrate, prepare};
use tenantry::edge::OidcIssuer;
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;

fn app_url(owner_url: &str) -> String {
    owner_url.replacen("postgres@", "notes_app@", 1)
}

fn token(issuer: &str, tenant: &str) -> String {
    oidc_provider::provider_token(&json!({
        "iss": issuer,
        "sub": format!("user-of-{tenant}"),
        "org_slug": tenant,
        "exp": oidc_provider::now() + 300,
    }))
}

#[tokio::test]
async fn two_tenants_use_the_quickstart_and_never_see_each_other() {
    let Some(db) = tenantry_testkit::postgres().await else {
        return;
    };
    let idp = oidc_provider::serve(&[("/issuer", "/issuer/keys")]).await;
    let issuer = format!("http://{idp}/issuer");
    let app = quickstart::app(
        db.url(),
        &app_url(db.url()),
        OidcIssuer::new(&issuer).allowing_loopback_http(),
        "org_slug",
    )
    .await
    .unwrap();
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(
        PgDatabase::connect(&app_url(db.url()), 2).unwrap(),
    )));
    registered::register(&tenants, &["acme", "globex"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = tenantry_testkit::http();
    let call = |method: reqwest::Method, host: &str, token: Option<String>, body: &str| {
        let mut request = http
            .request(method, format!("http://{addr}/notes"))
            .header("host", format!("{host}.notes.localhost"))
            .body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let (acme, globex) = (token(&issuer, "acme"), token(&issuer, "globex"));

    let created = call(
        reqwest::Method::POST,
        "acme",
        Some(acme.clone()),
        "acme's plan",
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let created = call(
        reqwest::Method::POST,
        "globex",
        Some(globex.clone()),
        "globex's plan",
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);

    let listed: Vec<String> = call(reqwest::Method::GET, "acme", Some(acme.clone()), "")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, ["acme's plan"]);
    let listed: Vec<String> = call(reqwest::Method::GET, "globex", Some(globex), "")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, ["globex's plan"]);

    let crossing = call(reqwest::Method::GET, "globex", Some(acme), "")
        .await
        .unwrap();
    assert_eq!(crossing.status(), 403, "acme's token on globex's host");
    let anonymous = call(reqwest::Method::GET, "acme", None, "").await.unwrap();
    assert_eq!(anonymous.status(), 401);

    // The rows are apart in the database itself: the app role without a
    // tenant set sees none of them; the owner sees both, each tagged.
    let app_role = migrate::connect(&app_url(db.url())).await.unwrap();
    let unscoped: i64 = app_role
        .query_one("SELECT count(*) FROM notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unscoped, 0);
    let owner = migrate::connect(db.url()).await.unwrap();
    let tagged: i64 = owner
        .query_one(
            "SELECT count(DISTINCT tenant_id) FROM notes WHERE tenant_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tagged, 2);
}

/// A table whose migration forgot its policy: the start-up audit names it
/// and the app does not start.
#[tokio::test]
async fn the_start_up_audit_catches_a_table_left_without_isolation() {
    let Some(db) = tenantry_testkit::postgres().await else {
        return;
    };
    const FORGOT: &[Migration] = &[Migration {
        version: 1,
        name: "invoices",
        sql: "CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, total bigint NOT NULL);",
    }];
    let app = PgDatabase::connect(&app_url(db.url()), 2).unwrap();
    let err = prepare(db.url(), "notes_app", FORGOT, &app)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PrepareError::Unsafe(findings) if findings.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("invoices"), "{err}");
}
