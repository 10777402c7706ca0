//! What the benchmark examples share (not an example itself: Cargo builds
//! only `examples/*.rs`).

use anyhow::Context;
use tenantry::data::postgres::{migrate, tenant_database_prefix};

/// Drops the database `url` names — and every database-tier tenant
/// database made from it by an earlier run — and creates it empty.
/// Each finished step of `record` with how long it took: `copy 812 ms, …`.
#[allow(dead_code)] // not every benchmark runs a workflow
pub(crate) fn step_times(record: &tenantry::workflow::WorkflowRecord) -> String {
    record
        .steps
        .iter()
        .filter_map(|s| {
            let took = s.finished_at?.duration_since(s.started_at?).ok()?;
            Some(format!("{} {:.0} ms", s.name, took.as_secs_f64() * 1e3))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

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

/// A server running in this process on `settings`: its services, the API's
/// address, what stops it, and its workers (dropping them stops them).
#[allow(dead_code)] // not every benchmark runs a server
pub(crate) struct Serving {
    pub(crate) services: tenantry_server::services::Services,
    pub(crate) lifecycle: tenantry_server::lifecycle::Lifecycle,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) workers: tenantry_server::app::Background,
}

/// Opens the services of `settings`, serves the API on a free local port
/// and starts the workers, as `tenantry serve` would.
#[allow(dead_code)] // not every benchmark runs a server
pub(crate) async fn serve(
    settings: tenantry_server::settings::Settings,
) -> anyhow::Result<Serving> {
    let config = settings.resolve()?;
    let services = tenantry_server::app::open(&config).await?;
    let app = tenantry_server::app::build(&config, &services);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(tenantry_server::run(listener, app.api, async {
        let _ = stopped.await;
    }));
    let workers = tenantry_server::app::workers(&config, &app.lifecycle)?;
    Ok(Serving {
        services,
        lifecycle: app.lifecycle,
        addr,
        stop,
        workers,
    })
}
