//! Per-tenant secrets: envelope encryption with a local keyring and with a
//! real OpenBao transit engine; tenant binding, master-key rotation without
//! downtime, and crypto-shredding.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;

use tenantry::context::{self, TenantContext, TenantId};
use tenantry::secrets::{
    LocalKeyring, MasterKey, MemorySecretStorage, SecretStorage, SecretValue, Secrets, SecretsError,
};

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

async fn put(secrets: &Secrets, ctx: &TenantContext, name: &str, value: &str) {
    ctx.clone()
        .scope(secrets.put(name, SecretValue::new(value)))
        .await
        .unwrap();
}

async fn reveal(
    secrets: &Secrets,
    ctx: &TenantContext,
    name: &str,
) -> Result<Option<String>, SecretsError> {
    ctx.clone()
        .scope(secrets.reveal(name))
        .await
        .map(|v| v.map(|v| v.expose().to_owned()))
}

/// What every master key must support.
async fn conformance(master: Arc<dyn MasterKey>) {
    let storage = Arc::new(MemorySecretStorage::default());
    let secrets = Secrets::new(storage.clone(), master.clone());
    let (acme, globex) = (tenant("acme"), tenant("globex"));

    put(&secrets, &acme, "smtp_password", "acme-smtp-0001").await;
    put(&secrets, &globex, "smtp_password", "globex-smtp-0002").await;
    assert_eq!(
        reveal(&secrets, &acme, "smtp_password")
            .await
            .unwrap()
            .unwrap(),
        "acme-smtp-0001"
    );
    assert_eq!(
        reveal(&secrets, &globex, "smtp_password")
            .await
            .unwrap()
            .unwrap(),
        "globex-smtp-0002"
    );

    // Metadata only: the last four characters, never the value.
    let listed = acme.clone().scope(secrets.list()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].last4.as_str()),
        ("smtp_password", "0001")
    );
    put(&secrets, &acme, "pin", "1234").await;
    let pin = acme
        .clone()
        .scope(secrets.info("pin"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pin.last4, "", "short values show nothing");

    // At rest: ciphertext only, under per-tenant data keys.
    let acme_sealed = storage
        .secret(acme.tenant_id(), "smtp_password")
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&acme_sealed.ciphertext).contains("acme-smtp"));
    let (acme_key, globex_key) = (
        storage.data_key(acme.tenant_id()).await.unwrap().unwrap(),
        storage.data_key(globex.tenant_id()).await.unwrap().unwrap(),
    );
    assert_ne!(acme_key.ciphertext, globex_key.ciphertext);

    // A ciphertext copied into another tenant's row does not open there.
    storage
        .put_secret(globex.tenant_id(), acme_sealed.clone())
        .await
        .unwrap();
    assert!(matches!(
        reveal(&secrets, &globex, "smtp_password").await,
        Err(SecretsError::Crypto(_))
    ));
    // Nor does a data key moved to another tenant.
    let fresh = Secrets::new(storage.clone(), master.clone());
    storage.destroy_data_key(globex.tenant_id()).await.unwrap();
    storage
        .insert_data_key(globex.tenant_id(), acme_key.clone())
        .await
        .unwrap();
    assert!(reveal(&fresh, &globex, "smtp_password").await.is_err());

    // Bad input is refused, and nothing is stored.
    for (name, value) in [("Bad Name", "x"), ("", "x"), ("ok", "")] {
        let err = acme
            .clone()
            .scope(secrets.put(name, SecretValue::new(value)))
            .await
            .unwrap_err();
        assert!(matches!(err, SecretsError::Invalid(_)), "{name:?}: {err}");
    }
    assert_eq!(acme.clone().scope(secrets.list()).await.unwrap().len(), 2);

    // No context, no secrets; the system tenant has none either.
    assert!(secrets.reveal("smtp_password").await.is_err());
    let system = context::run_as_system("test", secrets.list()).await;
    assert!(matches!(system, Err(SecretsError::WrongContext(_))));

    // Crypto-shredding: without the data key the ciphertexts are noise,
    // even to a process that never cached the key.
    assert!(
        acme.clone()
            .scope(secrets.destroy_tenant_key())
            .await
            .unwrap()
    );
    let after = Secrets::new(storage.clone(), master.clone());
    assert!(matches!(
        reveal(&after, &acme, "smtp_password").await,
        Err(SecretsError::KeyDestroyed)
    ));
    assert!(matches!(
        reveal(&secrets, &acme, "smtp_password").await,
        Err(SecretsError::KeyDestroyed)
    ));
    assert!(
        storage
            .secret(acme.tenant_id(), "smtp_password")
            .await
            .unwrap()
            .is_some(),
        "the ciphertext is still there"
    );
}

#[tokio::test]
async fn local_keyring_passes_the_conformance_suite() {
    conformance(Arc::new(LocalKeyring::generate())).await;
}

#[tokio::test]
async fn local_master_key_rotation_rewraps_without_downtime() {
    let storage = Arc::new(MemorySecretStorage::default());
    let old_ring = LocalKeyring::generate();
    let before = Secrets::new(storage.clone(), Arc::new(old_ring.clone()));
    let tenants: Vec<TenantContext> = (0..5).map(|i| tenant(&format!("t{i}"))).collect();
    for t in &tenants {
        put(&before, t, "api_key", &format!("value-of-{}", t.slug())).await;
    }

    // Rotate: the new ring holds both versions, so every secret still opens.
    let ring = old_ring.rotated();
    let during = Secrets::new(storage.clone(), Arc::new(ring.clone()));
    for t in &tenants {
        assert_eq!(
            reveal(&during, t, "api_key").await.unwrap().unwrap(),
            format!("value-of-{}", t.slug())
        );
    }
    // Re-wrapping is a fleet operation, refused outside the system context.
    assert!(matches!(
        tenants[0].clone().scope(during.rewrap_all()).await,
        Err(SecretsError::WrongContext(_))
    ));
    let report = context::run_as_system("rotate master key", during.rewrap_all())
        .await
        .unwrap();
    assert_eq!((report.rewrapped, report.current), (5, 0));
    let again = context::run_as_system("rotate master key", during.rewrap_all())
        .await
        .unwrap();
    assert_eq!((again.rewrapped, again.current), (0, 5));

    // The old version can now be dropped: a ring with only the new key opens everything.
    let text = ring.to_text();
    let newest = LocalKeyring::parse(text.lines().last().unwrap()).unwrap();
    let after = Secrets::new(storage.clone(), Arc::new(newest));
    for t in &tenants {
        assert_eq!(
            reveal(&after, t, "api_key").await.unwrap().unwrap(),
            format!("value-of-{}", t.slug())
        );
    }
    // And the old ring alone no longer can.
    let stale = Secrets::new(storage, Arc::new(old_ring));
    assert!(reveal(&stale, &tenants[0], "api_key").await.is_err());
}

#[tokio::test]
async fn a_keyring_file_is_created_once_and_reused() {
    let path = std::env::temp_dir().join(format!("tenantry-keyring-{}", TenantId::new_v4()));
    let first = LocalKeyring::load_or_create(&path).unwrap();
    let second = LocalKeyring::load_or_create(&path).unwrap();
    assert_eq!(first.to_text(), second.to_text());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    std::fs::remove_file(path).unwrap();
}

#[cfg(feature = "secrets-openbao")]
mod openbao {
    use super::*;
    use tenantry::secrets::OpenBaoTransit;

    async fn transit() -> Option<OpenBaoTransit> {
        let addr = tenantry_testkit::openbao_addr()?;
        let key = format!("tenantry-test-{}", TenantId::new_v4().as_uuid().simple());
        let transit = OpenBaoTransit::new(addr, tenantry_testkit::OPENBAO_TOKEN, key).unwrap();
        transit.ensure_key().await.unwrap();
        Some(transit)
    }

    #[tokio::test]
    async fn openbao_transit_passes_the_conformance_suite() {
        let Some(transit) = transit().await else {
            return;
        };
        conformance(Arc::new(transit)).await;
    }

    #[tokio::test]
    async fn openbao_rotation_rewraps_every_data_key() {
        let Some(transit) = transit().await else {
            return;
        };
        let storage = Arc::new(MemorySecretStorage::default());
        let secrets = Secrets::new(storage.clone(), Arc::new(transit.clone()));
        let tenants: Vec<TenantContext> = (0..3).map(|i| tenant(&format!("b{i}"))).collect();
        for t in &tenants {
            put(
                &secrets,
                t,
                "webhook_secret",
                &format!("whsec-{}", t.slug()),
            )
            .await;
        }
        let v1 = transit.current_id().await.unwrap();
        assert!(v1.ends_with(":v1"), "{v1}");

        transit.rotate().await.unwrap();
        let v2 = transit.current_id().await.unwrap();
        assert!(v2.ends_with(":v2"), "{v2}");
        let report = context::run_as_system("rotate", secrets.rewrap_all())
            .await
            .unwrap();
        assert_eq!(report.rewrapped, 3);
        for (tenant, key) in storage.data_keys().await.unwrap() {
            assert_eq!(key.master_key_id, v2, "{tenant}");
        }
        // Still readable, by a process with no cached keys.
        let fresh = Secrets::new(storage, Arc::new(transit));
        for t in &tenants {
            assert_eq!(
                reveal(&fresh, t, "webhook_secret").await.unwrap().unwrap(),
                format!("whsec-{}", t.slug())
            );
        }
    }
}
