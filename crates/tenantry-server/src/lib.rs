//! The tenantry reference server: a small multi-tenant SaaS (users, orders,
//! invoices) built on the `tenantry` library, and the test bed that proves
//! it. `main` parses the command line and calls into here; tests call
//! [`build`] and [`run`] directly on port 0.

pub mod api;
pub mod backend;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fleet;
pub mod jobs;
pub mod jobs_cli;
pub mod limits;
pub mod logging;
pub mod pg_url;
pub mod provision;
pub mod store;

use std::future::Future;

use axum::Router;
use tenantry::edge::{
    FromCustomDomain, FromHeader, FromPathPrefix, FromSubdomain, TenantLayer, TokenVerifier,
};
use tokio::net::TcpListener;

use crate::backend::Backend;
use crate::config::Config;

/// Builds the app for `backend`: the edge chain (path prefix, subdomain,
/// custom domain, `X-Tenant-Id`) with HS256 tokens (and RS256/ES256 from a
/// JWKS when configured), around the API.
pub fn build(config: &Config, backend: &Backend) -> Router {
    let mut verifier = TokenVerifier::hs256(&config.jwt_secret);
    if let Some(jwks) = &config.jwks {
        verifier = verifier.with_jwks(jwks.clone());
    }
    let edge = TenantLayer::new(backend.tenants.clone(), verifier)
        .resolver(FromPathPrefix::new("/t"))
        .resolver(FromSubdomain::new(&config.base_domain))
        .resolver(FromCustomDomain::new(&config.base_domain))
        .resolver(FromHeader::new())
        // Object URLs signed by the local storage backend (`/files/…`).
        .signed_requests(std::sync::Arc::new(backend.storage.clone()));
    let limit_metrics =
        std::sync::Arc::new(tenantry::metrics::LimitMetrics::new(config.metrics_top_k));
    let limits = config
        .limits
        .clone()
        .map(|sizes| limits::layer(sizes, backend, limit_metrics.clone()));
    api::router(
        api::AppState::new(api::Shared {
            limit_metrics,
            db: backend.db.clone(),
            storage: backend.storage.clone(),
            secrets: backend.secrets.clone(),
            config: backend.config.clone(),
            events: jobs::Events {
                queue: backend.queue.clone(),
                config: backend.config.clone(),
            },
            metrics: std::sync::Arc::new(tenantry::metrics::HttpMetrics::new(config.metrics_top_k)),
            job_metrics: backend.job_metrics.clone(),
            tenants: backend.tenants.clone(),
        }),
        edge,
        limits,
    )
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
