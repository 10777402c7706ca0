//! Tier moves, the server's part so far: every serving process heartbeats
//! and acknowledges the route version it serves once a tenant's route
//! changes, so a move can wait for all of them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::TestServer;
use tenantry::context::Tier;
use tenantry::registry::RouteChange;

/// Waits (bounded) until some live process lags behind `version` of
/// `tenant`'s route (`some` true), or none does (`some` false).
async fn until_lagging(s: &TestServer, tenant: tenantry::TenantId, version: i64, some: bool) {
    let alive = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lagging = s
            .services
            .route_acks
            .lagging(tenant, version, alive)
            .await
            .unwrap();
        if lagging.is_empty() != some {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lagging on version {version}: {lagging:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_serving_process_acknowledges_a_new_route() {
    let s = TestServer::sqlite().await;
    let acme = s.record("acme").await;
    // The process is alive and has not served a route it was never given.
    until_lagging(&s, acme.id, i64::MAX, true).await;
    let moving = s
        .services
        .tenants
        .set_route(
            acme.id,
            RouteChange::mirrored(Tier::Shared, Tier::Database, false, None),
        )
        .await
        .unwrap();
    assert_eq!(moving.route_version, 1);
    // It serves the new route, and says so.
    until_lagging(&s, acme.id, moving.route_version, false).await;
    let back = s
        .services
        .tenants
        .set_route(acme.id, RouteChange::settled(Tier::Shared, None))
        .await
        .unwrap();
    until_lagging(&s, acme.id, back.route_version, false).await;
}
