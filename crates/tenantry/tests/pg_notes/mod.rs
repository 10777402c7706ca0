//! What the PostgreSQL tests share: an RLS-guarded `notes` table, the app
//! role, and a throwaway database migrated with both.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;
use tenantry::context::TenantContext;

use tenantry::data::postgres::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, migrate};
use tenantry::data::{DataError, Database, Migration};
use tenantry::params;
use tenantry_testkit::PgTestDb;

pub const APP_ROLE: &str = "tenantry_app";

pub const NOTES: &[Migration] = &[Migration {
    version: 1,
    name: "notes",
    sql:
        "CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, body text NOT NULL);
          ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
          ALTER TABLE notes FORCE ROW LEVEL SECURITY;
          CREATE POLICY tenant_isolation ON notes
              USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
              WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);",
}];

/// A fresh database with `notes` migrated and the app role created; the
/// owner's connection and the app role's URL. `None` after a loud skip.
pub async fn notes_database() -> Option<(PgTestDb, tokio_postgres::Client, String)> {
    let test_db = tenantry_testkit::postgres().await?;
    let mut owner = migrate::connect(test_db.url()).await.unwrap();
    migrate::ensure_app_role(&owner, APP_ROLE).await.unwrap();
    migrate::apply(&mut owner, "public", NOTES, APP_ROLE)
        .await
        .unwrap();
    let app_url = test_db
        .url()
        .replacen("postgres@", &format!("{APP_ROLE}@"), 1);
    Some((test_db, owner, app_url))
}

/// `db`'s URL as the app role.
pub fn app_url(db: &PgTestDb) -> String {
    db.url().replacen("postgres@", &format!("{APP_ROLE}@"), 1)
}

/// A fresh database with the control schema (registry, job queue)
/// migrated and the app role created; the owner's connection. `None` after
/// a loud skip.
pub async fn control_database() -> Option<(PgTestDb, Arc<tokio_postgres::Client>)> {
    let db = tenantry_testkit::postgres().await?;
    let mut owner = migrate::connect(db.url()).await.unwrap();
    migrate::ensure_app_role(&owner, APP_ROLE).await.unwrap();
    migrate::apply(&mut owner, CONTROL_SCHEMA, CONTROL_MIGRATIONS, APP_ROLE)
        .await
        .unwrap();
    Some((db, Arc::new(owner)))
}

/// Creates database-tier database `name` beside `test_db` (it must be
/// new) and migrates `notes` into it.
pub async fn notes_tenant_database(owner: &tokio_postgres::Client, test_db: &PgTestDb, name: &str) {
    assert!(
        migrate::ensure_database(owner, name, APP_ROLE)
            .await
            .unwrap(),
        "{name} was created"
    );
    let mut own = migrate::connect_to(test_db.url(), Some(name))
        .await
        .unwrap();
    migrate::apply(&mut own, "public", NOTES, APP_ROLE)
        .await
        .unwrap();
}

/// Inserts a note as `tenant`.
pub async fn insert_note(
    db: &Database,
    tenant: &TenantContext,
    body: &str,
) -> Result<u64, DataError> {
    tenant
        .clone()
        .scope(async {
            db.tenant()?
                .execute(
                    "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)",
                    params![body],
                )
                .await
        })
        .await
}
