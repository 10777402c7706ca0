//! The fence's protocol on PostgreSQL and SQLite, two "processes" (two
//! acknowledgers with their own fences and caches) over one control
//! plane: a suspension bumps the record version; a process acknowledges
//! it only once it holds the tenant and the tenant's work in flight there
//! has ended; the change waits for every live process and names the ones
//! that did not acknowledge; a resumption releases the tenant everywhere;
//! a process that signs off is no longer waited for.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod pg_notes;
mod registered;

use std::sync::Arc;
use std::time::Duration;

use tenantry::data::postgres::PgDatabase;
use tenantry::data::sqlite::{self as lite, SqliteDatabase};
use tenantry::fence::{Acknowledger, FenceTiming, Fenced, NotAcknowledged, TenantFence};
use tenantry::moves::RouteAcks;
use tenantry::registry::SqlTenantStore;
use tenantry::registry::{TenantKey, TenantState, TenantStore, Tenants};

/// One serving process: its acknowledger (over its own registry cache).
fn process(
    name: &str,
    store: &Arc<dyn TenantStore>,
    acks: &Arc<dyn RouteAcks>,
) -> (Acknowledger, Tenants) {
    let tenants = Tenants::new(store.clone());
    let timing = FenceTiming {
        ack_wait: Duration::from_millis(300),
        ..FenceTiming::default()
    };
    let acknowledger = Acknowledger::new(
        name,
        acks.clone(),
        tenants.clone(),
        TenantFence::default(),
        timing,
    );
    (acknowledger, tenants)
}

async fn holds_are_acknowledged_everywhere(store: Arc<dyn TenantStore>, acks: Arc<dyn RouteAcks>) {
    let (web1, cache1) = process("web-1", &store, &acks);
    let (web2, _) = process("web-2", &store, &acks);
    let control = Tenants::new(store.clone());
    let acme = registered::register(&control, &["acme"]).await.remove(0);
    assert_eq!(
        acme.route_version, 0,
        "a first activation is no change to acknowledge"
    );
    web1.sync_once().await.unwrap();
    web2.sync_once().await.unwrap();
    // web-1 has acme cached as active, and a transaction of it in flight.
    let cached = cache1.find(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(cached.state, TenantState::Active);
    let in_flight = web1.fence().enter(acme.id).unwrap();

    let suspended = control
        .set_state(acme.id, TenantState::Suspended)
        .await
        .unwrap();
    assert_eq!(suspended.route_version, 1);
    let timing = web1.timing();
    let lagging = |e: NotAcknowledged| match e {
        NotAcknowledged::Lagging { processes, .. } => processes,
        other => panic!("{other}"),
    };
    let waited = tenantry::fence::acknowledged(&*acks, acme.id, 1, &timing).await;
    assert_eq!(lagging(waited.unwrap_err()), ["web-1", "web-2"]);

    web2.sync_once().await.unwrap();
    assert_eq!(web2.fence().enter(acme.id).err(), Some(Fenced::Held));
    // web-1 holds acme (nothing new starts) but does not acknowledge while
    // its transaction is in flight.
    web1.sync_once().await.unwrap();
    assert_eq!(web1.fence().enter(acme.id).err(), Some(Fenced::Held));
    let waited = tenantry::fence::acknowledged(&*acks, acme.id, 1, &timing).await;
    assert_eq!(lagging(waited.unwrap_err()), ["web-1"]);
    let recached = cache1.find(&TenantKey::Id(acme.id)).await.unwrap().unwrap();
    assert_eq!(recached.state, TenantState::Suspended, "its cache re-read");
    drop(in_flight);
    web1.sync_once().await.unwrap();
    tenantry::fence::acknowledged(&*acks, acme.id, 1, &timing)
        .await
        .unwrap();

    // Resumed: released everywhere once acknowledged.
    let resumed = control
        .set_state(acme.id, TenantState::Active)
        .await
        .unwrap();
    assert_eq!(resumed.route_version, 2, "a resumption is acknowledged too");
    web1.sync_once().await.unwrap();
    assert!(web1.fence().enter(acme.id).is_ok());
    // web-2 signs off: no change waits for it any more.
    acks.forget("web-2").await.unwrap();
    tenantry::fence::acknowledged(&*acks, acme.id, 2, &timing)
        .await
        .unwrap();
    let processes = acks.processes().await.unwrap();
    assert_eq!(processes, ["web-1"]);
}

#[tokio::test]
async fn holds_are_acknowledged_everywhere_on_sqlite() {
    let dir =
        std::env::temp_dir().join(format!("tenantry-fence-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = SqliteDatabase::open(&dir.join("control.db"), 2).unwrap();
    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    holds_are_acknowledged_everywhere(
        Arc::new(SqlTenantStore::new(db.clone())),
        Arc::new(tenantry::moves::SqlRouteAcks::new(db)),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn holds_are_acknowledged_everywhere_on_postgres() {
    let Some((db, _owner)) = pg_notes::control_database().await else {
        return;
    };
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 4).unwrap();
    holds_are_acknowledged_everywhere(
        Arc::new(SqlTenantStore::new(app.clone())),
        Arc::new(tenantry::moves::SqlRouteAcks::new(app)),
    )
    .await;
}
