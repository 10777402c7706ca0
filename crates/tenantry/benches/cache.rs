//! Cache hits with and without the tenant wrapper, and a tenant flush.
//!
//! Run with `cargo bench -p tenantry --features cache-redis --bench cache`
//! (Redis at `TENANTRY_TEST_REDIS` or 127.0.0.1:6379; the Redis benches are
//! skipped with a message when it is not there).
//!
//! A request enters its tenant scope once and may hit the cache many times,
//! so each iteration does `BATCH` hits inside one scope: the difference
//! between `*_wrapped` and `*_raw` is the per-hit cost of the wrapper (key
//! built from the context), not of entering a scope.

#![allow(clippy::unwrap_used)] // bench set-up: a failed unwrap is a broken bench

use std::time::Duration;

use divan::counter::ItemsCount;
use tenantry::cache::{CacheBackend, LocalCache, TenantCache};
use tenantry::context::TenantContext;

const BATCH: usize = 100;

mod common;

use common::{runtime, tenant};

fn main() {
    divan::main();
}

fn full_key(ctx: &TenantContext) -> String {
    format!("t:{}:profile", ctx.tenant_id())
}

#[divan::bench]
fn local_hit_raw(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let (ctx, backend) = (tenant(), LocalCache::new(10_000));
    let key = full_key(&ctx);
    rt.block_on(backend.set(&key, vec![7; 64], Duration::from_secs(600)))
        .unwrap();
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        rt.block_on(async {
            for _ in 0..BATCH {
                divan::black_box(backend.get(&key).await.unwrap());
            }
        })
    });
}

#[divan::bench]
fn local_hit_wrapped(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let (ctx, cache) = (tenant(), TenantCache::new(LocalCache::new(10_000)));
    rt.block_on(
        ctx.clone()
            .scope(cache.set("profile", vec![7; 64], Duration::from_secs(600))),
    )
    .unwrap();
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        rt.block_on(ctx.clone().scope(async {
            for _ in 0..BATCH {
                divan::black_box(cache.get("profile").await.unwrap());
            }
        }))
    });
}

#[cfg(feature = "cache-redis")]
mod redis_benches {
    use super::*;
    use tenantry::cache::RedisCache;

    fn connect(rt: &tokio::runtime::Runtime) -> Option<RedisCache> {
        let url = std::env::var("TENANTRY_TEST_REDIS")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        match rt.block_on(RedisCache::connect(&url)) {
            Ok(cache) => Some(cache),
            Err(e) => {
                eprintln!("Redis benches skipped: {e}");
                None
            }
        }
    }

    #[divan::bench]
    fn redis_hit_raw(bencher: divan::Bencher<'_, '_>) {
        let rt = runtime();
        let Some(backend) = connect(&rt) else { return };
        let key = full_key(&tenant());
        rt.block_on(backend.set(&key, vec![7; 64], Duration::from_secs(600)))
            .unwrap();
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(async {
                for _ in 0..BATCH {
                    divan::black_box(backend.get(&key).await.unwrap());
                }
            })
        });
    }

    #[divan::bench]
    fn redis_hit_wrapped(bencher: divan::Bencher<'_, '_>) {
        let rt = runtime();
        let Some(backend) = connect(&rt) else { return };
        let (ctx, cache) = (tenant(), TenantCache::new(backend));
        rt.block_on(
            ctx.clone()
                .scope(cache.set("profile", vec![7; 64], Duration::from_secs(600))),
        )
        .unwrap();
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            rt.block_on(ctx.clone().scope(async {
                for _ in 0..BATCH {
                    divan::black_box(cache.get("profile").await.unwrap());
                }
            }))
        });
    }

    /// `invalidate_tenant` over 100,000 keys of one tenant, with 10,000 keys of
    /// another tenant left in place (SCAN walks those too).
    #[divan::bench(sample_count = 3, sample_size = 1)]
    fn redis_invalidate_100k(bencher: divan::Bencher<'_, '_>) {
        let rt = runtime();
        let Some(backend) = connect(&rt) else { return };
        let cache = TenantCache::new(backend.clone());
        let bystander = tenant();
        fill(&rt, &backend, &bystander, 10_000);
        bencher
            .with_inputs(|| {
                let ctx = tenant();
                fill(&rt, &backend, &ctx, 100_000);
                ctx
            })
            .bench_local_values(|ctx| {
                let removed = rt.block_on(ctx.scope(cache.invalidate_tenant())).unwrap();
                assert_eq!(removed, 100_000);
            });
        rt.block_on(bystander.scope(cache.invalidate_tenant()))
            .unwrap();
    }

    /// Stores `n` keys for `ctx`, one round trip each (set-up, not timed).
    fn fill(rt: &tokio::runtime::Runtime, backend: &RedisCache, ctx: &TenantContext, n: usize) {
        rt.block_on(async {
            for i in 0..n {
                let key = format!("t:{}:k{i}", ctx.tenant_id());
                backend
                    .set(&key, vec![1; 16], Duration::from_secs(600))
                    .await
                    .unwrap();
            }
        });
    }
}
