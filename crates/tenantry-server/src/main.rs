//! `tenantry`: parse the command line, run it.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tenantry_server::Cli::parse().run().await
}
