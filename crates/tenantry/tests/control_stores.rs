//! Each control-plane store, written once over `ControlDb`, passes its
//! conformance suite on SQLite and on PostgreSQL.

use std::sync::Arc;

use tenantry::config::SqlConfigStore;
use tenantry::data::control::ControlDb;
use tenantry::deletion::SqlDeletionStore;
use tenantry::registry::SqlTenantStore;
use tenantry::secrets::SqlSecretStorage;
use tenantry::warm::SqlWarmPool;
use tenantry_testkit::control;

#[tokio::test]
async fn registry_on_sqlite() {
    let (db, _dir) = control::sqlite_control().await;
    control::registry_conformance(Arc::new(SqlTenantStore::new(db))).await;
}

#[tokio::test]
async fn registry_on_postgres() {
    let Some((db, _pg)) = control::postgres_control().await else {
        return;
    };
    control::registry_conformance(Arc::new(SqlTenantStore::new(db))).await;
}

async fn small_stores(db: ControlDb) {
    let registry = Arc::new(SqlTenantStore::new(db.clone()));
    control::config_conformance(registry, Arc::new(SqlConfigStore::new(db.clone()))).await;
    control::warm_pool_conformance(Arc::new(SqlWarmPool::new(db.clone()))).await;
}

#[tokio::test]
async fn config_and_warm_pool_on_sqlite() {
    let (db, _dir) = control::sqlite_control().await;
    small_stores(db).await;
}

#[tokio::test]
async fn config_and_warm_pool_on_postgres() {
    let Some((db, _pg)) = control::postgres_control().await else {
        return;
    };
    small_stores(db).await;
}

#[tokio::test]
async fn secrets_on_sqlite() {
    let (db, _dir) = control::sqlite_control().await;
    let registry = Arc::new(SqlTenantStore::new(db.clone()));
    control::secret_storage_conformance(registry, Arc::new(SqlSecretStorage::new(db))).await;
}

#[tokio::test]
async fn secrets_on_postgres() {
    let Some((db, _pg)) = control::postgres_control().await else {
        return;
    };
    let registry = Arc::new(SqlTenantStore::new(db.clone()));
    control::secret_storage_conformance(registry, Arc::new(SqlSecretStorage::new(db))).await;
}

async fn deletion(db: ControlDb) {
    control::deletion_conformance(
        Arc::new(SqlTenantStore::new(db.clone())),
        Arc::new(SqlConfigStore::new(db.clone())),
        Arc::new(SqlSecretStorage::new(db.clone())),
        Arc::new(SqlDeletionStore::new(db)),
    )
    .await;
}

#[tokio::test]
async fn deletion_on_sqlite() {
    let (db, _dir) = control::sqlite_control().await;
    deletion(db).await;
}

#[tokio::test]
async fn deletion_on_postgres() {
    let Some((db, _pg)) = control::postgres_control().await else {
        return;
    };
    deletion(db).await;
}
