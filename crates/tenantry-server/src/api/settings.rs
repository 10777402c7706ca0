//! `/api/settings` and `/api/flags`: the tenant's typed settings and its
//! feature flags. Admins change them; a change reaches every server process
//! at once (with `--redis-url`), not when a cache expires.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use tenantry::config::TenantConfig;
use tenantry::config::{ConfigError, FlagSource, FlagState};

use crate::tenant_settings::TenantSettings;
use utoipa::ToSchema;

use super::extract::{Admin, Body};

/// A string naming one of the zones the server can show dates in.
fn timezone_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "IANA time zone (`Europe/Paris`), or `UTC`: one the server's time-zone database knows.",
        ))
        .enum_values(Some(crate::locale::zone_names().iter().map(String::as_str)))
        .build()
}
use super::{ApiError, AppState};

/// The tenant's settings (every field; missing ones take their defaults on PUT).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    /// Sender of the tenant's e-mails (`name@domain`, printable ASCII, at
    /// most 254 characters), or null for the platform's.
    #[schema(max_length = 254, pattern = r"^[!-?A-~]+@[!-?A-~]*\.[!-?A-~]*$")]
    pub(crate) email_from: Option<String>,
    /// ISO 4217 currency code (`EUR`).
    #[schema(pattern = r"^[A-Z]{3}$")]
    pub(crate) currency: String,
    /// IANA time zone (`Europe/Paris`), or `UTC`: one the server's
    /// time-zone database knows (the document lists them).
    #[schema(schema_with = timezone_schema)]
    pub(crate) timezone: String,
    /// Where the tenant's webhooks go (`http://` or `https://` with a host,
    /// at most 2,048 characters, no spaces), or null.
    #[schema(
        max_length = 2048,
        pattern = r"^https?://[^/?#\s\x00-\x1f\x7f-\x9f]+[^\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) webhook_url: Option<String>,
    /// How long one request may run, 100 to 60000 ms; null for the plan's
    /// limit. Settings can lower the plan's limits, not raise them.
    #[serde(deserialize_with = "super::integer::optional")]
    #[schema(minimum = 100, maximum = 60000)]
    pub(crate) request_timeout_ms: Option<u32>,
    /// How long a call to the tenant's webhook endpoint may take, 100 to 60000 ms.
    #[serde(deserialize_with = "super::integer::required")]
    #[schema(minimum = 100, maximum = 60000)]
    pub(crate) outbound_timeout_ms: u32,
    /// Requests per second, 1 to 1,000,000; null for the plan's rate.
    #[serde(deserialize_with = "super::integer::optional")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub(crate) rate_limit_per_second: Option<u32>,
    /// Requests allowed at once above the rate, 0 to 1,000,000; null for
    /// the plan's burst.
    #[serde(deserialize_with = "super::integer::optional")]
    #[schema(minimum = 0, maximum = 1000000)]
    pub(crate) rate_limit_burst: Option<u32>,
    /// Requests in flight at once, 1 to 100,000; null for the plan's budget.
    #[serde(deserialize_with = "super::integer::optional")]
    #[schema(minimum = 1, maximum = 100000)]
    pub(crate) max_concurrent_requests: Option<u32>,
}

impl From<TenantSettings> for Settings {
    fn from(s: TenantSettings) -> Self {
        Self {
            email_from: s.email_from,
            currency: s.currency,
            timezone: s.timezone,
            webhook_url: s.webhook_url,
            request_timeout_ms: s.request_timeout_ms,
            outbound_timeout_ms: s.outbound_timeout_ms,
            rate_limit_per_second: s.rate_limit_per_second,
            rate_limit_burst: s.rate_limit_burst,
            max_concurrent_requests: s.max_concurrent_requests,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        TenantSettings::default().into()
    }
}

impl From<Settings> for TenantSettings {
    fn from(s: Settings) -> Self {
        Self {
            email_from: s.email_from,
            currency: s.currency,
            timezone: s.timezone,
            webhook_url: s.webhook_url,
            request_timeout_ms: s.request_timeout_ms,
            outbound_timeout_ms: s.outbound_timeout_ms,
            rate_limit_per_second: s.rate_limit_per_second,
            rate_limit_burst: s.rate_limit_burst,
            max_concurrent_requests: s.max_concurrent_requests,
        }
    }
}

/// One flag for this tenant.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlagView {
    /// Key.
    pub(crate) key: String,
    /// What it turns on.
    pub(crate) description: String,
    /// Its value for this tenant.
    pub(crate) enabled: bool,
    /// Why: `override`, `plan` or `rollout`.
    pub(crate) source: String,
}

impl From<FlagState> for FlagView {
    fn from(f: FlagState) -> Self {
        Self {
            key: f.key.to_owned(),
            description: f.description.to_owned(),
            enabled: f.enabled,
            source: match f.source {
                FlagSource::Override => "override",
                FlagSource::Plan => "plan",
                FlagSource::Rollout => "rollout",
            }
            .to_owned(),
        }
    }
}

/// The tenant's flags.
#[derive(Serialize, ToSchema)]
pub(crate) struct FlagList {
    /// By key.
    pub(crate) flags: Vec<FlagView>,
}

/// An override: `true` or `false`, or `null` to return to the plan and rollout.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagOverride {
    /// The value to force, or null.
    pub(crate) enabled: Option<bool>,
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid(errors) => {
                let first = errors.first().map(|e| e.field.to_owned());
                ApiError::BadRequest {
                    field: first,
                    message: errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                }
            }
            ConfigError::UnknownFlag(_) => ApiError::NotFound,
            ConfigError::Data(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The tenant's settings.
#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, description = "the tenant's settings", body = Settings), (status = 403, description = "admin role required")))]
pub(crate) async fn get(
    State(config): State<TenantConfig<TenantSettings>>,
    _: Admin,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(config.settings().await?.into()))
}

/// Replace the tenant's settings (validated; every problem is reported).
#[utoipa::path(put, path = "/api/settings", tag = "settings", request_body = Settings,
    responses((status = 200, description = "the tenant's settings", body = Settings), (status = 400, description = "invalid settings"), (status = 403, description = "admin role required")))]
pub(crate) async fn put(
    State(app): State<AppState>,
    _: Admin,
    Body(settings): Body<Settings>,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(
        app.services
            .config
            .update_settings(settings.into())
            .await?
            .into(),
    ))
}

/// The tenant's feature flags and why each is on or off.
#[utoipa::path(get, path = "/api/flags", tag = "settings",
    responses((status = 200, description = "the tenant's feature flags", body = FlagList)))]
pub(crate) async fn flags(
    State(config): State<TenantConfig<TenantSettings>>,
) -> Result<Json<FlagList>, ApiError> {
    let flags = config.flag_states().await?;
    Ok(Json(FlagList {
        flags: flags.into_iter().map(FlagView::from).collect(),
    }))
}

/// Override a flag for the tenant (or, with null, remove the override).
#[utoipa::path(put, path = "/api/flags/{key}", tag = "settings", request_body = FlagOverride,
    params(("key" = String, Path, description = "Flag key", example = "bulk_export")),
    responses((status = 200, description = "the flag", body = FlagView), (status = 400, description = "invalid body"), (status = 403, description = "admin role required"), (status = 404, description = "no such flag")))]
pub(crate) async fn set_flag(
    State(app): State<AppState>,
    _: Admin,
    Path(key): Path<String>,
    Body(value): Body<FlagOverride>,
) -> Result<Json<FlagView>, ApiError> {
    Ok(Json(
        app.services
            .config
            .set_flag(&key, value.enabled)
            .await?
            .into(),
    ))
}
