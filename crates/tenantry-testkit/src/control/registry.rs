//! What every [`TenantStore`] over a control plane must do.

use std::sync::Arc;

use tenantry::context::{Plan, TenantId, Tier};
use tenantry::registry::{
    NewTenant, RegistryError, RouteChange, TenantKey, TenantState, TenantStore,
};

fn new_tenant(slug: &str, domains: &[&str]) -> NewTenant {
    NewTenant {
        id: None,
        slug: slug.into(),
        name: format!("{slug} Inc."),
        plan: Plan::from_static("starter"),
        tier: Tier::Shared,
        state: TenantState::Provisioning,
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        database_server: None,
    }
}

/// Insert and find by slug, id and domain; list order; conflicts on a
/// taken slug, id or domain that leave nothing behind; the state, plan,
/// canary and route changes with their version rule; unknown ids.
pub async fn registry_conformance(store: Arc<dyn TenantStore>) {
    let acme = store
        .insert(new_tenant("acme", &["shop.acme.example", "acme.example"]))
        .await
        .unwrap();
    assert_eq!(acme.slug, "acme");
    assert_eq!(acme.name, "acme Inc.");
    assert_eq!(
        acme.domains,
        ["acme.example", "shop.acme.example"],
        "sorted"
    );
    assert_eq!(acme.state, TenantState::Provisioning);
    assert_eq!(
        (acme.route_version, acme.canary, acme.mirror_synced),
        (0, false, false)
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (acme.created_at_ms - now_ms).abs() < 60_000,
        "created_at in milliseconds: {} vs {now_ms}",
        acme.created_at_ms
    );
    for key in [
        TenantKey::Slug("acme".into()),
        TenantKey::Id(acme.id),
        TenantKey::Domain("shop.acme.example".into()),
    ] {
        assert_eq!(
            store.find(&key).await.unwrap().as_ref(),
            Some(&acme),
            "{key:?}"
        );
    }
    assert_eq!(
        store.find(&TenantKey::Slug("nobody".into())).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find(&TenantKey::Domain("nobody.example".into()))
            .await
            .unwrap(),
        None
    );

    // A fixed id is kept; a taken slug, id or domain is a conflict that
    // writes nothing (the domains go in the same transaction).
    let fixed = TenantId::new_v4();
    let mut globex = new_tenant("globex", &[]);
    globex.id = Some(fixed);
    assert_eq!(store.insert(globex).await.unwrap().id, fixed);
    for (clash, why) in [
        (new_tenant("acme", &[]), "slug"),
        (
            NewTenant {
                id: Some(fixed),
                ..new_tenant("initech", &[])
            },
            "id",
        ),
        (
            new_tenant("hooli", &["new.example", "acme.example"]),
            "domain",
        ),
    ] {
        let refused = store.insert(clash).await.unwrap_err();
        assert!(
            matches!(refused, RegistryError::Conflict { ref source, .. } if source.is_some()),
            "{why}: {refused:?}"
        );
    }
    assert_eq!(
        store.find(&TenantKey::Slug("hooli".into())).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find(&TenantKey::Domain("new.example".into()))
            .await
            .unwrap(),
        None
    );
    let slugs: Vec<_> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(slugs, ["acme", "globex"]);

    // A first activation is not a version; every later change of state is.
    let active = store.set_state(acme.id, TenantState::Active).await.unwrap();
    assert_eq!(
        (active.state, active.route_version),
        (TenantState::Active, 0)
    );
    assert!(active.updated_at_ms >= acme.updated_at_ms);
    let suspended = store
        .set_state(acme.id, TenantState::Suspended)
        .await
        .unwrap();
    assert_eq!(suspended.route_version, 1);
    let again = store
        .set_state(acme.id, TenantState::Suspended)
        .await
        .unwrap();
    assert_eq!(again.route_version, 1, "no change, no version");
    let resumed = store.set_state(acme.id, TenantState::Active).await.unwrap();
    assert_eq!(resumed.route_version, 2);

    // Plans: a change bumps the version, the same plan does not.
    let pro = Plan::from_static("pro");
    assert_eq!(
        store.set_plan(acme.id, &pro).await.unwrap().route_version,
        3
    );
    let same = store.set_plan(acme.id, &pro).await.unwrap();
    assert_eq!((same.plan, same.route_version), (pro, 3));

    assert!(store.set_canary(acme.id, true).await.unwrap().canary);

    // Routes: every field round-trips; an unchanged route keeps its version.
    let mirrored = RouteChange::mirrored(
        Tier::Shared,
        Tier::Database,
        true,
        Some("postgres://db-2:5432".into()),
    );
    let moving = store.set_route(acme.id, mirrored.clone()).await.unwrap();
    assert_eq!(moving.moving_to, Some(Tier::Database));
    assert!(moving.mirror_synced);
    assert_eq!(
        moving.database_server.as_deref(),
        Some("postgres://db-2:5432")
    );
    assert_eq!(moving.route_version, 4);
    assert_eq!(
        store
            .set_route(acme.id, mirrored)
            .await
            .unwrap()
            .route_version,
        4
    );
    let settled = store
        .set_route(acme.id, RouteChange::settled(Tier::Database, None))
        .await
        .unwrap();
    assert_eq!(
        (settled.tier, settled.moving_to, settled.route_version),
        (Tier::Database, None, 5)
    );
    assert_eq!(settled.database_server, None);

    // Unknown ids.
    let nobody = TenantId::new_v4();
    assert!(matches!(
        store.set_state(nobody, TenantState::Active).await,
        Err(RegistryError::NotFound)
    ));
    assert!(matches!(
        store.set_plan(nobody, &Plan::from_static("pro")).await,
        Err(RegistryError::NotFound)
    ));
    assert!(matches!(
        store
            .set_route(nobody, RouteChange::settled(Tier::Shared, None))
            .await,
        Err(RegistryError::NotFound)
    ));
}
