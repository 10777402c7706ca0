//! The cache conformance suite: every backend runs the same checks — the
//! in-process one always, Redis against a real server (skipped loudly when
//! absent, failing under `CI=true`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use tenantry::cache::{CacheError, LocalCache, TenantCache};
use tenantry::context::{TenantContext, TenantId};

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

const MINUTE: Duration = Duration::from_secs(60);

async fn conformance(cache: TenantCache) {
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

#[tokio::test]
async fn local_backend_conforms() {
    conformance(TenantCache::new(LocalCache::new(10_000))).await;
}

#[cfg(feature = "cache-redis")]
#[tokio::test]
async fn redis_backend_conforms() {
    let url =
        std::env::var("TENANTRY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let backend = match tenantry::cache::RedisCache::connect(&url).await {
        Ok(backend) => backend,
        Err(e) => {
            tenantry_testkit::require_service("Redis", &format!("{url}: {e}"));
            return;
        }
    };
    conformance(TenantCache::new(backend)).await;
}

#[cfg(feature = "cache-redis")]
async fn two_level(local_ttl: Duration) -> Option<tenantry::cache::TwoLevelCache> {
    let url =
        std::env::var("TENANTRY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match tenantry::cache::TwoLevelCache::connect(&url, 10_000, local_ttl).await {
        Ok(cache) => Some(cache),
        Err(e) => {
            tenantry_testkit::require_service("Redis", &format!("{url}: {e}"));
            None
        }
    }
}

#[cfg(feature = "cache-redis")]
#[tokio::test]
async fn two_level_backend_conforms() {
    let Some(cache) = two_level(MINUTE).await else {
        return;
    };
    conformance(TenantCache::new(cache)).await;
}

/// Two processes' worth of caches sharing Redis: a change through one is
/// seen by the other long before its 60 s local copy would expire.
#[cfg(feature = "cache-redis")]
#[tokio::test]
async fn changes_reach_the_other_process_local_copy() {
    let (Some(a), Some(b)) = (two_level(MINUTE).await, two_level(MINUTE).await) else {
        return;
    };
    let (a, b) = (TenantCache::new(a), TenantCache::new(b));
    let acme = tenant("acme");
    let eventually = |cache: &TenantCache, key: &'static str, expected: Option<Vec<u8>>| {
        let (cache, acme) = (cache.clone(), acme.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let seen = acme.clone().scope(cache.get(key)).await.unwrap();
                if seen == expected {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "{key}: still {seen:?}, expected {expected:?}"
                );
                tokio::task::yield_now().await;
            }
        }
    };

    acme.clone()
        .scope(a.set("plan", b"free".to_vec(), MINUTE))
        .await
        .unwrap();
    assert_eq!(
        acme.clone().scope(b.get("plan")).await.unwrap(),
        Some(b"free".to_vec()),
        "b now holds a local copy"
    );
    acme.clone()
        .scope(a.set("plan", b"pro".to_vec(), MINUTE))
        .await
        .unwrap();
    eventually(&b, "plan", Some(b"pro".to_vec())).await;

    acme.clone().scope(a.delete("plan")).await.unwrap();
    eventually(&b, "plan", None).await;

    acme.clone()
        .scope(a.set("flags", b"x".to_vec(), MINUTE))
        .await
        .unwrap();
    assert!(acme.clone().scope(b.get("flags")).await.unwrap().is_some());
    acme.clone().scope(a.invalidate_tenant()).await.unwrap();
    eventually(&b, "flags", None).await;
}
