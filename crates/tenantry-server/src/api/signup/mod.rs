//! `POST /signup`: a new tenant signs itself up — when the operator opened
//! sign-up (`--signup`; off by default). Outside the tenant edge (there is
//! no tenant yet), on the free plan and the shared tier.
//!
//! Nothing is registered on the anonymous request. It is limited (per
//! client — an IPv4 address or an IPv6 /64, behind trusted proxies the
//! forwarded one — and in total), its slug checked against the reserved
//! and look-alike names, logged, and answered 202 "check your e-mail"
//! whatever the slug: whether a name is taken is told only in the e-mail,
//! to whoever reads that mailbox, and one address gets at most one such
//! e-mail per [`MAIL_WINDOW`] however often it is named. The e-mail
//! carries a signed confirmation; `POST /signup/confirm` with it registers
//! the tenant (`provisioning`, answered 503 with `Retry-After` until its
//! onboarding, run by the server's lifecycle workers, makes it active).

mod slugs;

use std::net::SocketAddr;
use std::time::Duration;

use crate::lifecycle::OnboardError;
use crate::provision::RegisterError;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenantry::context::{TenantId, Tier};
use tenantry::limits::Decision;
use tenantry::registry::{NewTenant, RegistryError, TenantKey, TenantState};
use utoipa::ToSchema;

use crate::signup_confirmation::Confirmation;

use super::extract::Body;
use super::{ApiError, AppState};

/// One address gets at most one sign-up e-mail this often.
pub(crate) const MAIL_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Sign-ups one client may start: a burst, then one a second.
const BURST: u32 = 5;
const PER_SECOND: u32 = 1;
/// Sign-ups everyone together may start (many clients, one campaign).
const GLOBAL_BURST: u32 = 50;
const GLOBAL_PER_SECOND: u32 = 10;

/// Keys of the sign-up limits in the rate store (ids of no tenant).
const SIGNUP_CLIENTS: uuid::Uuid = uuid::uuid!("2c8f0c55-7e0e-4b7a-9d55-61b0f9e1c3a4");
const SIGNUP_MAIL: uuid::Uuid = uuid::uuid!("6b1d7a9e-3f42-4c0e-9a7b-2d5e8f1c4a90");
const ALL_SIGNUPS: uuid::Uuid = uuid::uuid!("0f3b9c2e-8d47-4e1a-b6f5-7c2a9d4e1b83");

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

/// `key` as an id the rate store keeps, in the space `of`.
fn rate_key(of: uuid::Uuid, key: &str) -> TenantId {
    TenantId::from_uuid(uuid::Uuid::new_v5(&of, key.as_bytes()))
}

/// A 429 saying when to come back.
fn too_many(what: &str, retry_after: Duration) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(serde_json::json!({ "error": format!("too many sign-ups {what}; retry later") })),
    )
        .into_response();
    let secs = retry_after.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A sign-up asked for: what every caller hears, whatever the slug.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignUpRequested {
    /// `check your e-mail`.
    status: &'static str,
    /// Where the confirmation goes (as normalised).
    admin_email: String,
}

/// Ask to sign up a new tenant (free plan, shared tier): a confirmation
/// goes to the admin's address.
#[utoipa::path(post, path = "/signup", tag = "signup", request_body = SignUp, security(()),
    responses((status = 202, description = "asked; the admin's address gets a confirmation (or word that the slug is taken)", body = SignUpRequested), (status = 400, description = "invalid body, or a reserved slug"), (status = 404, description = "self-service sign-up is not open here"), (status = 429, description = "too many sign-ups from this client, or in all (see `Retry-After`)")))]
pub(crate) async fn sign_up(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(request): Body<SignUp>,
) -> Result<Response, ApiError> {
    if !app.signup.enabled {
        return Err(ApiError::NotFound);
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client =
        crate::client_address::limit_key(app.signup.trusted_proxies.client(peer.ip(), forwarded));
    if let Decision::Deny { retry_after } = app
        .signup_rates
        .check(rate_key(SIGNUP_CLIENTS, &client), PER_SECOND, BURST)
        .await
    {
        return Ok(too_many("from this client", retry_after));
    }
    if let Decision::Deny { retry_after } = app
        .signup_rates
        .check(
            rate_key(ALL_SIGNUPS, "all"),
            GLOBAL_PER_SECOND,
            GLOBAL_BURST,
        )
        .await
    {
        return Ok(too_many("at the moment", retry_after));
    }
    let email = request.admin_email.to_ascii_lowercase();
    if !crate::store::users::is_email(&email) {
        return Err(ApiError::field("admin_email", "must be an e-mail address"));
    }
    if let Err(e) = tenantry::registry::validate_slug(&request.slug) {
        return Err(ApiError::field("slug", e.to_string()));
    }
    if let Some(why) = slugs::refusal(&request.slug, &app.signup.reserved) {
        return Err(ApiError::field("slug", why));
    }
    let name = request.name.unwrap_or_else(|| request.slug.clone());
    super::text::display_text("name", &name, 100)?;
    let mailed = app
        .signup_rates
        .first_in(rate_key(SIGNUP_MAIL, &email), MAIL_WINDOW)
        .await;
    tracing::info!(
        target: "tenantry::audit",
        event = "signup.requested",
        slug = %request.slug,
        client = %client,
        mailed,
        "sign-up requested"
    );
    if mailed {
        let taken = app
            .services
            .tenants
            .find(&TenantKey::Slug(request.slug.clone()))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .is_some();
        let mail = crate::jobs::SignupMail {
            confirmation: (!taken)
                .then(|| Confirmation::sign(&app.signup_key, &request.slug, &name, &email)),
            slug: request.slug,
            to: email.clone(),
        };
        crate::jobs::mail_signup(&app.services, &mail)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(SignUpRequested {
            status: "check your e-mail",
            admin_email: email,
        }),
    )
        .into_response())
}

/// Confirm a sign-up with what its e-mail carried: the tenant is
/// registered and onboarded.
#[utoipa::path(post, path = "/signup/confirm", tag = "signup", request_body = Confirmation, security(()),
    responses((status = 202, description = "registered; onboarding under way", body = SignedUp), (status = 400, description = "invalid, altered or expired confirmation"), (status = 404, description = "self-service sign-up is not open here"), (status = 409, description = "the slug was taken since the e-mail was sent")))]
pub(crate) async fn confirm(
    State(app): State<AppState>,
    Body(request): Body<Confirmation>,
) -> Result<Response, ApiError> {
    if !app.signup.enabled {
        return Err(ApiError::NotFound);
    }
    if !request.is_valid(&app.signup_key) {
        return Err(ApiError::field(
            "signature",
            "this confirmation is not valid (altered, or over a day old): sign up again",
        ));
    }
    let new = NewTenant {
        id: None,
        name: request.name,
        slug: request.slug,
        plan: crate::plans::FREE,
        tier: Tier::Shared,
        state: TenantState::Provisioning,
        domains: Vec::new(),
        database_server: None,
    };
    let admin_email = Some(request.admin_email);
    let (record, workflow) = crate::lifecycle::onboard(&app.lifecycle, new, admin_email, "signup")
        .await
        .map_err(|e| match e {
            OnboardError::Register(RegisterError::Registry(RegistryError::InvalidSlug(e))) => {
                ApiError::field("slug", e.to_string())
            }
            // Told only to whoever holds the confirmation, from the mailbox.
            OnboardError::Register(RegisterError::Registry(RegistryError::Conflict { .. })) => {
                ApiError::Conflict("that slug is taken".into())
            }
            OnboardError::Register(RegisterError::Registry(RegistryError::Data(e))) => e.into(),
            OnboardError::Launch(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        })?;
    tracing::info!(
        target: "tenantry::audit",
        event = "signup.confirmed",
        tenant = %record.id,
        slug = %record.slug,
        workflow = workflow.0,
        "sign-up confirmed"
    );
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
