//! The cache conformance suite: one set of checks every
//! `tenantry::cache` backend passes (in-process, Redis, two-level), run by
//! `tenantry`'s tests against real servers.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::time::{Duration, Instant};

use tenantry::cache::{CacheError, TenantCache};
use tenantry::context::{TenantContext, TenantId};

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

const MINUTE: Duration = Duration::from_secs(60);

/// Runs the checks every [`TenantCache`] backend must pass: round trip,
/// delete, TTL, the same key under two tenants never colliding, tenant
/// flushes that touch no other tenant, bad keys refused, and no access
/// without a tenant context. Panics on the first failure.
pub async fn conformance(cache: TenantCache) {
    let (acme, globex) = (tenant("acme"), tenant("globex"));

    // Round trip, delete, missing keys.
    acme.clone()
        .scope(async {
            assert_eq!(cache.get("missing").await.unwrap(), None);
            cache
                .set("greeting", b"hello".to_vec(), MINUTE)
                .await
                .unwrap();
            assert_eq!(
                cache.get("greeting").await.unwrap().as_deref(),
                Some(&b"hello"[..])
            );
            cache
                .set("greeting", b"hello again".to_vec(), MINUTE)
                .await
                .unwrap();
            assert_eq!(
                cache.get("greeting").await.unwrap().as_deref(),
                Some(&b"hello again"[..])
            );
            assert!(cache.delete("greeting").await.unwrap());
            assert!(!cache.delete("greeting").await.unwrap());
            assert_eq!(cache.get("greeting").await.unwrap(), None);
            cache
                .set_json("order:1", &serde_json::json!({"total": 12}), MINUTE)
                .await
                .unwrap();
            let order: serde_json::Value = cache.get_json("order:1").await.unwrap().unwrap();
            assert_eq!(order["total"], 12);
        })
        .await;

    // The same key under two tenants never collides.
    acme.clone()
        .scope(cache.set("invoice:42", b"acme".to_vec(), MINUTE))
        .await
        .unwrap();
    globex
        .clone()
        .scope(cache.set("invoice:42", b"globex".to_vec(), MINUTE))
        .await
        .unwrap();
    assert_eq!(
        acme.clone()
            .scope(cache.get("invoice:42"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"acme"[..])
    );
    assert_eq!(
        globex
            .clone()
            .scope(cache.get("invoice:42"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"globex"[..])
    );
    globex
        .clone()
        .scope(cache.delete("invoice:42"))
        .await
        .unwrap();
    assert_eq!(
        acme.clone()
            .scope(cache.get("invoice:42"))
            .await
            .unwrap()
            .as_deref(),
        Some(&b"acme"[..])
    );

    // Flushing a tenant removes exactly its keys.
    acme.clone()
        .scope(async {
            for i in 0..25 {
                cache.set(&format!("k:{i}"), vec![1], MINUTE).await.unwrap();
            }
        })
        .await;
    globex
        .clone()
        .scope(cache.set("k:0", vec![2], MINUTE))
        .await
        .unwrap();
    let removed = acme.clone().scope(cache.invalidate_tenant()).await.unwrap();
    assert_eq!(removed, 27, "25 k:* keys, invoice:42 and order:1");
    assert_eq!(acme.clone().scope(cache.get("k:3")).await.unwrap(), None);
    assert_eq!(
        globex.clone().scope(cache.get("k:0")).await.unwrap(),
        Some(vec![2])
    );

    // Entries expire after their TTL (polled with a deadline, no fixed sleep).
    acme.clone()
        .scope(cache.set("short", vec![9], Duration::from_millis(50)))
        .await
        .unwrap();
    assert_eq!(
        acme.clone().scope(cache.get("short")).await.unwrap(),
        Some(vec![9])
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while acme
        .clone()
        .scope(cache.get("short"))
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            Instant::now() < deadline,
            "the entry outlived its TTL by seconds"
        );
        tokio::task::yield_now().await;
    }

    // Misuse is refused, not guessed at.
    let key_errors = acme
        .clone()
        .scope(async {
            [
                cache.get("").await.err(),
                cache.get(&"x".repeat(513)).await.err(),
                cache.get("line\nbreak").await.err(),
                cache.set("k", vec![], Duration::ZERO).await.err(),
            ]
        })
        .await;
    assert!(matches!(key_errors[0], Some(CacheError::InvalidKey(_))));
    assert!(matches!(key_errors[1], Some(CacheError::InvalidKey(_))));
    assert!(matches!(key_errors[2], Some(CacheError::InvalidKey(_))));
    assert!(matches!(key_errors[3], Some(CacheError::ZeroTtl)));
    assert!(matches!(
        cache.get("k").await,
        Err(CacheError::NoTenantContext(_))
    ));
    let system = tenantry::context::run_as_system("test", cache.invalidate_tenant()).await;
    assert!(matches!(system, Err(CacheError::SystemTenant)));
}
