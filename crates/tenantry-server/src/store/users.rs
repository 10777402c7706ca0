//! Users of a tenant (the app's own accounts; authentication is the token's job).

use serde::Serialize;
use tenantry::data::{DataError, Database, FromRow, Row};
use tenantry::params;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Timestamp;

/// A user, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct User {
    /// Id.
    pub id: Uuid,
    /// E-mail address, unique within the tenant.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin` or `member`.
    pub role: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl FromRow for User {
    fn from_row(row: &Row) -> Result<Self, DataError> {
        Ok(User {
            id: row.get(0)?,
            email: row.get(1)?,
            name: row.get(2)?,
            role: row.get(3)?,
            created_at: Timestamp(row.get(4)?),
        })
    }
}

/// The current tenant's user `id`.
pub(crate) async fn get(db: &Database, id: Uuid) -> Result<Option<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    db.tenant()?
        .fetch_optional(SQL, params![id])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// Up to `limit` users of the current tenant by e-mail, after `after`.
pub(crate) async fn list(
    db: &Database,
    limit: i64,
    after: Option<&str>,
) -> Result<Vec<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE tenant_id = tenantry_current_tenant() AND email > $2 \
                       ORDER BY email LIMIT $1";
    db.tenant()?
        .fetch_all(SQL, params![limit, after.unwrap_or("")])
        .await?
        .iter()
        .map(User::from_row)
        .collect()
}

/// The role of the current tenant's user `id`, if there is one.
pub(crate) async fn role_of(db: &Database, id: Uuid) -> Result<Option<String>, DataError> {
    const SQL: &str =
        "SELECT role FROM users WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    db.tenant()?
        .fetch_optional(SQL, params![id])
        .await?
        .map(|r| r.get(0))
        .transpose()
}

/// Up to `limit` admins of the current tenant, by e-mail.
pub(crate) async fn admins(db: &Database, limit: i64) -> Result<Vec<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE tenant_id = tenantry_current_tenant() AND role = 'admin' \
                       ORDER BY email LIMIT $1";
    db.tenant()?
        .fetch_all(SQL, params![limit])
        .await?
        .iter()
        .map(User::from_row)
        .collect()
}

/// The current tenant's user with e-mail `email`.
/// Whether `email` is an address users may have: at most 254 characters,
/// `local@domain.tld`, no white space or control characters.
pub(crate) fn is_email(email: &str) -> bool {
    email.chars().count() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(crate) async fn by_email(db: &Database, email: &str) -> Result<Option<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE email = $1 AND tenant_id = tenantry_current_tenant()";
    db.tenant()?
        .fetch_optional(SQL, params![email])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// The current tenant's first user with `role`, by e-mail.
pub(crate) async fn first_with_role(db: &Database, role: &str) -> Result<Option<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE role = $1 AND tenant_id = tenantry_current_tenant() \
                       ORDER BY email LIMIT 1";
    db.tenant()?
        .fetch_optional(SQL, params![role])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// Creates a user; a taken e-mail is a constraint error.
pub(crate) async fn create(
    db: &Database,
    email: &str,
    name: &str,
    role: &str,
) -> Result<User, DataError> {
    insert(db, Uuid::now_v7(), email, name, role).await
}

/// Creates a user with a chosen id (the demo's, which tests can derive).
pub(crate) async fn insert(
    db: &Database,
    id: Uuid,
    email: &str,
    name: &str,
    role: &str,
) -> Result<User, DataError> {
    const SQL: &str = "INSERT INTO users (id, tenant_id, email, name, role, created_at) \
                       VALUES ($1, tenantry_current_tenant(), $2, $3, $4, $5) \
                       RETURNING id, email, name, role, created_at";
    let params = params![id, email, name, role, Timestamp::now().0];
    let row = db.tenant()?.fetch_optional(SQL, params).await?;
    User::from_row(&row.ok_or_else(|| DataError::Database("insert returned no row".into()))?)
}

/// Changes a user's name and/or role.
pub(crate) async fn update(
    db: &Database,
    id: Uuid,
    name: Option<&str>,
    role: Option<&str>,
) -> Result<Option<User>, DataError> {
    const SQL: &str = "UPDATE users SET name = coalesce($2, name), role = coalesce($3, role) \
                       WHERE id = $1 AND tenant_id = tenantry_current_tenant() \
                       RETURNING id, email, name, role, created_at";
    db.tenant()?
        .fetch_optional(SQL, params![id, name, role])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// Deletes user `id`; `false` if the tenant has no such user.
pub(crate) async fn delete(db: &Database, id: Uuid) -> Result<bool, DataError> {
    const SQL: &str = "DELETE FROM users WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    Ok(db.tenant()?.execute(SQL, params![id]).await? > 0)
}
