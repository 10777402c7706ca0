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
pub mod membership;
pub mod pg_url;
pub mod plans;
pub mod provision;
pub mod serve;
pub mod store;
pub mod tenant_settings;

use std::future::Future;

use axum::Router;
use tenantry::edge::{
    FromCustomDomain, FromHeader, FromPathPrefix, FromSubdomain, TenantLayer, TokenVerifier,
};
use tokio::net::TcpListener;

use crate::backend::Backend;
use crate::config::Config;

/// The token verifier `config` asks for: HS256 with the secret, or the
/// JWKS (with HS256 beside it only when explicitly allowed), with the
/// required issuer and audience.
pub fn verifier(config: &Config) -> TokenVerifier {
    let mut verifier = match &config.jwks {
        None => TokenVerifier::hs256(&config.jwt_secret),
        Some(jwks) if config.hs256_tokens => {
            TokenVerifier::hs256(&config.jwt_secret).with_jwks(jwks.clone())
        }
        Some(jwks) => TokenVerifier::jwks(jwks.clone()),
    };
    if let Some(issuer) = &config.jwt_issuer {
        verifier = verifier.require_issuer(issuer);
    }
    if let Some(audience) = &config.jwt_audience {
        verifier = verifier.require_audience(audience);
    }
    verifier
}

/// The two HTTP surfaces of the server.
pub struct App {
    /// Tenants' API (and the public health, docs and signed-file routes).
    pub api: Router,
    /// Operators' endpoints (`/metrics`, health), for `--admin-listen`.
    pub admin: Router,
}

/// Builds the app for `backend`: the edge chain (path prefix, subdomain,
/// custom domain, `X-Tenant-Id`) with the configured [`verifier`] and the
/// tenant's users as the membership check, around the API; and the
/// operator plane beside it.
pub fn build(config: &Config, backend: &Backend) -> App {
    let members = membership::UserMembership::cached(backend.db.clone());
    let edge = TenantLayer::new(backend.tenants.clone(), verifier(config))
        .membership(members.clone())
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
    let state = api::AppState::new(api::Shared {
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
        members,
    });
    App {
        admin: api::admin_router(state.clone()),
        api: api::router(state, edge, limits),
    }
}

/// Serves `app` on `listener` with the default [`serve::ServeLimits`]
/// until `shutdown` completes, then drains.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve(listener, app, serve::ServeLimits::default(), shutdown).await
}
