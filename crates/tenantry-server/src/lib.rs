//! The tenantry reference server: a small multi-tenant SaaS (users, orders,
//! invoices) built on the `tenantry` library, and the test bed that proves
//! it.
//!
//! [`app`] is the composition root: settings → configuration → services →
//! start-up policy → router → workers. `main` parses the command line
//! ([`Cli`]) and calls into it; tests call [`app::build`] and [`run`]
//! directly on port 0. The public modules are what tests, benchmarks and
//! the CLI need; the rest is the app's own business.

pub mod app;
pub mod config;
pub mod demo;
pub mod error;
pub mod fleet;
pub mod lifecycle;
pub mod logging;
pub mod migrations;
pub mod pg_url;
pub mod plans;
pub mod provision;
pub mod serve;
pub mod services;
pub mod settings;
pub mod tenant_settings;

pub(crate) mod api;
pub(crate) mod cli;
pub mod client_address;
pub(crate) mod export;
pub(crate) mod flags;
pub(crate) mod invoice_summary;
pub(crate) mod jobs;
pub(crate) mod limit_sizes;
pub(crate) mod locale;
pub(crate) mod membership;
pub(crate) mod process;
pub(crate) mod random;
pub(crate) mod residue;
pub(crate) mod signup_confirmation;
pub(crate) mod stdout;
pub(crate) mod store;
pub(crate) mod tenant_rows;

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

pub use cli::Cli;

/// Serves `app` on `listener` with the default [`serve::ServeLimits`]
/// until `shutdown` completes, then drains.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, app, serve::ServeLimits::default(), shutdown).await
}
