//! Every cache backend runs the conformance suite of `tenantry-testkit` —
//! the in-process one always, Redis against a real server (skipped loudly
//! when absent, failing under `CI=true`) — plus the two-level backend's
//! cross-process invalidation.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use tenantry::cache::{LocalCache, TenantCache};
use tenantry::context::{TenantContext, TenantId};

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn local_backend_conforms() {
    tenantry_testkit::cache::conformance(TenantCache::new(LocalCache::new(10_000))).await;
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
    tenantry_testkit::cache::conformance(TenantCache::new(backend)).await;
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
    tenantry_testkit::cache::conformance(TenantCache::new(cache)).await;
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
