//! Object storage: one conformance suite for the local backend and for a
//! real S3 server (SeaweedFS), in both layouts, plus signed URLs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use bytes::Bytes;
use tenantry::context::{Plan, TenantContext, TenantId};
use tenantry::storage::{
    Access, Backend, LayoutPolicy, ObjectKey, StorageError, TenantStorage, UrlSigner,
};

fn tenant(slug: &str, plan: Plan) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .plan(plan)
        .build()
        .unwrap()
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).unwrap()
}

fn signer() -> UrlSigner {
    UrlSigner::new(b"storage-test-signing-key-0123456789")
}

/// A bucket name no other run uses.
fn fresh_bucket() -> String {
    format!(
        "tt{}",
        &TenantId::new_v4().as_uuid().simple().to_string()[..10]
    )
}

/// What every backend and layout must do.
async fn conformance(storage: &TenantStorage, plan: Plan) {
    let (acme, globex) = (tenant("acme", plan.clone()), tenant("globex", plan));
    let doc = key("invoices/1/scan.pdf");

    // Round trip.
    let stored = acme
        .clone()
        .scope(storage.put(&doc, Bytes::from_static(b"acme's scan")))
        .await
        .unwrap();
    assert_eq!(stored.size, 11);
    assert_eq!(
        acme.clone().scope(storage.get(&doc)).await.unwrap(),
        "acme's scan"
    );
    assert_eq!(
        acme.clone().scope(storage.head(&doc)).await.unwrap().size,
        11
    );

    // The same key under two tenants never collides.
    globex
        .clone()
        .scope(storage.put(&doc, Bytes::from_static(b"globex's")))
        .await
        .unwrap();
    assert_eq!(
        acme.clone().scope(storage.get(&doc)).await.unwrap(),
        "acme's scan"
    );
    assert_eq!(
        globex.clone().scope(storage.get(&doc)).await.unwrap(),
        "globex's"
    );

    // Listing sees only the tenant's own objects, with tenant-relative keys.
    acme.clone()
        .scope(storage.put(&key("invoices/2/a.txt"), Bytes::from_static(b"a")))
        .await
        .unwrap();
    let listed = acme.clone().scope(storage.list(None)).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["invoices/1/scan.pdf", "invoices/2/a.txt"]);
    let under = acme
        .clone()
        .scope(storage.list(Some(&key("invoices/2"))))
        .await
        .unwrap();
    assert_eq!(under.len(), 1);
    assert_eq!(
        globex
            .clone()
            .scope(storage.list(None))
            .await
            .unwrap()
            .len(),
        1
    );

    // Another tenant's object is simply not there.
    let only_acme = key("invoices/2/a.txt");
    assert!(matches!(
        globex.clone().scope(storage.get(&only_acme)).await,
        Err(StorageError::NotFound(_))
    ));
    globex
        .clone()
        .scope(storage.delete(&only_acme))
        .await
        .unwrap();
    assert_eq!(
        acme.clone().scope(storage.get(&only_acme)).await.unwrap(),
        "a"
    );

    // Delete, then gone; deleting again is fine.
    acme.clone()
        .scope(storage.delete(&only_acme))
        .await
        .unwrap();
    assert!(matches!(
        acme.clone().scope(storage.get(&only_acme)).await,
        Err(StorageError::NotFound(_))
    ));
    acme.clone()
        .scope(storage.delete(&only_acme))
        .await
        .unwrap();

    // Offboarding removes the tenant's objects and nobody else's.
    assert_eq!(acme.clone().scope(storage.delete_all()).await.unwrap(), 1);
    assert!(
        acme.clone()
            .scope(storage.list(None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        globex.clone().scope(storage.get(&doc)).await.unwrap(),
        "globex's"
    );
    globex.clone().scope(storage.delete_all()).await.unwrap();

    // No context, no access.
    assert!(matches!(
        storage.get(&doc).await,
        Err(StorageError::NoTenantContext(_))
    ));
}

#[tokio::test]
async fn local_backend_passes_the_conformance_suite() {
    let root = std::env::temp_dir().join(format!("tenantry-storage-{}", TenantId::new_v4()));
    let storage = TenantStorage::new(
        Backend::Local { root: root.clone() },
        LayoutPolicy::new("objects").dedicated_for(Plan::from_static("enterprise")),
        signer(),
    );
    conformance(&storage, Plan::from_static("pro")).await;
    conformance(&storage, Plan::from_static("enterprise")).await;

    // The layouts put files where they say.
    let (pro, big) = (
        tenant("pro", Plan::from_static("pro")),
        tenant("big", Plan::from_static("enterprise")),
    );
    let doc = key("d/x.txt");
    pro.clone()
        .scope(storage.put(&doc, Bytes::from_static(b"1")))
        .await
        .unwrap();
    big.clone()
        .scope(storage.put(&doc, Bytes::from_static(b"2")))
        .await
        .unwrap();
    let shared = root.join(format!(
        "objects/tenants/{}/d/x.txt",
        pro.tenant_id().as_uuid().simple()
    ));
    let own = root.join(format!(
        "objects-{}/d/x.txt",
        big.tenant_id().as_uuid().simple()
    ));
    assert_eq!(std::fs::read(shared).unwrap(), b"1");
    assert_eq!(std::fs::read(own).unwrap(), b"2");
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn local_signed_urls_bind_tenant_method_and_key() {
    let root = std::env::temp_dir().join(format!("tenantry-storage-{}", TenantId::new_v4()));
    let storage = TenantStorage::new(
        Backend::Local { root: root.clone() },
        LayoutPolicy::new("objects"),
        signer(),
    );
    let (acme, globex) = (
        tenant("acme", Plan::from_static("pro")),
        tenant("globex", Plan::from_static("pro")),
    );
    let doc = key("invoices/9/report final.pdf");
    let url = acme
        .clone()
        .scope(storage.signed_url(Access::Read, &doc, Duration::from_secs(60)))
        .await
        .unwrap();
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(
        storage
            .verify_signed("GET", acme.tenant_id(), path, Some(query))
            .unwrap()
            .key,
        doc
    );
    // Replayed for another tenant, or for another method: refused.
    assert!(
        storage
            .verify_signed("GET", globex.tenant_id(), path, Some(query))
            .is_err()
    );
    assert!(
        storage
            .verify_signed("PUT", acme.tenant_id(), path, Some(query))
            .is_err()
    );
    // A path edited to climb out is refused before any key is built.
    let climbing = path.replace("invoices/9", "invoices/..");
    assert!(
        storage
            .verify_signed("GET", acme.tenant_id(), &climbing, Some(query))
            .is_err()
    );
    let _ = std::fs::remove_dir_all(root);
}

#[cfg(feature = "storage-s3")]
mod s3 {
    use super::*;
    use tenantry::storage::S3Config;

    fn s3_storage(endpoint: &str, bucket: &str) -> TenantStorage {
        TenantStorage::new(
            Backend::S3(S3Config {
                endpoint: Some(endpoint.to_owned()),
                region: "us-east-1".into(),
                access_key_id: tenantry_testkit::S3_ACCESS_KEY.into(),
                secret_access_key: tenantry_testkit::S3_SECRET_KEY.into(),
            }),
            LayoutPolicy::new(bucket).dedicated_for(Plan::from_static("enterprise")),
            signer(),
        )
    }

    #[tokio::test]
    async fn s3_backend_passes_the_conformance_suite() {
        let Some(endpoint) = tenantry_testkit::s3_endpoint() else {
            return;
        };
        let bucket = fresh_bucket();
        let storage = s3_storage(&endpoint, &bucket);
        conformance(&storage, Plan::from_static("pro")).await;
        conformance(&storage, Plan::from_static("enterprise")).await;
        tenantry_testkit::s3_drop_buckets(&bucket).await;
    }

    /// Onboarding's bucket step for real: an enterprise tenant's own
    /// bucket is created on S3 (seen by the server's filer, not through
    /// our client), survives a second call, and is gone with its objects
    /// after removal; a shared-layout tenant's removal keeps the shared
    /// bucket and takes only its objects.
    #[tokio::test]
    async fn s3_buckets_are_created_and_removed_for_real() {
        let Some(endpoint) = tenantry_testkit::s3_endpoint() else {
            return;
        };
        let bucket = fresh_bucket();
        let storage = s3_storage(&endpoint, &bucket);
        let big = tenant("big", Plan::from_static("enterprise"));
        let own = format!("{bucket}-{}", big.tenant_id().as_uuid().simple());
        assert!(tenantry_testkit::s3_buckets(&own).await.is_empty());
        big.clone().scope(storage.ensure_bucket()).await.unwrap();
        assert_eq!(
            tenantry_testkit::s3_buckets(&own).await,
            std::slice::from_ref(&own)
        );
        big.clone().scope(storage.ensure_bucket()).await.unwrap();
        big.clone()
            .scope(storage.put(&key("a.txt"), Bytes::from_static(b"x")))
            .await
            .unwrap();

        let small = tenant("small", Plan::from_static("pro"));
        small.clone().scope(storage.ensure_bucket()).await.unwrap();
        assert_eq!(
            tenantry_testkit::s3_buckets(&bucket)
                .await
                .iter()
                .filter(|b| **b == bucket)
                .count(),
            1
        );
        small
            .clone()
            .scope(storage.put(&key("b.txt"), Bytes::from_static(b"y")))
            .await
            .unwrap();

        assert_eq!(big.clone().scope(storage.remove_bucket()).await.unwrap(), 1);
        assert!(
            tenantry_testkit::s3_buckets(&own).await.is_empty(),
            "its own bucket is gone"
        );
        assert_eq!(
            big.clone().scope(storage.remove_bucket()).await.unwrap(),
            0,
            "idempotent"
        );
        assert_eq!(
            small.clone().scope(storage.remove_bucket()).await.unwrap(),
            1
        );
        assert!(
            tenantry_testkit::s3_buckets(&bucket)
                .await
                .contains(&bucket),
            "the shared bucket stays"
        );
        assert!(
            small
                .clone()
                .scope(storage.list(None))
                .await
                .unwrap()
                .is_empty()
        );
        tenantry_testkit::s3_drop_buckets(&bucket).await;
    }

    #[tokio::test]
    async fn s3_presigned_urls_reach_one_object_only() {
        let Some(endpoint) = tenantry_testkit::s3_endpoint() else {
            return;
        };
        let bucket = fresh_bucket();
        let storage = s3_storage(&endpoint, &bucket);
        let (acme, globex) = (
            tenant("acme", Plan::from_static("pro")),
            tenant("globex", Plan::from_static("pro")),
        );
        let doc = key("invoices/3/scan.pdf");
        acme.clone()
            .scope(storage.put(&doc, Bytes::from_static(b"acme")))
            .await
            .unwrap();
        globex
            .clone()
            .scope(storage.put(&doc, Bytes::from_static(b"globex")))
            .await
            .unwrap();
        let http = tenantry_testkit::http();

        let url = acme
            .clone()
            .scope(storage.signed_url(Access::Read, &doc, Duration::from_secs(60)))
            .await
            .unwrap();
        let got = http.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.text().await.unwrap(), "acme");

        // The same signature on globex's copy of the key: refused by S3.
        let acme_dir = acme.tenant_id().as_uuid().simple().to_string();
        let globex_dir = globex.tenant_id().as_uuid().simple().to_string();
        let forged = url.replace(&acme_dir, &globex_dir);
        assert_ne!(forged, url);
        assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);

        // An upload URL writes, and only with PUT.
        let upload = acme
            .clone()
            .scope(storage.signed_url(
                Access::Write,
                &key("uploads/new.txt"),
                Duration::from_secs(60),
            ))
            .await
            .unwrap();
        assert_eq!(
            http.put(&upload)
                .body("uploaded")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            acme.clone()
                .scope(storage.get(&key("uploads/new.txt")))
                .await
                .unwrap(),
            "uploaded"
        );
        assert_eq!(http.get(&upload).send().await.unwrap().status(), 403);
        acme.clone().scope(storage.delete_all()).await.unwrap();
        globex.clone().scope(storage.delete_all()).await.unwrap();
        tenantry_testkit::s3_drop_buckets(&bucket).await;
    }
}
