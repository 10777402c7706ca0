//! `POST /signup`: a new tenant signs itself up. Outside the tenant edge
//! (there is no tenant yet), limited per client address, on the free plan
//! and the shared tier. The tenant is registered `provisioning` — its
//! requests answer 503 with `Retry-After` — and its onboarding workflow is
//! queued for the server's lifecycle workers; the answer (202) names the
//! tenant and the workflow, and the tenant's own API answers once it is
//! active.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenantry::context::{TenantId, Tier};
use tenantry::limits::Decision;
use tenantry::registry::{NewTenant, RegistryError, TenantState};
use utoipa::ToSchema;

use super::extract::Body;
use super::{ApiError, AppState};

/// Sign-ups one client address may start: a burst, then one a second.
const BURST: u32 = 5;
const PER_SECOND: u32 = 1;

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUp {
    /// The subdomain it will be reached at: 1–63 of `a-z`, `0-9` and `-`,
    /// starting with a letter, not ending with `-`.
    #[schema(max_length = 63, pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")]
    pub(crate) slug: String,
    /// Its display name, 1–100 characters, not only spaces, no control
    /// characters [default: the slug].
    #[serde(default)]
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) name: Option<String>,
    /// Its first admin's e-mail (`name@domain`, at most 254 characters).
    #[schema(
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^\s\x00-\x1f\x7f-\x9f]*\.[^\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) admin_email: String,
}

/// A sign-up under way.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignedUp {
    /// The new tenant's slug.
    slug: String,
    /// Its state now (`provisioning`): poll its API until it answers.
    state: String,
    /// The onboarding workflow.
    workflow: i64,
}

/// The client's rate key: its address, as an id the rate store keeps.
fn client_key(peer: &SocketAddr) -> TenantId {
    const SIGNUP_CLIENTS: uuid::Uuid = uuid::uuid!("2c8f0c55-7e0e-4b7a-9d55-61b0f9e1c3a4");
    TenantId::from_uuid(uuid::Uuid::new_v5(
        &SIGNUP_CLIENTS,
        peer.ip().to_string().as_bytes(),
    ))
}

/// Sign up a new tenant (free plan, shared tier).
#[utoipa::path(post, path = "/signup", tag = "signup", request_body = SignUp, security(()),
    responses((status = 202, description = "registered; onboarding under way", body = SignedUp), (status = 400, description = "invalid body"), (status = 409, description = "the slug is taken (or reserved)"), (status = 429, description = "too many sign-ups from this address (see `Retry-After`)")))]
pub(crate) async fn sign_up(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(request): Body<SignUp>,
) -> Result<Response, ApiError> {
    if let Decision::Deny { retry_after } = app
        .signup_rates
        .check(client_key(&peer), PER_SECOND, BURST)
        .await
    {
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(
                serde_json::json!({ "error": "too many sign-ups from this address; retry later" }),
            ),
        )
            .into_response();
        let secs = retry_after.as_secs().max(1).to_string();
        if let Ok(value) = HeaderValue::from_str(&secs) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let email = request.admin_email.to_ascii_lowercase();
    if !crate::store::users::is_email(&email) {
        return Err(ApiError::field("admin_email", "must be an e-mail address"));
    }
    if request.slug == "system" {
        // Reserved for the platform: as good as taken (the schema allows
        // the name; only the registry knows it is not free).
        return Err(ApiError::Conflict("that slug is taken".into()));
    }
    if let Err(e) = tenantry::registry::validate_slug(&request.slug) {
        return Err(ApiError::field("slug", e.to_string()));
    }
    let name = request.name.unwrap_or_else(|| request.slug.clone());
    super::text::display_text("name", &name, 100)?;
    let new = NewTenant {
        id: None,
        name,
        slug: request.slug,
        plan: crate::plans::FREE,
        tier: Tier::Shared,
        state: TenantState::Provisioning,
        domains: Vec::new(),
        database_server: None,
    };
    let record = crate::provision::register(&app.services, new)
        .await
        .map_err(|e| match e.downcast::<RegistryError>() {
            Ok(RegistryError::InvalidSlug(e)) => ApiError::field("slug", e.to_string()),
            Ok(RegistryError::Conflict(_)) => ApiError::Conflict("that slug is taken".into()),
            Ok(RegistryError::Data(e)) => e.into(),
            Ok(other) => ApiError::Internal(other.to_string()),
            Err(other) => ApiError::Internal(format!("{other:#}")),
        })?;
    let input = crate::lifecycle::Onboarding {
        admin_email: Some(email),
    };
    let workflow = app
        .workflows
        .launch(
            &*app.services.queue,
            crate::lifecycle::ONBOARDING,
            record.id,
            serde_json::to_value(input).map_err(|e| ApiError::Internal(e.to_string()))?,
            Some("signup"),
        )
        .await
        .map_err(ApiError::from)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SignedUp {
            slug: record.slug.clone(),
            state: record.state.to_string(),
            workflow: workflow.0,
        }),
    )
        .into_response())
}
