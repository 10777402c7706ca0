//! Fleet migrations for the reference app: which targets exist, and what
//! `tenantry migrate status | run` print.
//!
//! Targets are the shared tier's schema (`public`), one schema per
//! schema-tier tenant and one database per database-tier tenant. On a terminal, `run` shows a progress bar; otherwise
//! it prints one JSON line per target and a summary line, for CI logs and
//! tooling.

use std::io::IsTerminal;

use crate::error::{Doing as _, ServerError, refuse};
use serde_json::json;
use tenantry::context::Tier;
use tenantry::data::Database;
use tenantry::data::postgres::fleet::{self, FleetEvent, FleetOptions, FleetReport, FleetTarget};
use tenantry::data::postgres::{self as pg, schema_for};
use tenantry::registry::TenantState;

use crate::migrations::PG_APP_MIGRATIONS;
use crate::services::{Provisioner, Services};

/// The targets to migrate: the shared schema (unless `only` names tenants)
/// and the schemas and databases of schema- and database-tier tenants
/// (all, or those in `only`).
/// Tenants flagged as canaries, or named in `canaries`, go first.
pub async fn targets(
    services: &Services,
    only: Option<&[String]>,
    canaries: &[String],
) -> Result<Vec<FleetTarget>, ServerError> {
    let tenants = services.tenants.list().await?;
    for slug in only.unwrap_or_default().iter().chain(canaries) {
        if !tenants.iter().any(|t| &t.slug == slug) {
            refuse!("no tenant {slug:?}");
        }
    }
    let mut targets = Vec::new();
    if only.is_none() {
        targets.push(FleetTarget {
            schema: "public".into(),
            database: None,
            server: None,
            tenant: None,
            label: "shared".into(),
            canary: false,
        });
    }
    for tenant in tenants {
        let wanted = only.is_none_or(|only| only.contains(&tenant.slug));
        // A failed onboarding dropped its target: migrating would make it again.
        let live = !tenant.state.is_leaving();
        let (schema, database) = match (tenant.tier, &services.db) {
            (Tier::Schema, _) => (schema_for(tenant.id), None),
            // A provisioning tenant's database may not exist yet: provisioning
            // creates and migrates it.
            (Tier::Database, Database::Postgres(_))
                if tenant.state == TenantState::Provisioning =>
            {
                continue;
            }
            (Tier::Database, Database::Postgres(db)) => {
                ("public".to_owned(), Some(db.tenant_database(tenant.id)))
            }
            _ => continue,
        };
        if wanted && live {
            targets.push(FleetTarget {
                schema,
                database,
                server: tenant.database_server.clone(),
                tenant: Some(tenant.id),
                canary: tenant.canary || canaries.contains(&tenant.slug),
                label: tenant.slug,
            });
        }
    }
    Ok(targets)
}

/// Runs the fleet on PostgreSQL.
pub async fn run(
    services: &Services,
    targets: Vec<FleetTarget>,
    options: FleetOptions,
    on_event: &(dyn Fn(&FleetEvent) + Sync),
) -> Result<FleetReport, ServerError> {
    let Provisioner::Postgres {
        owner_url,
        app_role,
    } = &services.provisioner
    else {
        refuse!("fleet migrations need PostgreSQL; SQLite's single file is migrated at start-up");
    };
    Ok(fleet::run(
        owner_url,
        app_role,
        PG_APP_MIGRATIONS,
        targets,
        options,
        &on_event,
    )
    .await?)
}

/// `tenantry migrate run`: runs the fleet, reporting progress, and fails
/// if any target failed or the fleet halted.
pub async fn run_command(
    services: &Services,
    targets: Vec<FleetTarget>,
    options: FleetOptions,
) -> Result<(), ServerError> {
    let total = targets.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} targets  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let report_line = |event: &FleetEvent| match &bar {
        Some(bar) => {
            bar.inc(1);
            if let FleetEvent::Failed { target, error, .. } = event {
                bar.println(format!("failed: {target}: {error}"));
            }
        }
        None => crate::stdout::outln!("{}", event_json(event)),
    };
    let report = run(services, targets, options, &report_line).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = json!({
        "summary": {
            "targets": total,
            "migrated": report.migrated.len(),
            "up_to_date": report.up_to_date.len(),
            "failed": report.failed.len(),
            "skipped": report.skipped.len(),
            "halted": report.halted,
        }
    });
    crate::stdout::outln!("{summary}");
    if report.halted || !report.failed.is_empty() {
        refuse!(
            "{} target(s) failed{}; fix and rerun — up-to-date targets are skipped",
            report.failed.len(),
            if report.halted {
                ", the fleet halted"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn event_json(event: &FleetEvent) -> serde_json::Value {
    match event {
        FleetEvent::Migrated {
            target,
            applied,
            canary,
        } => json!({"target": target, "outcome": "migrated", "applied": applied, "canary": canary}),
        FleetEvent::UpToDate { target, canary } => {
            json!({"target": target, "outcome": "up_to_date", "canary": canary})
        }
        FleetEvent::Failed {
            target,
            error,
            canary,
        } => json!({"target": target, "outcome": "failed", "error": error, "canary": canary}),
        FleetEvent::Skipped { target } => json!({"target": target, "outcome": "skipped"}),
    }
}

/// `tenantry migrate run --dry-run`: each target's version and what is pending.
pub async fn dry_run(services: &Services, targets: &[FleetTarget]) -> Result<(), ServerError> {
    let (client, owner_url) = owner(services).await?;
    let latest = PG_APP_MIGRATIONS.last().map_or(0, |m| m.version);
    for target in targets {
        let version = fleet::target_version(&client, owner_url, target).await?;
        let pending = PG_APP_MIGRATIONS
            .iter()
            .filter(|m| version.is_none_or(|v| m.version > v))
            .count();
        crate::stdout::outln!(
            "{}",
            json!({"target": target.label, "where": target.key(), "version": version, "latest": latest, "pending": pending, "canary": target.canary})
        );
    }
    Ok(())
}

/// `tenantry migrate status`: per target, its version and last recorded
/// outcome; then how many targets are at each version.
pub async fn status(services: &Services, targets: &[FleetTarget]) -> Result<(), ServerError> {
    let (client, owner_url) = owner(services).await?;
    let mut per_version = std::collections::BTreeMap::<String, usize>::new();
    crate::stdout::outln!("target\twhere\tversion\tlast run\terror");
    for target in targets {
        let version = fleet::target_version(&client, owner_url, target).await?;
        let recorded = client
            .query_opt("SELECT state, coalesce(error, '') FROM tenantry.migration_targets WHERE target = $1", &[&target.key()])
            .await
            .doing(|| "reading tenantry.migration_targets")?;
        let (state, error): (String, String) =
            recorded.map_or(("-".into(), String::new()), |r| (r.get(0), r.get(1)));
        let version = version.map_or("none".to_owned(), |v| v.to_string());
        crate::stdout::outln!(
            "{}\t{}\t{version}\t{state}\t{error}",
            target.label,
            target.key()
        );
        *per_version.entry(version).or_default() += 1;
    }
    for (version, count) in per_version {
        crate::stdout::outln!("version {version}: {count} target(s)");
    }
    Ok(())
}

async fn owner(services: &Services) -> Result<(tokio_postgres::Client, &str), ServerError> {
    let Provisioner::Postgres { owner_url, .. } = &services.provisioner else {
        refuse!("fleet migrations need PostgreSQL; SQLite's single file is migrated at start-up");
    };
    Ok((pg::migrate::connect(owner_url).await?, owner_url))
}
