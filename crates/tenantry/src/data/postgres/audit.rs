//! The boot-time isolation audit.
//!
//! Row-level security protects nothing if a table forgot `FORCE`, lacks a
//! policy, or the app connects as a role that bypasses it. The server runs
//! this audit as its app role before accepting traffic and refuses to start
//! on any finding, naming the table or role.

use std::fmt;

use tokio_postgres::Client;

use super::db_error;
use crate::data::DataError;

/// One reason the database is not safe to serve tenants from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// A table with `tenant_id` does not have RLS enabled.
    RlsDisabled(String),
    /// A table with `tenant_id` has RLS but not `FORCE` (its owner bypasses it).
    RlsNotForced(String),
    /// A table with `tenant_id` has RLS but no policy.
    NoPolicy(String),
    /// The app role owns (or can act as the owner of) a tenant table.
    AppRoleOwns {
        /// App role.
        role: String,
        /// Table.
        table: String,
    },
    /// The app role is a superuser.
    Superuser(String),
    /// The app role has `BYPASSRLS`.
    BypassRls(String),
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::RlsDisabled(t) => write!(
                f,
                "table {t} has tenant_id but row-level security is disabled"
            ),
            Finding::RlsNotForced(t) => write!(f, "table {t} has row-level security without FORCE"),
            Finding::NoPolicy(t) => write!(f, "table {t} has row-level security but no policy"),
            Finding::AppRoleOwns { role, table } => {
                write!(f, "app role {role} owns or can act as the owner of {table}")
            }
            Finding::Superuser(r) => write!(f, "app role {r} is a superuser"),
            Finding::BypassRls(r) => write!(f, "app role {r} has BYPASSRLS"),
        }
    }
}

// The control plane (schema `tenantry`) is cross-tenant by design and is
// never reachable through a tenant-scoped handle, so it is not audited here.
const TENANT_TABLES: &str = "
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
           c.relrowsecurity,
           c.relforcerowsecurity,
           EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid),
           pg_has_role(current_user, c.relowner, 'USAGE')
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenantry')
       AND n.nspname NOT LIKE 'pg_toast%'
       AND EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
     ORDER BY 1";

/// Audits the database as the role `client` is connected as.
pub async fn run(client: &Client) -> Result<Vec<Finding>, DataError> {
    let mut findings = Vec::new();
    let role = client
        .query_one("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .map_err(db_error)?;
    let name: String = role.get(0);
    if role.get::<_, bool>(1) {
        findings.push(Finding::Superuser(name.clone()));
    }
    if role.get::<_, bool>(2) {
        findings.push(Finding::BypassRls(name.clone()));
    }
    for table in client.query(TENANT_TABLES, &[]).await.map_err(db_error)? {
        let qualified: String = table.get(0);
        let (enabled, forced, has_policy, owns) = (
            table.get::<_, bool>(1),
            table.get::<_, bool>(2),
            table.get::<_, bool>(3),
            table.get::<_, bool>(4),
        );
        if !enabled {
            findings.push(Finding::RlsDisabled(qualified.clone()));
        } else if !forced {
            findings.push(Finding::RlsNotForced(qualified.clone()));
        }
        if enabled && !has_policy {
            findings.push(Finding::NoPolicy(qualified.clone()));
        }
        if owns {
            findings.push(Finding::AppRoleOwns {
                role: name.clone(),
                table: qualified,
            });
        }
    }
    Ok(findings)
}
