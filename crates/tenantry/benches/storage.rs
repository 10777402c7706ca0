//! Signed-URL generation: how many download URLs a server can hand out.
//!
//! Run with `cargo bench -p tenantry --features storage-s3 --bench storage`.
//! `local_*` is the HMAC-signed URL of the local backend; `s3_presign` is
//! an S3 presigned URL (SigV4 with static credentials — no network). Both
//! go through `TenantStorage::signed_url`, tenant from the context, as the
//! attachments API calls it; `local_signer_only` is the bare HMAC, shown
//! beside it to price the wrapper.

#![allow(clippy::unwrap_used)] // bench set-up: a failed unwrap is a broken bench

use std::time::Duration;

use divan::counter::ItemsCount;
use tenantry::context::TenantId;
use tenantry::storage::{Access, Backend, LayoutPolicy, ObjectKey, TenantStorage, UrlSigner};

const BATCH: usize = 100;
const TTL: Duration = Duration::from_secs(300);

mod common;

use common::{runtime, tenant};

fn main() {
    divan::main();
}

fn signer() -> UrlSigner {
    UrlSigner::new(b"bench-signing-key-0123456789abcdef")
}

fn key() -> ObjectKey {
    ObjectKey::parse("invoices/6a0c1e48-53a4-4f3e-9d57-5b6c2e1f0a11/receipt.txt").unwrap()
}

fn bench_signed_urls(bencher: divan::Bencher<'_, '_>, storage: TenantStorage) {
    let (rt, ctx, key) = (runtime(), tenant(), key());
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        rt.block_on(ctx.clone().scope(async {
            for _ in 0..BATCH {
                divan::black_box(storage.signed_url(Access::Read, &key, TTL).await.unwrap());
            }
        }))
    });
}

#[divan::bench]
fn local_signed_url(bencher: divan::Bencher<'_, '_>) {
    let root = std::env::temp_dir().join("tenantry-bench-storage");
    let storage = TenantStorage::new(
        Backend::Local { root },
        LayoutPolicy::new("objects"),
        signer(),
    );
    bench_signed_urls(bencher, storage);
}

#[divan::bench]
fn local_signer_only(bencher: divan::Bencher<'_, '_>) {
    let (signer, key, tenant) = (signer(), key(), TenantId::new_v4());
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for _ in 0..BATCH {
            divan::black_box(signer.sign("GET", tenant, &key, TTL));
        }
    });
}

#[divan::bench]
fn s3_presign(bencher: divan::Bencher<'_, '_>) {
    let storage = TenantStorage::new(
        Backend::S3(tenantry::storage::S3Config {
            endpoint: Some("http://127.0.0.1:8333".into()),
            region: "us-east-1".into(),
            access_key_id: "bench".into(),
            secret_access_key: "bench-secret".into(),
        }),
        LayoutPolicy::new("objects"),
        signer(),
    );
    bench_signed_urls(bencher, storage);
}
