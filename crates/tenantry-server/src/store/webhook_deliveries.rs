//! The tenant's webhook delivery log: one row per attempt.

use serde::Serialize;
use tenantry::data::{DataError, Database, FromRow, Row};
use tenantry::params;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Timestamp;

/// One delivery attempt.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Delivery {
    /// Id.
    pub id: Uuid,
    /// The delivery job.
    pub job_id: i64,
    /// Event (`invoice.created`).
    pub event: String,
    /// Where it was sent.
    pub url: String,
    /// Attempt number, from 1.
    pub attempt: i64,
    /// The endpoint's status code, if it answered.
    pub status_code: Option<i64>,
    /// What went wrong, if anything did.
    pub error: Option<String>,
    /// When.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl FromRow for Delivery {
    fn from_row(row: &Row) -> Result<Self, DataError> {
        Ok(Self {
            id: row.get(0)?,
            job_id: row.get(1)?,
            event: row.get(2)?,
            url: row.get(3)?,
            attempt: row.get(4)?,
            status_code: row.get(5)?,
            error: row.get(6)?,
            created_at: Timestamp(row.get(7)?),
        })
    }
}

/// What one attempt came to.
pub(crate) struct Attempt<'a> {
    /// The delivery job.
    pub job_id: i64,
    /// Event.
    pub event: &'a str,
    /// Destination.
    pub url: &'a str,
    /// Attempt number.
    pub attempt: i64,
    /// Status code, if any.
    pub status_code: Option<i64>,
    /// Error, if any.
    pub error: Option<&'a str>,
}

/// Records an attempt for the current tenant.
pub(crate) async fn record(db: &Database, attempt: &Attempt<'_>) -> Result<(), DataError> {
    const SQL: &str = "INSERT INTO webhook_deliveries \
                       (id, tenant_id, job_id, event, url, attempt, status_code, error, created_at) \
                       VALUES ($1, tenantry_current_tenant(), $2, $3, $4, $5, $6, $7, $8)";
    db.tenant()?
        .execute(
            SQL,
            params![
                Uuid::now_v7(),
                attempt.job_id,
                attempt.event,
                attempt.url,
                attempt.attempt,
                attempt.status_code,
                attempt.error,
                Timestamp::now().0
            ],
        )
        .await?;
    Ok(())
}

/// The current tenant's latest 100 attempts, newest first.
pub(crate) async fn list(db: &Database) -> Result<Vec<Delivery>, DataError> {
    // The counters are INTEGER (int4) on PostgreSQL: widened to read as i64.
    const SQL: &str = "SELECT id, job_id, event, url, CAST(attempt AS BIGINT), \
                       CAST(status_code AS BIGINT), error, created_at \
                       FROM webhook_deliveries WHERE tenant_id = tenantry_current_tenant() \
                       ORDER BY created_at DESC, id DESC LIMIT 100";
    db.tenant()?
        .fetch_all(SQL, &[])
        .await?
        .iter()
        .map(Delivery::from_row)
        .collect()
}
