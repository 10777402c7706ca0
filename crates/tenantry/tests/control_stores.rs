//! Each control-plane store, written once over `ControlDb`, passes its
//! conformance suite on SQLite and on PostgreSQL (each suite on a fresh
//! control plane).

use std::sync::Arc;

use tenantry::config::SqlConfigStore;
use tenantry::data::control::ControlDb;
use tenantry::deletion::SqlDeletionStore;
use tenantry::moves::SqlRouteAcks;
use tenantry::registry::SqlTenantStore;
use tenantry::secrets::SqlSecretStorage;
use tenantry::warm::SqlWarmPool;
use tenantry_testkit::control;

/// `$suite` (an async fn of a `ControlDb`) as two tests, `sqlite` and `postgres`.
macro_rules! on_both_backends {
    ($($name:ident => $suite:expr;)+) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let (db, _dir) = control::sqlite_control().await;
                let suite = $suite;
                suite(db).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some((db, _pg)) = control::postgres_control().await else {
                    return;
                };
                let suite = $suite;
                suite(db).await;
            }
        }
    )+};
}

fn registry(db: &ControlDb) -> Arc<SqlTenantStore> {
    Arc::new(SqlTenantStore::new(db.clone()))
}

on_both_backends! {
    registry_store => |db: ControlDb| control::registry_conformance(registry(&db));
    config_store => |db: ControlDb| control::config_conformance(registry(&db), Arc::new(SqlConfigStore::new(db)));
    warm_pool => |db: ControlDb| control::warm_pool_conformance(Arc::new(SqlWarmPool::new(db)));
    route_acks => |db: ControlDb| control::route_acks_conformance(registry(&db), Arc::new(SqlRouteAcks::new(db)));
    secret_storage => |db: ControlDb| control::secret_storage_conformance(registry(&db), Arc::new(SqlSecretStorage::new(db)));
    deletion_store => |db: ControlDb| control::deletion_conformance(
        registry(&db),
        Arc::new(SqlConfigStore::new(db.clone())),
        Arc::new(SqlSecretStorage::new(db.clone())),
        Arc::new(SqlDeletionStore::new(db)),
    );
}
