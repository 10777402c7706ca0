//! What every [`SecretStorage`] over a control plane must do.

use std::sync::Arc;

use tenantry::registry::TenantStore;
use tenantry::secrets::{SealedSecret, SecretStorage, WrappedKey};

use super::registered;

fn key(id: &str, bytes: &[u8]) -> WrappedKey {
    WrappedKey {
        master_key_id: id.into(),
        ciphertext: bytes.to_vec(),
    }
}

fn sealed(name: &str, ciphertext: &[u8], at: i64) -> SealedSecret {
    SealedSecret {
        name: name.into(),
        ciphertext: ciphertext.to_vec(),
        last4: "1234".into(),
        updated_at_ms: at,
    }
}

/// Data keys: the first insert wins, a replacement only over the key it
/// expects, listing, destruction. Secrets: bytes round-trip, replaced by
/// name, listed by name, deleted; nothing crosses tenants.
pub async fn secret_storage_conformance(
    registry: Arc<dyn TenantStore>,
    storage: Arc<dyn SecretStorage>,
) {
    let acme = registered(&*registry, "acme").await;
    let globex = registered(&*registry, "globex").await;

    assert_eq!(storage.data_key(acme).await.unwrap(), None);
    let first = key("local:1", &[0, 1, 2, 255]);
    assert_eq!(
        storage.insert_data_key(acme, first.clone()).await.unwrap(),
        first
    );
    let loser = key("local:1", &[9, 9]);
    assert_eq!(
        storage.insert_data_key(acme, loser.clone()).await.unwrap(),
        first,
        "the key stored first stays"
    );
    let rewrapped = key("local:2", &[7, 7, 7]);
    assert!(
        !storage
            .replace_data_key(acme, &loser, rewrapped.clone())
            .await
            .unwrap()
    );
    assert!(
        storage
            .replace_data_key(acme, &first, rewrapped.clone())
            .await
            .unwrap()
    );
    assert_eq!(
        storage.data_key(acme).await.unwrap(),
        Some(rewrapped.clone())
    );
    let globex_key = key("local:2", &[3]);
    storage
        .insert_data_key(globex, globex_key.clone())
        .await
        .unwrap();
    let mut expected = vec![(acme, rewrapped), (globex, globex_key)];
    expected.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(storage.data_keys().await.unwrap(), expected);
    assert!(storage.destroy_data_key(globex).await.unwrap());
    assert!(!storage.destroy_data_key(globex).await.unwrap());
    assert_eq!(storage.data_key(globex).await.unwrap(), None);

    storage
        .put_secret(acme, sealed("smtp", &[1, 0, 2], 10))
        .await
        .unwrap();
    storage
        .put_secret(acme, sealed("api.key", &[5], 11))
        .await
        .unwrap();
    storage
        .put_secret(acme, sealed("smtp", &[4, 4], 12))
        .await
        .unwrap();
    assert_eq!(
        storage.secret(acme, "smtp").await.unwrap(),
        Some(sealed("smtp", &[4, 4], 12))
    );
    let names: Vec<_> = storage
        .secrets(acme)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["api.key", "smtp"]);
    assert_eq!(
        storage.secret(globex, "smtp").await.unwrap(),
        None,
        "nothing crosses tenants"
    );
    assert!(storage.secrets(globex).await.unwrap().is_empty());
    assert!(storage.delete_secret(acme, "smtp").await.unwrap());
    assert!(!storage.delete_secret(acme, "smtp").await.unwrap());
    assert_eq!(storage.secret(acme, "smtp").await.unwrap(), None);
}
