//! Users of a tenant (the app's own accounts; authentication is the token's job).

use serde::Serialize;
use tenantry::data::{DataError, Database, FromRow, Row};
use tenantry::params;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Timestamp;

/// A user, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct User {
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
pub async fn get(db: &Database, id: Uuid) -> Result<Option<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    db.tenant()?
        .fetch_optional(SQL, params![id])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// Every user of the current tenant, by e-mail.
pub async fn list(db: &Database) -> Result<Vec<User>, DataError> {
    const SQL: &str = "SELECT id, email, name, role, created_at FROM users \
                       WHERE tenant_id = tenantry_current_tenant() ORDER BY email";
    db.tenant()?
        .fetch_all(SQL, &[])
        .await?
        .iter()
        .map(User::from_row)
        .collect()
}

/// Creates a user; a taken e-mail is a constraint error.
pub async fn create(db: &Database, email: &str, name: &str, role: &str) -> Result<User, DataError> {
    const SQL: &str = "INSERT INTO users (id, tenant_id, email, name, role, created_at) \
                       VALUES ($1, tenantry_current_tenant(), $2, $3, $4, $5) \
                       RETURNING id, email, name, role, created_at";
    let params = params![Uuid::now_v7(), email, name, role, Timestamp::now().0];
    let row = db.tenant()?.fetch_optional(SQL, params).await?;
    User::from_row(&row.ok_or_else(|| DataError::Database("insert returned no row".into()))?)
}

/// Changes a user's name and/or role.
pub async fn update(
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
pub async fn delete(db: &Database, id: Uuid) -> Result<bool, DataError> {
    const SQL: &str = "DELETE FROM users WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    Ok(db.tenant()?.execute(SQL, params![id]).await? > 0)
}
