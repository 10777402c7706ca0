//! The sqlx example, run for real: notes written through the app's own sqlx
//! pool under row-level security, each with its job enqueued in the same
//! transaction, the jobs run by the worker in their tenant's context.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod registered;
#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../examples/sqlx_notes.rs"]
mod sqlx_notes;

use std::sync::Arc;

use tenantry::data::postgres::PgDatabase;
use tenantry::edge::{Claims, TokenVerifier, issue_hs256};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;

const SECRET: &[u8] = b"a-test-secret-of-at-least-32-bytes!!";

fn token(tenant: &str) -> String {
    let claims = Claims {
        sub: format!("user-of-{tenant}"),
        tenant: tenant.into(),
        exp: jsonwebtoken::get_current_timestamp() + 300,
        ..Claims::default()
    };
    issue_hs256(SECRET, &claims).unwrap()
}

#[tokio::test]
async fn notes_and_their_jobs_stay_with_their_tenant() {
    let Some(db) = tenantry_testkit::postgres().await else {
        return;
    };
    let app_url = db.url().replacen("postgres@", "notes_app@", 1);
    let (app, worker) = sqlx_notes::app(db.url(), &app_url, TokenVerifier::hs256(SECRET))
        .await
        .unwrap();
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(
        PgDatabase::connect(&app_url, 2).unwrap(),
    )));
    registered::register(&tenants, &["acme", "globex"]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = tenantry_testkit::http();
    let notes = |tenant: &'static str| {
        http.get(format!("http://{addr}/notes"))
            .header("host", format!("{tenant}.notes.localhost"))
            .bearer_auth(token(tenant))
            .send()
    };
    for (tenant, body) in [("acme", "three small words"), ("globex", "two words")] {
        let created = http
            .post(format!("http://{addr}/notes"))
            .header("host", format!("{tenant}.notes.localhost"))
            .bearer_auth(token(tenant))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let before: Vec<(i64, String, Option<i32>)> =
        notes("acme").await.unwrap().json().await.unwrap();
    assert_eq!(before.len(), 1);
    assert_eq!(
        (before[0].1.as_str(), before[0].2),
        ("three small words", None)
    );

    // One job per note, each run in its own tenant's scope.
    assert!(worker.run_once().await.unwrap());
    assert!(worker.run_once().await.unwrap());
    assert!(
        !worker.run_once().await.unwrap(),
        "exactly two jobs were queued"
    );

    let acme: Vec<(i64, String, Option<i32>)> = notes("acme").await.unwrap().json().await.unwrap();
    let globex: Vec<(i64, String, Option<i32>)> =
        notes("globex").await.unwrap().json().await.unwrap();
    assert_eq!(acme.iter().map(|n| n.2).collect::<Vec<_>>(), [Some(3)]);
    assert_eq!(globex.iter().map(|n| n.2).collect::<Vec<_>>(), [Some(2)]);
}
