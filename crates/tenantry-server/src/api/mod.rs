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
mod current_view;
mod error;
mod extract;
mod handles;
mod integer;
mod invoices;
mod jobs;
mod metrics;
mod openapi;
mod orders;
mod page;
mod secrets;
mod settings;
mod signup;
mod text;
mod users;
mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tenantry::edge::RequestIdLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub(crate) use error::ApiError;
pub(crate) use openapi::ApiDoc;

/// What handlers share: one `Arc`, because axum clones the state for
/// every extractor and middleware of every request.
#[derive(Clone)]
pub(crate) struct AppState(std::sync::Arc<Shared>);

impl AppState {
    /// The state around `shared`.
    pub(crate) fn new(shared: Shared) -> Self {
        Self(std::sync::Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`]: the services, and what only HTTP needs.
pub(crate) struct Shared {
    /// The open services (tenant plane, registry, storage, secrets,
    /// settings, queue, invoice summaries).
    pub services: crate::services::Services,
    /// The edge's membership cache, told when a user changes.
    pub members: tenantry::edge::CachedMembership,
    /// The lifecycle (sign-up's onboarding, the stuck-workflow metric).
    pub lifecycle: crate::lifecycle::Lifecycle,
    /// Sign-ups per client address (in Redis when configured).
    pub signup_rates: std::sync::Arc<dyn tenantry::limits::RateStore>,
    /// Whether sign-up is open, and its limits' and slugs' settings.
    pub signup: crate::config::SignupConfig,
    /// The key sign-up confirmations are signed with.
    pub signup_key: Vec<u8>,
}

impl Shared {
    /// Makes the edge ask again about the current tenant's user `id`: a
    /// removal or demotion counts from the next request in this process
    /// (and within the cache's few seconds in the others).
    pub(crate) fn forget_member(&self, id: uuid::Uuid) {
        if let Ok(tenant) = tenantry::context::current_tenant_id() {
            self.members
                .forget(tenant, tenantry::context::UserId::from(id));
        }
    }
}

/// The tenant API's routes, each listed once: the router and the OpenAPI
/// document's paths come from the same list. No middleware here: the
/// stack around them is [`crate::app`]'s.
pub(crate) fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(orders::list, orders::create))
        .routes(routes!(orders::get, orders::update, orders::delete))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(invoices::list, invoices::create))
        .routes(routes!(invoices::summary))
        .routes(routes!(invoices::export))
        .routes(routes!(invoices::get))
        .routes(routes!(invoices::pay))
        .routes(routes!(attachments::list))
        .routes(routes!(
            attachments::get,
            attachments::put,
            attachments::delete
        ))
        .routes(routes!(attachments::upload_url))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(settings::flags))
        .routes(routes!(settings::set_flag))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::dead))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::discard))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::get, secrets::put, secrets::delete))
        // Signed object URLs: authorised by their signature, not documented
        // as API operations.
        .route(
            "/files/{*key}",
            get(attachments::serve_signed).put(attachments::accept_signed),
        )
        .split_for_parts();
    // Sign-up is served outside the edge (public_routes) but documented here.
    let (_, signup_doc) = OpenApiRouter::<AppState>::new()
        .routes(routes!(signup::sign_up))
        .routes(routes!(signup::confirm))
        .split_for_parts();
    doc.merge(signup_doc);
    utoipa::Modify::modify(&openapi::ErrorResponses, &mut doc);
    let router = router
        .layer(DefaultBodyLimit::max(attachments::MAX_ATTACHMENT_BYTES))
        .fallback(|| async { ApiError::NotFound });
    (router, doc)
}

/// The routes outside the tenant edge: health, sign-up, the document and
/// its viewer.
pub(crate) fn public_routes(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new()
        .route("/signup", axum::routing::post(signup::sign_up))
        .route("/signup/confirm", axum::routing::post(signup::confirm))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
}

/// The access log, as a layer for [`crate::app`]'s stack.
pub(crate) use access_log::log_request;
pub(crate) use current_view::current_view;

/// The operator plane: metrics and health, for the admin listener only.
pub(crate) fn admin_router(state: AppState) -> Router {
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
    match crate::services::ping(&app.services.db).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
