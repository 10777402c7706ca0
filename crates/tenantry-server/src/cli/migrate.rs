//! `tenantry migrate …`: the tenant plane's migrations as a fleet
//! operation (PostgreSQL): status, a canary-first parallel run, canaries.

use anyhow::Context;
use clap::Subcommand;
use tenantry::registry::TenantKey;

use crate::app;
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub(crate) enum MigrateCommand {
    /// Each target's version and last outcome, and counts per version.
    Status,
    /// Migrate every target: canaries first, then the rest in parallel.
    Run {
        /// Only these tenants' schemas (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        tenants: Option<Vec<String>>,
        /// Targets migrated at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Also treat these tenants as canaries (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        canary_tenants: Vec<String>,
        /// Also treat the first N schema tenants (by slug) as canaries.
        #[arg(long, default_value_t = 0)]
        canary: usize,
        /// Failures tolerated before the fleet halts.
        #[arg(long, default_value_t = 0)]
        max_failures: usize,
        /// Show what would run, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Mark a tenant as a canary: fleet migrations reach it first.
    Canary {
        /// Tenant slug.
        slug: String,
        /// Remove the mark instead.
        #[arg(long)]
        off: bool,
    },
}

pub(crate) async fn run(settings: &Settings, cmd: MigrateCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let services = app::connect(&config).await?;
    match cmd {
        MigrateCommand::Status => {
            let targets = crate::fleet::targets(&services, None, &[]).await?;
            Ok(crate::fleet::status(&services, &targets).await?)
        }
        MigrateCommand::Run {
            tenants,
            concurrency,
            canary_tenants,
            canary,
            max_failures,
            dry_run,
        } => {
            let mut targets =
                crate::fleet::targets(&services, tenants.as_deref(), &canary_tenants).await?;
            for target in targets
                .iter_mut()
                .filter(|t| t.tenant.is_some())
                .take(canary)
            {
                target.canary = true;
            }
            if dry_run {
                return Ok(crate::fleet::dry_run(&services, &targets).await?);
            }
            let options = tenantry::data::postgres::fleet::FleetOptions {
                concurrency,
                max_failures,
            };
            Ok(crate::fleet::run_command(&services, targets, options).await?)
        }
        MigrateCommand::Canary { slug, off } => {
            let record = services
                .tenants
                .find(&TenantKey::Slug(slug.clone()))
                .await?
                .with_context(|| format!("no tenant {slug:?}"))?;
            super::tenants::print_tenant(&services.tenants.set_canary(record.id, !off).await?);
            Ok(())
        }
    }
}
