//! `tenantry-probe`: run the cross-tenant leak probe; exit 1 on any finding.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "tenantry-probe",
    version,
    about = "Probe an API for cross-tenant leaks"
)]
struct Cli {
    #[command(flatten)]
    args: tenantry_probe::ProbeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clean = tenantry_probe::run_cli(Cli::parse().args).await?;
    std::process::exit(if clean { 0 } else { 1 });
}
