//! The warm pool: with `--warm-pool N` the server keeps N tier targets
//! made and migrated per tier; a sign-up on those tiers takes one (its id
//! becomes the tenant's, so onboarding finds the target ready) and the
//! pool is topped up again. On PostgreSQL (schemas, databases) and SQLite
//! (database files).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{TestServer, status_and_json, token_for};
use reqwest::{Method, StatusCode};
use tenantry::context::Tier;
use tenantry::registry::{NewTenant, TenantState};

/// Waits (bounded) until the pool holds `n` targets of `tier`.
async fn ready(s: &TestServer, tier: Tier, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let have = s.services.warm.ready(tier).await.unwrap();
        if have == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{tier} pool holds {have}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs a `tier` tenant up and checks its target is one of those that
/// existed before it signed up (`targets` lists them by name, `name_of`
/// names a tenant's).
async fn signs_up_from_the_pool(
    s: &TestServer,
    tier: Tier,
    targets: impl AsyncFn() -> Vec<String>,
    name_of: impl Fn(tenantry::context::TenantId) -> String,
) {
    ready(s, tier, 2).await;
    let before = targets().await;
    let slug = format!("warm-{}", tier.as_str());
    let email = format!("boss@{slug}.example");
    let (record, _) = tenantry_server::lifecycle::onboard(
        &s.lifecycle,
        NewTenant {
            id: None,
            slug: slug.clone(),
            name: slug.clone(),
            plan: tenantry_server::plans::FREE,
            tier,
            state: TenantState::Active,
            domains: vec![],
            database_server: None,
        },
        Some(email.clone()),
        "test",
    )
    .await
    .unwrap();
    // Its id was handed out by the pool: its target was there before it.
    assert!(
        before.contains(&name_of(record.id)),
        "{} not among {before:?}",
        name_of(record.id)
    );
    // Active, and its admin reaches the API.
    let token = token_for(
        common::SECRET,
        &slug,
        tenantry_server::lifecycle::first_admin_id(record.id, &email),
        "admin",
        600,
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) =
            status_and_json(s.request(&slug, &token, Method::GET, "/api/orders")).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{slug} answers {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The pool is topped up again.
    ready(s, tier, 2).await;
}

#[tokio::test]
async fn sign_ups_take_warm_targets_on_postgres() {
    let Some(s) = TestServer::postgres_with(|settings| settings.warm_pool = Some(2)).await else {
        return;
    };
    let url = s.pg.as_ref().unwrap().url().to_owned();
    let names = async |sql: &str| -> Vec<String> {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client.query(sql, &[]).await.unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    };
    signs_up_from_the_pool(
        &s,
        Tier::Schema,
        async || names("SELECT nspname::text FROM pg_namespace").await,
        tenantry::data::postgres::schema_for,
    )
    .await;
    let tenantry::data::Database::Postgres(db) = &s.services.db else {
        unreachable!()
    };
    signs_up_from_the_pool(
        &s,
        Tier::Database,
        async || names("SELECT datname::text FROM pg_database").await,
        |id| db.tenant_database(id),
    )
    .await;
}

#[tokio::test]
async fn sign_ups_take_warm_files_on_sqlite() {
    let s = TestServer::sqlite_with(|settings| settings.warm_pool = Some(2)).await;
    let dir = s.data_dir.join("tenants");
    signs_up_from_the_pool(
        &s,
        Tier::Database,
        async || {
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        },
        |id| format!("{id}.db"),
    )
    .await;
}
