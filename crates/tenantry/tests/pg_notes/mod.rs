//! What the PostgreSQL tests share: an RLS-guarded `notes` table, the app
//! role, and a throwaway database migrated with both.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use tenantry::context::TenantContext;
use tenantry::data::postgres::migrate;
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
