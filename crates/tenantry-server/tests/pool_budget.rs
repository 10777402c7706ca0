//! More database-tier tenants than the connection budget, all busy at once:
//! the server stays within its budget and every request either waits for a
//! connection or gets a clear 503 — never a 500.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::TestServer;
use reqwest::{Method, StatusCode};
use tenantry::context::Tier;
use tenantry::data::Database;

const BUDGET: usize = 3;
const TENANTS: usize = 10;

#[tokio::test]
async fn busy_database_tier_tenants_share_the_connection_budget() {
    let Some(s) = TestServer::postgres_with(|settings| settings.pool_size = Some(BUDGET)).await
    else {
        return;
    };
    let mut slugs = Vec::new();
    for i in 0..TENANTS {
        let slug = format!("dbt{i}");
        s.seed(&slug, tenantry_server::plans::PRO, Tier::Database)
            .await;
        slugs.push(slug);
    }
    let Database::Postgres(pg) = &s.services.db else {
        unreachable!("a PostgreSQL test server")
    };

    // Watch the budget while every tenant sends requests at once.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (pg, done, peak) = (pg.clone(), done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(pg.open_connections(), Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let mut requests = tokio::task::JoinSet::new();
    for slug in slugs.iter().cycle().take(TENANTS * 6) {
        let request = s.as_tenant(slug, Method::GET, "/api/orders");
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        });
    }
    let responses = requests.join_all().await;
    done.store(true, Ordering::SeqCst);
    watcher.await.unwrap();

    let mut served = 0;
    for (status, body) in &responses {
        match *status {
            StatusCode::OK => {
                assert_eq!(body["orders"].as_array().unwrap().len(), 5, "{body}");
                served += 1;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(body["error"].as_str().unwrap().contains("retry"), "{body}")
            }
            other => panic!("{other}: {body}"),
        }
    }
    // With a 5 s acquire timeout, short requests wait rather than fail.
    assert_eq!(served, responses.len());
    assert!(peak.load(Ordering::SeqCst) <= BUDGET, "peak {peak:?}");
    assert!(pg.open_connections() <= BUDGET);
    assert_eq!(pg.open_tenant_pools(), TENANTS);
}
