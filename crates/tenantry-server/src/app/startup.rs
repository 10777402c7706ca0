//! What runs before the server takes requests: the tenant plane migrated
//! as a fleet, then the isolation audit. Commands that only read or steer
//! (`tenants list`, `token`, `jobs …`) open [`Services`] without it.

use crate::error::{Doing as _, ServerError, refuse};
use tenantry::context::Tier;
use tenantry::data::Database;
use tenantry::data::postgres::fleet::FleetOptions;

use crate::services::{Provisioner, Services};

/// Makes `services` fit to serve: every tenant-plane target migrated (as a
/// fleet, PostgreSQL), then the isolation audit as the app role, which
/// refuses to start on any finding.
pub async fn prepare(services: &Services) -> Result<(), ServerError> {
    if let Provisioner::Postgres { .. } = &services.provisioner {
        let targets = crate::fleet::targets(services, None, &[]).await?;
        let options = FleetOptions {
            concurrency: 4,
            max_failures: 0,
        };
        let report = crate::fleet::run(services, targets, options, &|_| {}).await?;
        if let Some((target, error)) = report.failed.first() {
            refuse!("refusing to start: migrating {target} failed: {error}");
        }
    }
    if let Database::Postgres(db) = &services.db {
        let mut list: Vec<String> = db
            .audit()
            .await
            .doing(|| "running the isolation audit as the app role")?
            .iter()
            .map(|f| format!("  - {f}"))
            .collect();
        // Every database-tier tenant's own database too.
        for tenant in services.tenants.list().await? {
            if tenant.tier != Tier::Database || tenant.state.is_leaving() {
                continue;
            }
            let database = db.tenant_database(tenant.id);
            let findings = db
                .audit_tenant_database(tenant.id, tenant.database_server.as_deref())
                .await
                .doing(|| format!("auditing {}'s database {database}", tenant.slug))?;
            list.extend(
                findings
                    .iter()
                    .map(|f| format!("  - in {}'s database {database}: {f}", tenant.slug)),
            );
        }
        if !list.is_empty() {
            refuse!(
                "refusing to start: the isolation audit found\n{}",
                list.join("\n")
            );
        }
    }
    Ok(())
}
