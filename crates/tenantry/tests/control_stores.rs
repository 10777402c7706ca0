//! Each control-plane store, written once over `ControlDb`, passes its
//! conformance suite on SQLite and on PostgreSQL.

use std::sync::Arc;

use tenantry::registry::SqlTenantStore;
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
