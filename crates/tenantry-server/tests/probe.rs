//! The leak probe against the reference server, and against a deliberately
//! leaky app to show it is not passing vacuously.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::routing::get;
use common::TestServer;
use serde_json::{Value, json};
use tenantry::context::Tier;
use tenantry::edge::{FromSubdomain, RequestIdLayer, Tenant, TenantLayer, TokenVerifier};
use tenantry::registry::{NewTenant, TenantState, Tenants};
use tenantry_probe::{Outcome, Probe, Report, TenantAccess};

async fn probe_server(s: &TestServer) -> Report {
    probe_pair(s, "acme", "globex").await
}

async fn probe_pair(s: &TestServer, attacker: &str, victim: &str) -> Report {
    s.leak_probe(attacker, victim).await
}

fn assert_clean(report: &Report) {
    println!("{report}");
    assert!(report.is_clean(), "{report}");
    // Every id-taking operation of the API was actually tried.
    let tried = |needle: &str| {
        report
            .checks
            .iter()
            .any(|c| c.what.starts_with(needle) && c.expected == 404)
    };
    for op in [
        "GET /api/orders/{id}",
        "PATCH /api/orders/{id}",
        "DELETE /api/orders/{id}",
        "GET /api/users/{id}",
        "PATCH /api/users/{id}",
        "DELETE /api/users/{id}",
        "GET /api/invoices/{id}",
        "POST /api/invoices/{id}/pay",
        "POST /api/invoices",
        "GET /api/invoices/{id}/attachments ",
        "GET /api/invoices/{id}/attachments/{name}",
        "PUT /api/invoices/{id}/attachments/{name}",
        "DELETE /api/invoices/{id}/attachments/{name}",
        "POST /api/invoices/{id}/attachments/{name}/upload-url",
    ] {
        assert!(tried(op), "{op} was not probed:\n{report}");
    }
    assert!(
        report.checks.iter().filter(|c| c.expected == 403).count() >= 12,
        "spoofs on every list endpoint (orders, users, invoices, secrets)"
    );
}

#[tokio::test]
async fn reference_server_has_no_leaks_on_sqlite() {
    let server = TestServer::sqlite().await;
    assert_clean(&probe_server(&server).await);
    // Across tiers: database-tier umbrella (its own file) against shared-tier acme.
    server
        .seed(
            "umbrella",
            tenantry_server::plans::PRO,
            tenantry::context::Tier::Database,
        )
        .await;
    assert_clean(&probe_pair(&server, "umbrella", "acme").await);
    assert_clean(&probe_pair(&server, "acme", "umbrella").await);
}

#[tokio::test]
async fn reference_server_has_no_leaks_on_postgres() {
    let Some(server) = TestServer::postgres().await else {
        return;
    };
    assert_clean(&probe_server(&server).await);
    // Across tiers: schema-tier initech against shared-tier acme, both ways.
    server
        .seed(
            "initech",
            tenantry_server::plans::PRO,
            tenantry::context::Tier::Schema,
        )
        .await;
    assert_clean(&probe_pair(&server, "initech", "acme").await);
    assert_clean(&probe_pair(&server, "acme", "initech").await);
    // And database-tier umbrella (its own database) against both.
    server
        .seed(
            "umbrella",
            tenantry_server::plans::ENTERPRISE,
            tenantry::context::Tier::Database,
        )
        .await;
    for (attacker, victim) in [
        ("umbrella", "acme"),
        ("acme", "umbrella"),
        ("umbrella", "initech"),
        ("initech", "umbrella"),
    ] {
        assert_clean(&probe_pair(&server, attacker, victim).await);
    }
}

/// Notes of two tenants in memory; `/api/notes/{id}` forgets to check the owner.
#[tokio::test]
async fn the_probe_reports_a_leaky_route() {
    let store: Arc<dyn tenantry::registry::TenantStore> =
        Arc::new(tenantry::registry::MemoryTenantStore::default());
    let tenants = Tenants::new(store);
    let mut notes = Vec::new();
    for slug in ["acme", "globex"] {
        let t = tenants
            .create(NewTenant {
                id: None,
                slug: slug.into(),
                name: slug.into(),
                plan: tenantry_server::plans::FREE,
                tier: Tier::Shared,
                state: TenantState::Active,
                domains: vec![],
                database_server: None,
            })
            .await
            .unwrap();
        notes.push(json!({"id": uuid::Uuid::new_v4().to_string(), "owner": t.id.to_string(), "text": format!("{slug}'s secret")}));
    }
    let notes = Arc::new(notes);
    let (list_notes, leaky_notes, safe_notes) = (notes.clone(), notes.clone(), notes.clone());
    let owned = |notes: &[Value], ctx: &tenantry::TenantContext| -> Vec<Value> {
        notes
            .iter()
            .filter(|n| n["owner"] == ctx.tenant_id().to_string())
            .cloned()
            .collect()
    };
    let app = axum::Router::new()
        .route(
            "/api/notes",
            get(move |Tenant(ctx): Tenant| async move {
                Json(json!({"notes": owned(&list_notes, &ctx)}))
            }),
        )
        // The bug under test: no owner check.
        .route(
            "/api/notes/{id}",
            get(move |Path(id): Path<String>| async move {
                match leaky_notes.iter().find(|n| n["id"] == id) {
                    Some(note) => Ok(Json(note.clone())),
                    None => Err(axum::http::StatusCode::NOT_FOUND),
                }
            }),
        )
        .route(
            "/api/notes/{id}/owned",
            get(
                move |Tenant(ctx): Tenant, Path(id): Path<String>| async move {
                    match owned(&safe_notes, &ctx).into_iter().find(|n| n["id"] == id) {
                        Some(note) => Ok(Json(note)),
                        None => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                },
            ),
        )
        .layer(
            TenantLayer::new(tenants, TokenVerifier::hs256(common::SECRET.as_bytes()))
                .resolver(FromSubdomain::new("localhost")),
        )
        .layer(RequestIdLayer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let openapi = json!({
        "openapi": "3.1.0",
        "paths": {
            "/api/notes": {"get": {}},
            "/api/notes/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": true}]}},
            "/api/notes/{id}/owned": {"get": {"parameters": [{"name": "id", "in": "path"}]}}
        }
    });
    let tenant = |slug: &str| TenantAccess {
        slug: slug.into(),
        host: format!("{slug}.localhost:{}", addr.port()),
        token: common::token_with(common::SECRET, slug, "member", 600),
    };
    let report = Probe {
        base_url: format!("http://{addr}"),
        openapi,
        attacker: tenant("acme"),
        victim: tenant("globex"),
        path_prefix: None,
        tenant_header: None,
    }
    .run()
    .await
    .unwrap();
    println!("{report}");
    let leaks = report.leaks();
    assert_eq!(leaks.len(), 1, "{report}");
    assert!(leaks[0].what.starts_with("GET /api/notes/{id}"), "{report}");
    assert_eq!(leaks[0].got, 200);
    assert!(!report.is_clean());
    assert!(
        report.untested().is_empty() && report.failed_controls().is_empty(),
        "{report}"
    );
    // The correctly scoped route is probed and passes.
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.what.starts_with("GET /api/notes/{id}/owned as acme")
                && c.outcome == Outcome::Pass),
        "{report}"
    );
}
