//! What the benchmark examples share (not an example itself: Cargo builds
//! only `examples/*.rs`).

use anyhow::Context;
use tenantry::data::postgres::{migrate, tenant_database_prefix};

/// Drops the database `url` names — and every database-tier tenant
/// database made from it by an earlier run — and creates it empty.
pub(crate) async fn recreate_database(url: &str) -> anyhow::Result<()> {
    let name = tenantry_server::pg_url::database(url)?.context("the URL names no database")?;
    let admin = migrate::connect(&tenantry_server::pg_url::with_database(url, "postgres")?).await?;
    let stale = admin
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&tenant_database_prefix(&name)],
        )
        .await?;
    for db in stale
        .iter()
        .map(|row| row.get::<_, String>(0))
        .chain([name.clone()])
    {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .await?;
    }
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    Ok(())
}
