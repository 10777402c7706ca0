//! The control-plane conformance suites: one set of checks for each store
//! written over `tenantry::data::control::ControlDb`, run by `tenantry`'s
//! tests on a fresh SQLite control file and a fresh PostgreSQL control
//! schema (as the app role, with the grants migrations give it).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

mod deletion;
mod registry;
mod route_acks;
mod secrets;
mod small_stores;

pub use deletion::deletion_conformance;
pub use registry::registry_conformance;
pub use route_acks::route_acks_conformance;
pub use secrets::secret_storage_conformance;
pub use small_stores::{config_conformance, registered, warm_pool_conformance};

use std::path::PathBuf;

use tenantry::data::control::ControlDb;
use tenantry::data::postgres::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgDatabase, migrate};
use tenantry::data::sqlite::{self as lite, SqliteDatabase};

use crate::PgTestDb;

/// The role the PostgreSQL control plane is used as (not its owner).
pub const APP_ROLE: &str = "tenantry_app";

/// A fresh, migrated SQLite control file in a new temporary directory
/// (removed when the returned guard drops).
pub async fn sqlite_control() -> (ControlDb, TempDir) {
    let dir = TempDir::new();
    let db = SqliteDatabase::open(&dir.0.join("control.db"), 4).unwrap();
    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    (db.into(), dir)
}

/// A fresh PostgreSQL database with the control schema migrated, used as
/// the app role; `None` after a loud skip (see [`crate::require_service`]).
pub async fn postgres_control() -> Option<(ControlDb, PgTestDb)> {
    let test_db = crate::postgres().await?;
    let mut owner = migrate::connect(test_db.url()).await.unwrap();
    migrate::ensure_app_role(&owner, APP_ROLE).await.unwrap();
    migrate::apply(&mut owner, CONTROL_SCHEMA, CONTROL_MIGRATIONS, APP_ROLE)
        .await
        .unwrap();
    let app_url = test_db
        .url()
        .replacen("postgres@", &format!("{APP_ROLE}@"), 1);
    let app = PgDatabase::connect(&app_url, 4).unwrap();
    Some((app.into(), test_db))
}

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tenantry-control-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Where it is.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
