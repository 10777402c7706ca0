//! The registry's side of a tier move, on PostgreSQL and SQLite: while a
//! tenant dual-writes, its record routes writes to its tier and the target
//! (reads stay on its tier); every change of route bumps its route version
//! (and only a change); every live process must acknowledge a version
//! before a move trusts it; the cutover routes it to the target alone.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod pg_notes;

use std::sync::Arc;

use tenantry::context::Tier;
use tenantry::data::postgres::PgDatabase;
use tenantry::data::sqlite::{self as lite, SqliteDatabase};
use tenantry::moves::RouteAcks;
use tenantry::registry::SqlTenantStore;
use tenantry::registry::{NewTenant, RouteChange, TenantKey, TenantState, Tenants};

async fn routes_follow_the_move(tenants: Tenants, acks: Arc<dyn RouteAcks>) {
    let record = tenants
        .create(NewTenant {
            id: None,
            slug: "mover".into(),
            name: "Mover".into(),
            plan: tenantry::plans::Plan::from_static("free"),
            tier: Tier::Shared,
            state: TenantState::Active,
            domains: vec![],
            database_server: None,
        })
        .await
        .unwrap();
    assert_eq!((record.moving_to, record.route_version), (None, 0));
    assert_eq!(record.route().writes(), &[Tier::Shared]);

    // Dual-write: writes to both, reads from the source.
    let moving = tenants
        .set_route(
            record.id,
            RouteChange::mirrored(Tier::Shared, Tier::Database, true, None),
        )
        .await
        .unwrap();
    assert_eq!(moving.moving_to, Some(Tier::Database));
    assert_eq!(moving.route_version, 1);
    assert_eq!(moving.route().reads(), Tier::Shared);
    assert_eq!(moving.route().writes(), &[Tier::Shared, Tier::Database]);
    // The cached record is replaced, not served stale.
    let seen = tenants
        .find(&TenantKey::Id(record.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.route_version, 1);

    // The same route again changes nothing, not even the version.
    let same = tenants
        .set_route(
            record.id,
            RouteChange::mirrored(Tier::Shared, Tier::Database, true, None),
        )
        .await
        .unwrap();
    assert_eq!(same.route_version, 1);

    // Every live process must serve version 1 before the move trusts it.
    let alive = std::time::Duration::from_secs(60);
    acks.heartbeat("web-1").await.unwrap();
    acks.heartbeat("web-2").await.unwrap();
    let pending = acks.unacknowledged("web-1").await.unwrap();
    assert!(pending.contains(&(record.id, 1)), "{pending:?}");
    assert_eq!(
        acks.lagging(record.id, 1, alive).await.unwrap(),
        ["web-1", "web-2"]
    );
    acks.ack("web-1", record.id, 1).await.unwrap();
    assert_eq!(acks.lagging(record.id, 1, alive).await.unwrap(), ["web-2"]);
    assert!(
        !acks
            .unacknowledged("web-1")
            .await
            .unwrap()
            .iter()
            .any(|(t, _)| *t == record.id)
    );
    acks.ack("web-2", record.id, 1).await.unwrap();
    acks.ack("web-2", record.id, 0).await.unwrap(); // a late, older report
    assert!(acks.lagging(record.id, 1, alive).await.unwrap().is_empty());
    // A process not heard from lately does not hold a move up.
    assert!(
        acks.lagging(record.id, 2, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );

    // Silent processes are forgotten with their acknowledgements; a live
    // one is kept.
    assert_eq!(
        acks.forget_silent(std::time::Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        acks.forget_silent(std::time::Duration::ZERO).await.unwrap(),
        2
    );
    assert!(
        acks.unacknowledged("web-1")
            .await
            .unwrap()
            .contains(&(record.id, 1))
    );

    // Cutover: the target alone.
    let moved = tenants
        .set_route(record.id, RouteChange::settled(Tier::Database, None))
        .await
        .unwrap();
    assert_eq!(
        (moved.tier, moved.moving_to, moved.route_version),
        (Tier::Database, None, 2)
    );
    assert_eq!(moved.route().writes(), &[Tier::Database]);
    assert_eq!(moved.route().reads(), Tier::Database);
}

#[tokio::test]
async fn a_moving_tenant_is_routed_to_both_tiers_on_sqlite() {
    let dir =
        std::env::temp_dir().join(format!("tenantry-route-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = SqliteDatabase::open(&dir.join("control.db"), 2).unwrap();
    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    routes_follow_the_move(
        Tenants::new(Arc::new(SqlTenantStore::new(db.clone()))),
        Arc::new(tenantry::moves::SqlRouteAcks::new(db)),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_moving_tenant_is_routed_to_both_tiers_on_postgres() {
    let Some((db, _owner)) = pg_notes::control_database().await else {
        return;
    };
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 4).unwrap();
    routes_follow_the_move(
        Tenants::new(Arc::new(SqlTenantStore::new(app.clone()))),
        Arc::new(tenantry::moves::SqlRouteAcks::new(app)),
    )
    .await;
}
