//! `/api/webhooks`: the tenant's signing secret (shown once, on rotation)
//! and its delivery log. The endpoint itself is the `webhook_url` setting.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tenantry::data::Database;
use tenantry::secrets::Secrets;
use utoipa::ToSchema;

use super::ApiError;
use super::extract::Admin;
use crate::store::webhook_deliveries::{self, Delivery};

/// A new signing secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct SigningSecret {
    /// Verify `tenantry-signature` with it; it is not shown again.
    pub(crate) secret: String,
}

/// The delivery log.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    /// The latest 100 attempts, newest first.
    pub(crate) deliveries: Vec<Delivery>,
}

/// Create or replace the webhook signing secret.
#[utoipa::path(post, path = "/api/webhooks/secret", tag = "webhooks",
    responses((status = 201, description = "the new signing secret (shown once)", body = SigningSecret), (status = 403, description = "admin role required")))]
pub(crate) async fn rotate_secret(
    State(secrets): State<Secrets>,
    _: Admin,
) -> Result<(StatusCode, Json<SigningSecret>), ApiError> {
    let secret = crate::jobs::webhooks::rotate_secret(&secrets)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(SigningSecret { secret })))
}

/// The webhook delivery log.
#[utoipa::path(get, path = "/api/webhooks/deliveries", tag = "webhooks",
    responses((status = 200, description = "recent webhook deliveries", body = DeliveryList), (status = 403, description = "admin role required")))]
pub(crate) async fn deliveries(
    State(db): State<Database>,
    _: Admin,
) -> Result<Json<DeliveryList>, ApiError> {
    Ok(Json(DeliveryList {
        deliveries: webhook_deliveries::list(&db).await?,
    }))
}
