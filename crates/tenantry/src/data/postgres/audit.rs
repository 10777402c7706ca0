//! The boot-time isolation audit.
//!
//! Row-level security protects nothing if a table forgot `FORCE`, lacks a
//! policy, or the app connects as a role that bypasses it. The server runs
//! this audit as its app role before accepting traffic and refuses to start
//! on any finding, naming the table or role.
//!
//! Beside the tables it checks the three side doors around RLS that the
//! app role can open:
//!
//! - **views** over tenant tables whose owner bypasses RLS (a superuser or
//!   a `BYPASSRLS` role) and that are not `security_invoker`: the view reads
//!   as its owner, every tenant's rows; and materialized views, which hold
//!   whatever their last refresh could see;
//! - **`SECURITY DEFINER` functions** owned by such a role that the app
//!   role may execute: they run as their owner;
//! - **policies** that do not scope by tenant: a permissive policy ORs
//!   with the others, so one `USING (true)` opens the table. A policy must
//!   compare `tenant_id` with the per-transaction tenant setting
//!   (`current_setting('app.tenant_id')` or `tenantry_current_tenant()`).
//!   The check reads the expression's text: it catches a forgotten or
//!   placeholder policy, not a deliberately disguised one.

use std::fmt;

use tokio_postgres::GenericClient;

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
    /// A view over a tenant table reads as an owner that bypasses RLS
    /// (or is a materialized view), and the app role may read it.
    ViewBypassesRls(String),
    /// A `SECURITY DEFINER` function owned by a role that bypasses RLS,
    /// executable by the app role.
    SecurityDefiner(String),
    /// A permissive policy on a tenant table that does not compare
    /// `tenant_id` with the tenant setting.
    PolicyNotTenantScoped {
        /// Table.
        table: String,
        /// Policy name.
        policy: String,
    },
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
            Finding::ViewBypassesRls(v) => write!(
                f,
                "view {v} reads tenant rows as an owner that bypasses row-level security \
                 (make it security_invoker, or owned by a role subject to RLS)"
            ),
            Finding::SecurityDefiner(p) => write!(
                f,
                "function {p} is SECURITY DEFINER, owned by a role that bypasses \
                 row-level security, and executable by the app role"
            ),
            Finding::PolicyNotTenantScoped { table, policy } => write!(
                f,
                "policy {policy} on {table} does not compare tenant_id with the tenant setting"
            ),
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

// Roles that read past RLS: the owners that make views and functions unsafe.
const BYPASSES: &str = "(SELECT oid FROM pg_roles WHERE rolsuper OR rolbypassrls)";

const UNSAFE_VIEWS: &str = "
    SELECT quote_ident(n.nspname) || '.' || quote_ident(v.relname)
      FROM pg_class v
      JOIN pg_namespace n ON n.oid = v.relnamespace
     WHERE v.relkind IN ('v', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenantry')
       AND n.nspname NOT LIKE 'pg_toast%'
       AND has_table_privilege(current_user, v.oid, 'SELECT')
       AND (v.relkind = 'm'
            OR (v.relowner IN BYPASSES
                AND NOT coalesce(v.reloptions && ARRAY['security_invoker=true', 'security_invoker=on',
                                                       'security_invoker=1', 'security_invoker=yes'], false)))
       AND EXISTS (SELECT 1 FROM pg_rewrite r
                     JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attname = 'tenant_id'
                                        AND NOT a.attisdropped
                    WHERE r.ev_class = v.oid AND d.refobjid <> v.oid)
     ORDER BY 1";

const UNSAFE_FUNCTIONS: &str = "
    SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || '(' || pg_get_function_identity_arguments(p.oid) || ')'
      FROM pg_proc p
      JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND p.proowner IN BYPASSES
       AND has_function_privilege(current_user, p.oid, 'EXECUTE')
     ORDER BY 1";

const TENANT_POLICIES: &str = "
    SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
           pol.polname::text,
           coalesce(pg_get_expr(pol.polqual, pol.polrelid), ''),
           coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), ''),
           pol.polcmd::text
      FROM pg_policy pol
      JOIN pg_class c ON c.oid = pol.polrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE pol.polpermissive
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'tenantry')
       AND (0 = ANY (pol.polroles)
            OR EXISTS (SELECT 1 FROM unnest(pol.polroles) AS r(oid)
                        WHERE pg_has_role(current_user, r.oid, 'MEMBER')))
       AND EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
     ORDER BY 1, 2";

/// Whether a policy expression compares `tenant_id` with the tenant setting.
fn scopes_by_tenant(expression: &str) -> bool {
    let names_setting =
        expression.contains("'app.tenant_id'") || expression.contains("tenantry_current_tenant()");
    // The column, not the setting's name (which contains it).
    let names_column = expression
        .replace("'app.tenant_id'", "")
        .contains("tenant_id");
    names_setting && names_column
}

/// Audits the database as the role `client` is connected as.
pub async fn run(client: &impl GenericClient) -> Result<Vec<Finding>, DataError> {
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
    let views = UNSAFE_VIEWS.replace("BYPASSES", BYPASSES);
    for view in client.query(&views, &[]).await.map_err(db_error)? {
        findings.push(Finding::ViewBypassesRls(view.get(0)));
    }
    let functions = UNSAFE_FUNCTIONS.replace("BYPASSES", BYPASSES);
    for function in client.query(&functions, &[]).await.map_err(db_error)? {
        findings.push(Finding::SecurityDefiner(function.get(0)));
    }
    for policy in client.query(TENANT_POLICIES, &[]).await.map_err(db_error)? {
        let (using, check, command): (String, String, String) =
            (policy.get(2), policy.get(3), policy.get(4));
        // INSERT policies have only WITH CHECK; the others filter with USING
        // (and check with it too when WITH CHECK is absent).
        let scoped = match command.as_str() {
            "a" => scopes_by_tenant(&check),
            _ => scopes_by_tenant(&using) && (check.is_empty() || scopes_by_tenant(&check)),
        };
        if !scoped {
            findings.push(Finding::PolicyNotTenantScoped {
                table: policy.get(0),
                policy: policy.get(1),
            });
        }
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::scopes_by_tenant;

    #[test]
    fn a_policy_must_name_the_column_and_the_setting() {
        assert!(scopes_by_tenant(
            "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"
        ));
        assert!(scopes_by_tenant("(tenant_id = tenantry_current_tenant())"));
        assert!(!scopes_by_tenant("true"));
        assert!(!scopes_by_tenant("(tenant_id IS NOT NULL)"));
        assert!(!scopes_by_tenant(
            "(current_setting('app.tenant_id'::text) IS NOT NULL)"
        ));
    }
}
