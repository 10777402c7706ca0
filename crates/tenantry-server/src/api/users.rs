//! `/api/users`: reading is open to members; changes need the admin role.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tenantry::data::Database;
use utoipa::{IntoParams, ToSchema};

use super::extract::{Admin, Body, Id, Params};
use super::{ApiError, AppState};
use crate::store::users::{self, User};

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// E-mail, unique within the tenant: `local@domain` with a dot in the
    /// domain, at most 254 characters, no spaces or control characters.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = r"^[^@\s\x00-\x1f\x7f-\x9f]+@[^\s\x00-\x1f\x7f-\x9f]*\.[^\s\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) email: String,
    /// Display name, 1–100 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) name: String,
    /// The role (default `member`).
    #[schema(value_type = Option<UserRole>)]
    pub(crate) role: Option<String>,
}

/// A user's role in the tenant.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the accepted strings
pub(crate) enum UserRole {
    /// Manages users, settings and secrets.
    Admin,
    /// Works with orders and invoices.
    Member,
}

/// Changes to a user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    /// New display name (as for a new user).
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) name: Option<String>,
    /// New role.
    #[schema(value_type = Option<UserRole>)]
    pub(crate) role: Option<String>,
}

/// The tenant's users.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserList {
    /// Users by e-mail.
    pub(crate) users: Vec<User>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_after: Option<String>,
}

/// Paging through users by e-mail.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListUsers {
    /// Page size, 1–100 (default 50).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<i64>,
    /// Only users whose e-mail sorts after this (the previous page's
    /// `next_after`): at most 254 characters, no control characters.
    #[param(
        nullable = false,
        max_length = 254,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub(crate) after: Option<String>,
}

pub(crate) fn check_email(email: &str) -> Result<(), ApiError> {
    crate::store::users::is_email(email)
        .then_some(())
        .ok_or_else(|| ApiError::field("email", "must be an e-mail address"))
}

pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    super::text::display_text("name", name, 100)
}

fn check_role(role: &str) -> Result<(), ApiError> {
    matches!(role, "admin" | "member")
        .then_some(())
        .ok_or_else(|| ApiError::field("role", "must be admin or member"))
}

/// List the tenant's users.
#[utoipa::path(get, path = "/api/users", tag = "users", params(ListUsers),
    responses((status = 200, description = "a page of users", body = UserList), (status = 400, description = "bad paging parameters")))]
pub(crate) async fn list(
    State(db): State<Database>,
    Params(q): Params<ListUsers>,
) -> Result<Json<UserList>, ApiError> {
    let limit = super::page::limit(q.limit, 50)?;
    if q.after.as_ref().is_some_and(|a| a.chars().count() > 254) {
        return Err(ApiError::field("after", "must be at most 254 characters"));
    }
    if q.after
        .as_ref()
        .is_some_and(|a| a.chars().any(char::is_control))
    {
        return Err(ApiError::field(
            "after",
            "must not contain control characters",
        ));
    }
    let users = users::list(&db, limit, q.after.as_deref()).await?;
    let next_after = super::page::next(&users, limit, |u| u.email.clone());
    Ok(Json(UserList { users, next_after }))
}

/// Create a user (admin only).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "the user, created", body = User), (status = 400, description = "invalid body"), (status = 403, description = "not an admin"), (status = 409, description = "e-mail taken")))]
pub(crate) async fn create(
    State(db): State<Database>,
    _: Admin,
    Body(new): Body<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let email = new.email.trim().to_ascii_lowercase();
    check_email(&email)?;
    check_name(&new.name)?;
    let role = new.role.as_deref().unwrap_or("member");
    check_role(role)?;
    match users::create(&db, &email, new.name.trim(), role).await {
        Ok(user) => Ok((StatusCode::CREATED, Json(user))),
        Err(e) if e.is_constraint() => {
            Err(ApiError::Conflict("a user with that e-mail exists".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Get one user.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "the user", body = User), (status = 404, description = "no such user for this tenant")))]
pub(crate) async fn get(State(db): State<Database>, Id(id): Id) -> Result<Json<User>, ApiError> {
    users::get(&db, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Change a user's name or role (admin only).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = UserPatch,
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, description = "the user", body = User), (status = 400, description = "invalid body"), (status = 403, description = "not an admin"), (status = 404, description = "no such user for this tenant")))]
pub(crate) async fn update(
    State(app): State<AppState>,
    _: Admin,
    Id(id): Id,
    Body(patch): Body<UserPatch>,
) -> Result<Json<User>, ApiError> {
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    if let Some(role) = &patch.role {
        check_role(role)?;
    }
    let name = patch.name.as_deref().map(str::trim);
    let updated = users::update(&app.services.db, id, name, patch.role.as_deref()).await?;
    app.forget_member(id);
    updated.map(Json).ok_or(ApiError::NotFound)
}

/// Delete a user (admin only).
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses((status = 204, description = "done; no content"), (status = 403, description = "not an admin"), (status = 404, description = "no such user for this tenant")))]
pub(crate) async fn delete(
    State(app): State<AppState>,
    _: Admin,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    let deleted = users::delete(&app.services.db, id).await?;
    app.forget_member(id);
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
