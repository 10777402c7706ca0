//! `tenantry serve`: the services made fit to serve, the app, the
//! listeners, the workers; a graceful drain on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::app;
use crate::settings::Settings;

#[derive(clap::Args, Debug, Default)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TENANTRY_LISTEN")]
    pub(crate) listen: Option<SocketAddr>,
    /// Seed the demo tenants `acme` and `globex` (idempotent).
    #[arg(long)]
    pub(crate) demo: bool,
    /// Address of the operator endpoints (`/metrics`, health), or `off`.
    /// Keep it on loopback or a private network: metrics name tenants.
    #[arg(long, default_value = "127.0.0.1:9464", env = "TENANTRY_ADMIN_LISTEN")]
    pub(crate) admin_listen: AdminListen,
    /// Seconds a client has to send a request's head (slow-loris guard).
    #[arg(long, default_value_t = 10, env = "TENANTRY_HEADER_READ_TIMEOUT_SECS")]
    pub(crate) header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its head is in
    /// (a late body is answered 408 and the connection closed).
    #[arg(long, default_value_t = 30, env = "TENANTRY_BODY_READ_TIMEOUT_SECS")]
    pub(crate) body_read_timeout_secs: u64,
    /// Connections open at once; more are closed on arrival.
    #[arg(long, default_value_t = 4096, env = "TENANTRY_MAX_CONNECTIONS")]
    pub(crate) max_connections: usize,
}

/// Where the operator endpoints listen, if anywhere.
#[derive(Clone, Copy, Debug)]
pub(crate) enum AdminListen {
    Off,
    On(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            addr => addr
                .parse()
                .map(Self::On)
                .map_err(|_| format!("{addr:?} is neither an address (host:port) nor `off`")),
        }
    }
}

impl Default for AdminListen {
    fn default() -> Self {
        Self::On(SocketAddr::from(([127, 0, 0, 1], 9464)))
    }
}

/// The command that runs this binary again, for the start-up hint: the
/// hint must work as printed for whoever started the server — `tenantry`
/// when that name on the `PATH` is this binary, `cargo run -q --` (with
/// `--release` for a release build) when it was built by cargo and is not
/// installed, and otherwise the binary's own path.
fn how_to_run_me() -> String {
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "tenantry".to_owned();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::canonicalize(dir.join("tenantry")).is_ok_and(|found| found == me))
    });
    if on_path {
        return "tenantry".to_owned();
    }
    let profile = me
        .parent()
        .and_then(|dir| dir.file_name())
        .and_then(|n| n.to_str());
    match profile {
        Some("debug") => "cargo run -q --".to_owned(),
        Some("release") => "cargo run -q --release --".to_owned(),
        _ => me.display().to_string(),
    }
}

pub(crate) async fn run(settings: &Settings, args: ServeArgs) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let services = app::open(&config).await?;
    if args.demo {
        crate::demo::seed(&services).await?;
    }
    let app = app::build(&config, &services);
    let lifecycle = app.lifecycle.clone();
    let admin_listener = match args.admin_listen {
        AdminListen::Off => None,
        AdminListen::On(addr) => {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the operator endpoints listen beyond loopback: keep that network private");
            }
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the admin listener {addr}"))?,
            )
        }
    };
    let addr = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let store = match &config.database {
        crate::config::DatabaseConfig::Sqlite => {
            format!("SQLite files in {}", config.data_dir.display())
        }
        crate::config::DatabaseConfig::Postgres { .. } => "PostgreSQL".to_owned(),
    };
    let example = if args.demo { "acme" } else { "<slug>" };
    let tenantry = how_to_run_me();
    let admin = match &admin_listener {
        Some(admin) => format!("http://{}/metrics", admin.local_addr()?),
        None => "off".to_owned(),
    };
    eprintln!(
        "tenantry listening on http://{addr} ({store})\n\
         \n  docs:   http://{addr}/docs\
         \n  admin:  {admin}\
         \n  token:  {tenantry} token --tenant {example} --role admin\
         \n  try:    curl -H 'Host: {example}.{base}:{port}' -H \"Authorization: Bearer $({tenantry} token --tenant {example} --role admin)\" http://{addr}/api/orders\n",
        base = config.base_domain,
        port = addr.port(),
    );
    let background = app::workers(&config, &lifecycle)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let limits = crate::serve::ServeLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
        body_read_timeout: Duration::from_secs(args.body_read_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
    };
    let admin = admin_listener.map(|listener| {
        tokio::spawn(crate::serve::serve(
            listener,
            app.admin,
            limits,
            until_stopped(stopping.clone()),
        ))
    });
    crate::serve::serve(listener, app.api, limits, until_stopped(stopping)).await?;
    if let Some(admin) = admin {
        admin.await??;
    }
    // In-flight jobs finish before the process exits (their leases would
    // bring them back otherwise, but later).
    background.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
