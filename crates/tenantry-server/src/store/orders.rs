//! Orders.

use serde::Serialize;
use tenantry::data::{DataError, Database, FromRow, Row};
use tenantry::params;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Timestamp, counters};

/// An order, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Order {
    /// Id.
    pub id: Uuid,
    /// Number within the tenant, from 1.
    pub number: i64,
    /// Customer name.
    pub customer: String,
    /// Total in cents.
    pub total_cents: i64,
    /// `open`, `paid` or `cancelled`.
    pub status: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl FromRow for Order {
    fn from_row(row: &Row) -> Result<Self, DataError> {
        Ok(Order {
            id: row.get(0)?,
            number: row.get(1)?,
            customer: row.get(2)?,
            total_cents: row.get(3)?,
            status: row.get(4)?,
            created_at: Timestamp(row.get(5)?),
        })
    }
}

/// Fields a client may change.
#[derive(Default, Debug)]
pub(crate) struct OrderChanges {
    /// New customer name.
    pub customer: Option<String>,
    /// New total.
    pub total_cents: Option<i64>,
    /// New status.
    pub status: Option<String>,
}

/// The current tenant's order `id`.
pub(crate) async fn get(db: &Database, id: Uuid) -> Result<Option<Order>, DataError> {
    const SQL: &str = concat!(
        "SELECT id, number, customer, total_cents, status, created_at FROM orders ",
        "WHERE id = $1 AND tenant_id = tenantry_current_tenant()"
    );
    db.tenant()?
        .fetch_optional(SQL, params![id])
        .await?
        .map(|r| Order::from_row(&r))
        .transpose()
}

/// Up to `limit` orders, newest first, numbered below `before` if given.
pub(crate) async fn list(
    db: &Database,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Order>, DataError> {
    const SQL: &str = concat!(
        "SELECT id, number, customer, total_cents, status, created_at FROM orders ",
        "WHERE tenant_id = tenantry_current_tenant() AND number < $2 ORDER BY number DESC LIMIT $1"
    );
    let rows = db
        .tenant()?
        .fetch_all(SQL, params![limit, before.unwrap_or(i64::MAX)])
        .await?;
    rows.iter().map(Order::from_row).collect()
}

/// Creates an open order with the tenant's next number.
pub(crate) async fn create(
    db: &Database,
    customer: String,
    total_cents: i64,
) -> Result<Order, DataError> {
    const SQL: &str = concat!(
        "INSERT INTO orders (id, tenant_id, number, customer, total_cents, status, created_at) ",
        "VALUES ($1, tenantry_current_tenant(), $2, $3, $4, 'open', $5) ",
        "RETURNING id, number, customer, total_cents, status, created_at"
    );
    db.tenant()?
        .transaction(async |tx| {
            let number = counters::next(tx, "orders").await?;
            let params = params![
                Uuid::now_v7(),
                number,
                customer.as_str(),
                total_cents,
                Timestamp::now().0
            ];
            let row = tx.fetch_optional(SQL, params).await?;
            let row = row.ok_or_else(|| DataError::Database("insert returned no row".into()))?;
            Order::from_row(&row)
        })
        .await
}

/// Applies `changes` to order `id`; `None` if the tenant has no such order.
pub(crate) async fn update(
    db: &Database,
    id: Uuid,
    changes: OrderChanges,
) -> Result<Option<Order>, DataError> {
    const SQL: &str = concat!(
        "UPDATE orders SET customer = coalesce($2, customer), total_cents = coalesce($3, total_cents), ",
        "status = coalesce($4, status) WHERE id = $1 AND tenant_id = tenantry_current_tenant() ",
        "RETURNING id, number, customer, total_cents, status, created_at"
    );
    let params = params![id, changes.customer, changes.total_cents, changes.status];
    db.tenant()?
        .fetch_optional(SQL, params)
        .await?
        .map(|r| Order::from_row(&r))
        .transpose()
}

/// Deletes order `id`; `false` if the tenant has no such order. Fails with a
/// constraint error if the order has an invoice.
pub(crate) async fn delete(db: &Database, id: Uuid) -> Result<bool, DataError> {
    const SQL: &str = "DELETE FROM orders WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    Ok(db.tenant()?.execute(SQL, params![id]).await? > 0)
}
