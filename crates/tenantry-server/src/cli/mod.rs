//! The `tenantry` command line: one file per command, each taking its own
//! arguments and opening only what it uses through [`crate::app`].

mod jobs;
mod migrate;
mod progress;
mod serve;
mod tenants;
mod token;
mod workflows;

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::logging::{LogFormat, LogTarget};
use crate::settings::Settings;

/// tenantry: a multi-tenant SaaS reference server.
#[derive(Parser, Debug)]
#[command(name = "tenantry", version, about)]
pub struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default command).
    Serve(serve::ServeArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// Print a development token signed with the configured HS256 secret.
    Token(token::TokenArgs),
    /// Migrate the tenant plane as a fleet (PostgreSQL).
    #[command(subcommand)]
    Migrate(migrate::MigrateCommand),
    /// Inspect and steer the job queue (as the system tenant).
    #[command(subcommand)]
    Jobs(jobs::JobsCommand),
    /// Lifecycle workflows: list, show, cancel, the stuck ones.
    #[command(subcommand)]
    Workflows(workflows::WorkflowsCommand),
    /// Probe an API for cross-tenant leaks (exit status 1 on any finding).
    Probe(tenantry_probe::ProbeArgs),
}

impl Cli {
    /// Runs the parsed command.
    pub async fn run(self) -> anyhow::Result<()> {
        let command = self
            .command
            .unwrap_or(Command::Serve(serve::ServeArgs::default()));
        let target = match command {
            Command::Serve(_) => LogTarget::Stdout,
            _ => LogTarget::Stderr,
        };
        let log_guard = crate::logging::init(
            self.log_format,
            target,
            self.settings.otlp_endpoint.as_deref(),
        )?;
        let result = match command {
            Command::Serve(args) => serve::run(&self.settings, args).await,
            Command::Tenants(cmd) => tenants::run(&self.settings, cmd).await,
            Command::Token(args) => token::run(&self.settings, &args).await,
            Command::Migrate(cmd) => migrate::run(&self.settings, cmd).await,
            Command::Jobs(cmd) => jobs::run(&self.settings, cmd).await,
            Command::Workflows(cmd) => workflows::run(&self.settings, cmd).await,
            Command::Probe(args) => {
                if !tenantry_probe::run_cli(args).await? {
                    bail!(
                        "the probe found cross-tenant leaks or could not vouch for every operation"
                    );
                }
                Ok(())
            }
        };
        log_guard.shutdown().await;
        result
    }
}
