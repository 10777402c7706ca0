//! The composition root: the one place that knows every part of the
//! server and puts them together, in this order —
//!
//! 1. **settings → configuration**: [`crate::settings::Settings`] (flags,
//!    environment, file) resolved into plain [`Config`] data;
//! 2. **services**: [`Services::connect`](crate::services::connect) opens
//!    handles (databases, registry, storage, secrets, settings, queue,
//!    cache) and decides nothing;
//! 3. **start-up policy**: [`startup::prepare`] migrates the tenant plane
//!    as a fleet and runs the isolation audit — only `serve` asks for it;
//! 4. **the router**: [`build`] wraps the API in the whole middleware
//!    stack, written out below in the order a request meets it;
//! 5. **workers**: [`workers`] starts the job workers and the scheduler.
//!
//! The CLI's commands call into here and open only what they use.

use crate::error::ServerError;
pub mod startup;

use std::sync::Arc;

use axum::Router;
use tenantry::edge::{
    FromCustomDomain, FromHeader, FromPathPrefix, FromSubdomain, RequestIdLayer, TenantLayer,
    TokenVerifier,
};
use tenantry::limits::{SettingsLimits, TenantLimitsLayer};
use tenantry::metrics::LimitMetrics;
use tower::Layer;

use crate::api::{self, AppState, Shared};
use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::limit_sizes::LimitSizes;
use crate::services::Services;

pub use crate::jobs::Background;
pub use crate::services::connect;

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
    /// The lifecycle's workflow kinds, built here once: the API's
    /// sign-up launches them, [`workers`] runs them.
    pub lifecycle: Lifecycle,
}

/// The app for `services`. A request to the API port meets, outermost
/// first:
///
/// 1. the request id (`X-Request-Id`, kept or minted);
/// 2. the public routes (`/healthz`, `/readyz`, `/openapi.json`, `/docs`),
///    answered without a tenant;
/// 3. a view of the tenants' states that is recent (re-read first after a
///    pause, see `tenantry::fence`);
/// 4. the tenant edge: the claimed tenant (path prefix `/t/<slug>`,
///    subdomain, custom domain, `X-Tenant-Id`) checked against the token
///    and the tenant's users, or a signed object URL; the context set;
/// 5. the access log (inside the edge, so every line names the tenant);
/// 6. the tenant limits (rate, concurrency, time), when on — inside the
///    log, so a refusal is logged and measured like any answer;
/// 7. the API routes.
pub fn build(config: &Config, services: &Services) -> App {
    let lifecycle = Lifecycle::new(services);
    let members = crate::membership::UserMembership::cached(services.db.clone());
    let limit_metrics = services.limit_metrics.clone();
    let state = AppState::new(Shared {
        services: services.clone(),
        members: members.clone(),
        lifecycle: lifecycle.clone(),
        signup_rates: match &services.signup_rates {
            Some(redis) => Arc::new(redis.clone()),
            None => Arc::new(tenantry::limits::LocalRates::default()),
        },
        signup: config.signup.clone(),
        signup_key: crate::signup_confirmation::key(&config.jwt_secret),
    });
    let edge = TenantLayer::new(services.tenants.clone(), verifier(config))
        .membership(members)
        .resolver(FromPathPrefix::new("/t"))
        .resolver(FromSubdomain::new(&config.base_domain))
        .resolver(FromCustomDomain::new(&config.base_domain))
        .resolver(FromHeader::new())
        .signed_requests(Arc::new(services.storage.clone()))
        // A leaving tenant downloads its export while suspended.
        .suspended_signed_reads(crate::export::SIGNED_PATH);

    let (routes, doc) = api::routes();
    let routes = match &config.limits {
        Some(sizes) => routes.layer(limits(sizes.clone(), services, limit_metrics)),
        None => routes,
    };
    let tenant_api = routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::log_request,
        ))
        .with_state(state.clone());
    let tenant_edge =
        axum::middleware::from_fn_with_state(services.acknowledger.clone(), api::current_view)
            .layer(edge.layer(tenant_api));
    let api = api::public_routes(doc)
        .with_state(state.clone())
        .fallback_service(tenant_edge)
        .layer(RequestIdLayer);
    App {
        admin: api::admin_router(state),
        api,
        lifecycle,
    }
}

/// The limits layer for `sizes`: each tenant's settings may lower them,
/// refusals are counted in `metrics`, rates go to Redis when the services
/// have it (one limit across processes).
fn limits(sizes: LimitSizes, services: &Services, metrics: Arc<LimitMetrics>) -> TenantLimitsLayer {
    let layer = TenantLimitsLayer::new(SettingsLimits::new(sizes, services.config.clone()))
        .observed_by(metrics);
    match &services.rates {
        Some(rates) => layer.with_rates(rates.clone()),
        None => layer,
    }
}

/// Starts the job workers and the scheduler (none with `--workers 0`),
/// over the services of `lifecycle` (the app's, [`App::lifecycle`]).
pub fn workers(config: &Config, lifecycle: &Lifecycle) -> Result<Background, ServerError> {
    let services = &lifecycle.services;
    let mut background = crate::jobs::start(config, services)?;
    // Every serving process acknowledges (workers or none): a change that
    // holds a tenant waits for it, and its fence refuses held tenants.
    let acknowledger = services.acknowledger.clone();
    let acks = services.route_acks.clone();
    background.spawn(async move {
        // A process of this machine that died unannounced is not waited for.
        crate::process::forget_dead_here(&*acks).await;
    });
    background.spawn(acknowledger.run(background.stopping()));
    if config.jobs.workers > 0 {
        crate::lifecycle::start(config, lifecycle, &mut background);
    }
    Ok(background)
}

/// Opens the services and makes them fit to serve ([`startup::prepare`]).
pub async fn open(config: &Config) -> Result<Services, ServerError> {
    let services = connect(config).await?;
    startup::prepare(&services).await?;
    Ok(services)
}
