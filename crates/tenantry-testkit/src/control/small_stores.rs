//! What the configuration store and the warm pool must do on a control plane.

use std::sync::Arc;

use tenantry::config::ConfigStore;
use tenantry::context::{TenantId, Tier};
use tenantry::registry::{NewTenant, TenantStore};
use tenantry::warm::WarmPool;

/// Registers a tenant for stores whose rows reference the registry.
pub async fn registered(store: &dyn TenantStore, slug: &str) -> TenantId {
    store
        .insert(NewTenant {
            id: None,
            slug: slug.into(),
            name: slug.into(),
            plan: tenantry::context::Plan::from_static("starter"),
            tier: Tier::Shared,
            state: tenantry::registry::TenantState::Active,
            domains: vec![],
            database_server: None,
        })
        .await
        .unwrap()
        .id
}

/// Settings round-trip as JSON and are replaced whole; flags are set,
/// replaced and removed one by one; nothing crosses tenants.
pub async fn config_conformance(registry: Arc<dyn TenantStore>, store: Arc<dyn ConfigStore>) {
    let acme = registered(&*registry, "acme").await;
    let globex = registered(&*registry, "globex").await;
    let empty = store.load(acme).await.unwrap();
    assert_eq!((empty.settings, empty.flags.len()), (None, 0));

    let first = serde_json::json!({"theme": "dark", "seats": 12, "nested": {"a": [1, 2]}, "quote": "it's \"x\""});
    store.save_settings(acme, &first).await.unwrap();
    assert_eq!(store.load(acme).await.unwrap().settings, Some(first));
    let second = serde_json::json!({"theme": "light"});
    store.save_settings(acme, &second).await.unwrap();
    assert_eq!(store.load(acme).await.unwrap().settings, Some(second));

    store.set_flag(acme, "beta", Some(true)).await.unwrap();
    store.set_flag(acme, "export", Some(false)).await.unwrap();
    store.set_flag(acme, "beta", Some(false)).await.unwrap();
    let flags = store.load(acme).await.unwrap().flags;
    assert_eq!(flags.get("beta"), Some(&false));
    assert_eq!(flags.get("export"), Some(&false));
    store.set_flag(acme, "export", None).await.unwrap();
    assert_eq!(store.load(acme).await.unwrap().flags.get("export"), None);

    let other = store.load(globex).await.unwrap();
    assert_eq!(
        (other.settings, other.flags.len()),
        (None, 0),
        "nothing crosses tenants"
    );
}

/// Ids are claimed oldest first, by tier, once each, also by concurrent
/// claimers; adding an id twice keeps one.
pub async fn warm_pool_conformance(pool: Arc<dyn WarmPool>) {
    assert_eq!(pool.claim(Tier::Schema).await.unwrap(), None);
    let ids: Vec<TenantId> = (0..6).map(|_| TenantId::new_v4()).collect();
    for id in &ids {
        pool.add(*id, Tier::Schema).await.unwrap();
    }
    pool.add(ids[0], Tier::Schema).await.unwrap();
    let lone = TenantId::new_v4();
    pool.add(lone, Tier::Database).await.unwrap();
    assert_eq!(pool.ready(Tier::Schema).await.unwrap(), 6);
    assert_eq!(pool.ready(Tier::Database).await.unwrap(), 1);
    assert_eq!(
        pool.claim(Tier::Schema).await.unwrap(),
        Some(ids[0]),
        "oldest first"
    );

    let claims: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.claim(Tier::Schema).await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    claimed.sort();
    let mut rest = ids[1..].to_vec();
    rest.sort();
    assert_eq!(claimed, rest, "each id once, none lost");
    assert_eq!(pool.ready(Tier::Schema).await.unwrap(), 0);
    assert_eq!(pool.claim(Tier::Database).await.unwrap(), Some(lone));
}
