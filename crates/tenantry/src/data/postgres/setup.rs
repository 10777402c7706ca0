//! [`prepare`]: what an app does once at start-up on PostgreSQL.

use super::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgDatabase, migrate};
use crate::data::{DataError, Migration, MigrationError};

/// Why the database is not ready to serve tenants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// A migration (tenantry's or the app's) or the role set-up failed.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The isolation audit could not run.
    #[error("running the isolation audit: {0}")]
    Audit(#[from] DataError),
    /// The isolation audit found tables or roles that leak across tenants.
    #[error("the database is not safe to serve tenants from:\n{}", .0.iter().map(|f| format!("  - {f}")).collect::<Vec<_>>().join("\n"))]
    Unsafe(Vec<super::audit::Finding>),
}

/// Gets a database ready to serve tenants, as an app does at start-up:
///
/// 1. as the owner (`owner_url`): creates `app_role` if missing (login, no
///    `BYPASSRLS`, not a superuser), applies tenantry's control-plane
///    migrations (schema `tenantry`: registry, settings, secrets, jobs) and
///    then the app's own `app_migrations` (schema `public`), granting the
///    app role what it needs on both;
/// 2. as the app role (`app`): runs the isolation audit, and refuses when a
///    table with `tenant_id` lacks forced row-level security or a policy
///    that scopes by tenant, or a view or function opens a side door.
///
/// Migrations are recorded and checksummed: running this on every start
/// applies only what is new and refuses an edited migration.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use tenantry::data::Migration;
/// use tenantry::data::postgres::{PgDatabase, prepare};
///
/// const APP: &[Migration] = &[Migration {
///     version: 1,
///     name: "notes",
///     sql: concat!(
///         "CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL DEFAULT tenantry_current_tenant(), body text NOT NULL);",
///         tenantry::rls_policy!("notes"),
///     ),
/// }];
/// let app = PgDatabase::connect("postgres://notes_app@127.0.0.1/notes", 16)?;
/// prepare("postgres://postgres@127.0.0.1/notes", "notes_app", APP, &app).await?;
/// # Ok(()) }
/// ```
pub async fn prepare(
    owner_url: &str,
    app_role: &str,
    app_migrations: &'static [Migration],
    app: &PgDatabase,
) -> Result<(), PrepareError> {
    let mut owner = migrate::connect(owner_url).await?;
    migrate::ensure_app_role(&owner, app_role).await?;
    migrate::apply(&mut owner, CONTROL_SCHEMA, CONTROL_MIGRATIONS, app_role).await?;
    migrate::apply(&mut owner, "public", app_migrations, app_role).await?;
    let findings = app.audit().await?;
    if findings.is_empty() {
        Ok(())
    } else {
        Err(PrepareError::Unsafe(findings))
    }
}

/// The SQL that puts an existing table under tenant isolation: row-level
/// security enabled and **forced** (so the table's owner is held to it
/// too), and one policy that lets a transaction see and write only the
/// rows of the tenant it was scoped to. The table needs a `tenant_id uuid`
/// column; a string literal, for `concat!` into a migration.
///
/// ```
/// let sql = tenantry::rls_policy!("invoices");
/// assert!(sql.contains("ALTER TABLE invoices FORCE ROW LEVEL SECURITY"));
/// assert!(sql.contains("WITH CHECK (tenant_id = tenantry_current_tenant())"));
/// ```
#[macro_export]
macro_rules! rls_policy {
    ($table:literal) => {
        concat!(
            "ALTER TABLE ",
            $table,
            " ENABLE ROW LEVEL SECURITY;\n",
            "ALTER TABLE ",
            $table,
            " FORCE ROW LEVEL SECURITY;\n",
            "CREATE POLICY tenant_isolation ON ",
            $table,
            "\n",
            "    USING (tenant_id = tenantry_current_tenant())\n",
            "    WITH CHECK (tenant_id = tenantry_current_tenant());\n",
        )
    };
}
