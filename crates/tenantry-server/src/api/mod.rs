//! The HTTP surface of the reference server.
//!
//! Public routes (`/healthz`, `/readyz`, `/openapi.json`, `/docs`) are
//! matched first; everything else falls through to the tenant edge, which
//! wraps the `/api` router as a whole — outside its routing, so a path
//! prefix (`/t/acme/api/…`) is stripped before routes are matched.
//!
//! Operator endpoints (`/metrics`, which names the busiest tenants) are on
//! a router of their own, [`admin_router`], served on a separate listener
//! (`--admin-listen`, loopback by default): the API port serves none of them.

mod access_log;
mod attachments;
mod error;
mod extract;
mod integer;
mod invoices;
mod jobs;
mod metrics;
mod openapi;
mod orders;
mod page;
mod secrets;
mod settings;
mod text;
mod users;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tenantry::data::Database;
use tenantry::edge::{RequestIdLayer, TenantLayer};
use tenantry::limits::TenantLimitsLayer;
use tower::Layer;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use openapi::ApiDoc;

/// What handlers share: one `Arc`, because axum clones the state for
/// every extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl AppState {
    /// The state around `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(std::sync::Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    /// The tenant plane.
    pub db: Database,
    /// Tenants' objects.
    pub storage: tenantry::storage::TenantStorage,
    /// Tenants' secrets.
    pub secrets: tenantry::secrets::Secrets,
    /// Tenants' settings and flags.
    pub config: tenantry::config::TenantConfig<crate::tenant_settings::TenantSettings>,
    /// Where invoice events become jobs.
    pub events: crate::jobs::Events,
    /// What `/metrics` serves: requests…
    pub metrics: std::sync::Arc<tenantry::metrics::HttpMetrics>,
    /// …and jobs.
    pub job_metrics: std::sync::Arc<tenantry::metrics::JobMetrics>,
    /// The registry (its cache's hit ratio is a metric).
    pub tenants: tenantry::registry::Tenants,
    /// …and refusals by the tenant limits.
    pub limit_metrics: std::sync::Arc<tenantry::metrics::LimitMetrics>,
    /// The edge's membership cache, told when a user changes.
    pub members: tenantry::edge::CachedMembership,
}

impl Shared {
    /// Makes the edge ask again about the current tenant's user `id`: a
    /// removal or demotion counts from the next request in this process
    /// (and within the cache's few seconds in the others).
    pub fn forget_member(&self, id: uuid::Uuid) {
        if let Ok(tenant) = tenantry::context::current_tenant_id() {
            self.members
                .forget(tenant, tenantry::context::UserId::from(id));
        }
    }
}

/// The whole app: public routes, then the tenant edge around the API, the
/// tenant limits (when on) inside the edge and inside the access log, so
/// refusals are logged and measured like any response.
pub fn router(state: AppState, edge: TenantLayer, limits: Option<TenantLimitsLayer>) -> Router {
    let api = Router::new()
        .route("/api/orders", get(orders::list).post(orders::create))
        .route(
            "/api/orders/{id}",
            get(orders::get)
                .patch(orders::update)
                .delete(orders::delete),
        )
        .route("/api/users", get(users::list).post(users::create))
        .route(
            "/api/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/api/invoices", get(invoices::list).post(invoices::create))
        .route("/api/invoices/{id}", get(invoices::get))
        .route("/api/invoices/{id}/pay", post(invoices::pay))
        .route("/api/invoices/{id}/attachments", get(attachments::list))
        .route(
            "/api/invoices/{id}/attachments/{name}",
            get(attachments::get)
                .put(attachments::put)
                .delete(attachments::delete),
        )
        .route(
            "/api/invoices/{id}/attachments/{name}/upload-url",
            post(attachments::upload_url),
        )
        .route("/api/settings", get(settings::get).put(settings::put))
        .route("/api/flags", get(settings::flags))
        .route("/api/flags/{key}", axum::routing::put(settings::set_flag))
        .route("/api/jobs", get(jobs::get))
        .route("/api/jobs/dead", get(jobs::dead))
        .route("/api/jobs/dead/{id}/retry", post(jobs::retry))
        .route("/api/jobs/dead/{id}", axum::routing::delete(jobs::discard))
        .route("/api/webhooks/secret", post(webhooks::rotate_secret))
        .route("/api/webhooks/deliveries", get(webhooks::deliveries))
        .route("/api/secrets", get(secrets::list))
        .route(
            "/api/secrets/{name}",
            get(secrets::get).put(secrets::put).delete(secrets::delete),
        )
        .route(
            "/files/{*key}",
            get(attachments::serve_signed).put(attachments::accept_signed),
        )
        .layer(DefaultBodyLimit::max(attachments::MAX_ATTACHMENT_BYTES))
        .fallback(|| async { ApiError::NotFound });
    let api = match limits {
        Some(limits) => api.layer(limits),
        None => api,
    };
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::log_request,
        ))
        .with_state(state.clone());

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi::document()))
        .with_state(state)
        .fallback_service(edge.layer(api))
        .layer(RequestIdLayer)
}

/// The operator plane: metrics and health, for the admin listener only.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
        .layer(RequestIdLayer)
}

/// Ready when the database answers.
async fn ready(State(app): State<AppState>) -> (StatusCode, &'static str) {
    match crate::backend::ping(&app.db).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
