//! What every [`DeletionStore`] over a control plane must do.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tenantry::config::ConfigStore;
use tenantry::deletion::{DeletionRecord, DeletionStore};
use tenantry::registry::{NewTenant, TenantKey, TenantStore};
use tenantry::secrets::{SealedSecret, SecretStorage, WrappedKey};

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The record: opened once (a second open keeps the first), the first
/// note per store kept, closed once with its times; the purge clears
/// every control-plane row the tenant owns (and only its own), forgets
/// its name, and the residue scan finds nothing after it.
pub async fn deletion_conformance(
    registry: Arc<dyn TenantStore>,
    config: Arc<dyn ConfigStore>,
    secrets: Arc<dyn SecretStorage>,
    deletions: Arc<dyn DeletionStore>,
) {
    let mut ids = Vec::new();
    for slug in ["acme", "globex"] {
        let tenant = registry
            .insert(NewTenant {
                id: None,
                slug: slug.into(),
                name: format!("{slug} Corporation"),
                plan: tenantry::context::Plan::from_static("starter"),
                tier: tenantry::context::Tier::Shared,
                state: tenantry::registry::TenantState::Active,
                domains: vec![format!("{slug}.example")],
                database_server: None,
            })
            .await
            .unwrap();
        config
            .save_settings(tenant.id, &serde_json::json!({"x": 1}))
            .await
            .unwrap();
        config
            .set_flag(tenant.id, "beta", Some(true))
            .await
            .unwrap();
        let key = WrappedKey {
            master_key_id: "local:1".into(),
            ciphertext: vec![1, 2, 3],
        };
        secrets.insert_data_key(tenant.id, key).await.unwrap();
        let sealed = SealedSecret {
            name: "smtp".into(),
            ciphertext: vec![9],
            last4: "0001".into(),
            updated_at_ms: 1,
        };
        secrets.put_secret(tenant.id, sealed).await.unwrap();
        ids.push(tenant.id);
    }
    let (acme, globex) = (ids[0], ids[1]);
    assert!(
        deletions.residue(acme).await.unwrap().len() >= 6,
        "acme's rows are seen"
    );
    assert_eq!(deletions.get(acme).await.unwrap(), None);

    let asked = SystemTime::now() - Duration::from_secs(5);
    let record = DeletionRecord {
        tenant: acme,
        slug: "acme".into(),
        requested_by: "operator:ana".into(),
        requested_at_ms: ms(asked),
        finished_at_ms: None,
        backups_clear_after_ms: None,
        removed: Default::default(),
    };
    deletions.open(&record).await.unwrap();
    deletions
        .open(&DeletionRecord {
            requested_by: "someone else".into(),
            ..record.clone()
        })
        .await
        .unwrap();
    assert_eq!(deletions.get(acme).await.unwrap(), Some(record.clone()));

    let purged = deletions.purge(acme).await.unwrap();
    for table in [
        "tenant_domains",
        "tenant_settings",
        "tenant_flags",
        "tenant_secrets",
        "tenant_data_keys",
    ] {
        assert_eq!(purged.get(table), Some(&1), "{table}: {purged:?}");
    }
    assert_eq!(purged.get("tenant_name"), Some(&1));
    assert!(deletions.residue(acme).await.unwrap().is_empty());
    assert_eq!(
        deletions.purge(acme).await.unwrap().values().sum::<u64>(),
        0,
        "idempotent"
    );
    let kept = registry.find(&TenantKey::Id(acme)).await.unwrap().unwrap();
    assert_eq!(
        (kept.name.as_str(), kept.domains.len()),
        ("acme", 0),
        "the name is forgotten, the slug kept"
    );

    // The other tenant keeps everything.
    assert!(deletions.residue(globex).await.unwrap().len() >= 6);
    assert!(config.load(globex).await.unwrap().settings.is_some());
    assert!(secrets.secret(globex, "smtp").await.unwrap().is_some());

    deletions.note(acme, "objects", 12).await.unwrap();
    deletions.note(acme, "objects", 0).await.unwrap();
    deletions.note(acme, "rows", 3).await.unwrap();
    deletions.note(globex, "rows", 3).await.unwrap();
    let finished = SystemTime::now();
    let clear = finished + Duration::from_secs(86_400 * 30);
    deletions.close(acme, finished, clear).await.unwrap();
    deletions.close(acme, clear, clear).await.unwrap();
    let closed = deletions.get(acme).await.unwrap().unwrap();
    assert_eq!(
        closed.removed.get("objects"),
        Some(&12),
        "the first note counts"
    );
    assert_eq!(closed.removed.get("rows"), Some(&3));
    assert_eq!(closed.requested_at_ms, ms(asked));
    assert_eq!(closed.finished_at_ms, Some(ms(finished)), "closed once");
    assert_eq!(closed.backups_clear_after_ms, Some(ms(clear)));
    assert_eq!(
        deletions.get(globex).await.unwrap(),
        None,
        "a note opens no record"
    );
}
