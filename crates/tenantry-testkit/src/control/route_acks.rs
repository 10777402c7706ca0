//! What every [`RouteAcks`] over a control plane must do.

use std::sync::Arc;
use std::time::Duration;

use tenantry::context::Tier;
use tenantry::moves::RouteAcks;
use tenantry::registry::{RouteChange, TenantStore};

use super::registered;

/// Heartbeats list processes; a changed record is unacknowledged until
/// acknowledged (never downgraded); lagging names the live processes
/// behind a version; silent or forgotten processes drop out.
pub async fn route_acks_conformance(registry: Arc<dyn TenantStore>, acks: Arc<dyn RouteAcks>) {
    let acme = registered(&*registry, "acme").await;
    let _quiet = registered(&*registry, "globex").await;
    acks.heartbeat("web-2").await.unwrap();
    acks.heartbeat("web-1").await.unwrap();
    acks.heartbeat("web-1").await.unwrap();
    assert_eq!(acks.processes().await.unwrap(), ["web-1", "web-2"]);
    assert!(
        acks.unacknowledged("web-1").await.unwrap().is_empty(),
        "nothing changed yet"
    );

    let moved = registry
        .set_route(
            acme,
            RouteChange::mirrored(Tier::Shared, Tier::Schema, false, None),
        )
        .await
        .unwrap();
    let version = moved.route_version;
    assert_eq!(
        acks.unacknowledged("web-1").await.unwrap(),
        [(acme, version)]
    );
    let alive = Duration::from_secs(60);
    assert_eq!(
        acks.lagging(acme, version, alive).await.unwrap(),
        ["web-1", "web-2"]
    );

    acks.ack("web-1", acme, version).await.unwrap();
    acks.ack("web-1", acme, version - 1).await.unwrap();
    assert!(
        acks.unacknowledged("web-1").await.unwrap().is_empty(),
        "never downgraded"
    );
    assert_eq!(
        acks.unacknowledged("web-2").await.unwrap(),
        [(acme, version)]
    );
    assert_eq!(acks.lagging(acme, version, alive).await.unwrap(), ["web-2"]);

    acks.forget("web-2").await.unwrap();
    assert!(acks.lagging(acme, version, alive).await.unwrap().is_empty());
    assert_eq!(
        acks.forget_silent(Duration::from_secs(3600)).await.unwrap(),
        0,
        "web-1 is alive"
    );
    assert_eq!(
        acks.forget_silent(Duration::ZERO).await.unwrap(),
        1,
        "now silent"
    );
    assert!(acks.processes().await.unwrap().is_empty());
}
