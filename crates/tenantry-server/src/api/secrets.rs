//! `/api/secrets`: the tenant's secrets (SMTP password, API keys), admin
//! only and write-only — reads show a name, the last four characters and
//! when it changed, never the value.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry::data::ErrorKind;
use tenantry::secrets::Secrets;
use tenantry::secrets::{SecretInfo, SecretValue, SecretsError};
use utoipa::ToSchema;

use super::extract::{Admin, Body};
use super::{ApiError, AppState};

/// A secret's value, to store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSecret {
    /// The value, 1 to 4,096 characters. It is never returned.
    #[schema(min_length = 1, max_length = 4096)]
    pub(crate) value: String,
}

/// What may be shown about a secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct SecretMeta {
    /// Name.
    pub(crate) name: String,
    /// The value's last four characters, or empty for values under 8.
    pub(crate) last4: String,
    /// Last change, Unix milliseconds.
    pub(crate) updated_at_ms: i64,
}

impl From<SecretInfo> for SecretMeta {
    fn from(info: SecretInfo) -> Self {
        Self {
            name: info.name,
            last4: info.last4,
            updated_at_ms: info.updated_at_ms,
        }
    }
}

/// The tenant's secrets.
#[derive(Serialize, ToSchema)]
pub(crate) struct SecretList {
    /// By name.
    pub(crate) secrets: Vec<SecretMeta>,
}

impl From<SecretsError> for ApiError {
    fn from(e: SecretsError) -> Self {
        match e {
            SecretsError::Invalid(message) => ApiError::BadRequest {
                field: None,
                message,
            },
            SecretsError::MasterKey {
                message: detail, ..
            } => ApiError::FeatureUnavailable {
                what: "secret storage",
                detail,
            },
            // The database away or slow: unavailable, like the rest of the
            // API; anything else it says (a constraint, a bug) is not.
            SecretsError::Data(e)
                if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) =>
            {
                ApiError::FeatureUnavailable {
                    what: "secret storage",
                    detail: e.to_string(),
                }
            }
            SecretsError::Data(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Secrets one tenant may hold: what bounds the secrets list.
pub(crate) const MAX_SECRETS: usize = 100;

/// The longest value, in characters (at most 16 KiB of UTF-8, the store's
/// own bound).
const MAX_VALUE_CHARS: usize = 4096;

/// List the tenant's secrets (metadata only).
#[utoipa::path(get, path = "/api/secrets", tag = "secrets",
    responses((status = 200, description = "the names of the tenant's secrets", body = SecretList), (status = 403, description = "admin role required")))]
pub(crate) async fn list(
    State(secrets): State<Secrets>,
    _: Admin,
) -> Result<Json<SecretList>, ApiError> {
    let secrets = secrets.list().await?;
    Ok(Json(SecretList {
        secrets: secrets.into_iter().map(SecretMeta::from).collect(),
    }))
}

/// Store a secret (replacing it); answers with its metadata, never the value.
#[utoipa::path(put, path = "/api/secrets/{name}", tag = "secrets", request_body = NewSecret,
    params(("name" = String, Path, description = "Secret name: 1 to 64 of a-z, 0-9, '_', '.', '-'", example = "smtp_password", pattern = r"^[a-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "the secret's metadata (never its value)", body = SecretMeta), (status = 400, description = "bad name or value"), (status = 403, description = "admin role required"), (status = 409, description = "the tenant holds 100 secrets already")))]
pub(crate) async fn put(
    State(secrets): State<Secrets>,
    _: Admin,
    Path(name): Path<String>,
    Body(new): Body<NewSecret>,
) -> Result<Json<SecretMeta>, ApiError> {
    if !(1..=MAX_VALUE_CHARS).contains(&new.value.chars().count()) {
        return Err(ApiError::field(
            "value",
            format!("must be 1 to {MAX_VALUE_CHARS} characters"),
        ));
    }
    let held = secrets.list().await?;
    if held.len() >= MAX_SECRETS && !held.iter().any(|s| s.name == name) {
        return Err(ApiError::Conflict(format!(
            "a tenant holds at most {MAX_SECRETS} secrets; delete one first"
        )));
    }
    let info = secrets.put(&name, SecretValue::new(new.value)).await?;
    Ok(Json(info.into()))
}

/// One secret's metadata.
#[utoipa::path(get, path = "/api/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name: 1 to 64 of a-z, 0-9, '_', '.', '-'", example = "smtp_password", pattern = r"^[a-z0-9_.-]{1,64}$")),
    responses((status = 200, description = "the secret's metadata (never its value)", body = SecretMeta), (status = 403, description = "admin role required"), (status = 404, description = "no such secret")))]
pub(crate) async fn get(
    State(app): State<AppState>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<Json<SecretMeta>, ApiError> {
    app.services
        .secrets
        .info(&name)
        .await?
        .map(|info| Json(info.into()))
        .ok_or(ApiError::NotFound)
}

/// Delete a secret.
#[utoipa::path(delete, path = "/api/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name: 1 to 64 of a-z, 0-9, '_', '.', '-'", example = "smtp_password", pattern = r"^[a-z0-9_.-]{1,64}$")),
    responses((status = 204, description = "deleted"), (status = 403, description = "admin role required"), (status = 404, description = "no such secret")))]
pub(crate) async fn delete(
    State(secrets): State<Secrets>,
    _: Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if secrets.delete(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
