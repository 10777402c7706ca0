//! Invoices, one per order.

use serde::Serialize;
use tenantry::data::{DataError, Database, FromRow, Row};
use tenantry::params;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Timestamp, counters};

/// An invoice, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Invoice {
    /// Id.
    pub id: Uuid,
    /// The invoiced order.
    pub order_id: Uuid,
    /// Number within the tenant, from 1.
    pub number: i64,
    /// Amount in cents (the order's total when invoiced).
    pub amount_cents: i64,
    /// `open` or `paid`.
    pub status: String,
    /// Creation time.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// When it was paid.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<Timestamp>,
}

impl FromRow for Invoice {
    fn from_row(row: &Row) -> Result<Self, DataError> {
        Ok(Invoice {
            id: row.get(0)?,
            order_id: row.get(1)?,
            number: row.get(2)?,
            amount_cents: row.get(3)?,
            status: row.get(4)?,
            created_at: Timestamp(row.get(5)?),
            paid_at: row.get::<Option<std::time::SystemTime>>(6)?.map(Timestamp),
        })
    }
}

/// Why an invoice could not be created or paid.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InvoiceError {
    /// The order is not the current tenant's (or does not exist).
    #[error("order not found")]
    OrderNotFound,
    /// The order already has an invoice.
    #[error("order already invoiced")]
    AlreadyInvoiced,
    /// The invoice is already paid.
    #[error("invoice already paid")]
    AlreadyPaid,
    /// Storage failure.
    #[error(transparent)]
    Data(#[from] DataError),
}

const RETURNING: &str = "id, order_id, number, amount_cents, status, created_at, paid_at";

/// The current tenant's invoice `id`.
pub(crate) async fn get(db: &Database, id: Uuid) -> Result<Option<Invoice>, DataError> {
    const SQL: &str = "SELECT id, order_id, number, amount_cents, status, created_at, paid_at FROM invoices \
                       WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    db.tenant()?
        .fetch_optional(SQL, params![id])
        .await?
        .map(|r| Invoice::from_row(&r))
        .transpose()
}

/// Every invoice of the current tenant, newest first.
pub(crate) async fn list(
    db: &Database,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<Invoice>, DataError> {
    const SQL: &str = "SELECT id, order_id, number, amount_cents, status, created_at, paid_at FROM invoices \
                       WHERE tenant_id = tenantry_current_tenant() AND number < $2 \
                       ORDER BY number DESC LIMIT $1";
    db.tenant()?
        .fetch_all(SQL, params![limit, before.unwrap_or(i64::MAX)])
        .await?
        .iter()
        .map(Invoice::from_row)
        .collect()
}

/// Invoices order `order_id` for its current total.
pub(crate) async fn create_for_order(
    db: &Database,
    order_id: Uuid,
) -> Result<Invoice, InvoiceError> {
    const ORDER: &str =
        "SELECT total_cents FROM orders WHERE id = $1 AND tenant_id = tenantry_current_tenant()";
    const EXISTING: &str =
        "SELECT id FROM invoices WHERE order_id = $1 AND tenant_id = tenantry_current_tenant()";
    const INSERT: &str = "INSERT INTO invoices (id, tenant_id, order_id, number, amount_cents, status, created_at) \
                          VALUES ($1, tenantry_current_tenant(), $2, $3, $4, 'open', $5) \
                          RETURNING id, order_id, number, amount_cents, status, created_at, paid_at";
    debug_assert!(INSERT.ends_with(RETURNING));
    db.tenant()?
        .transaction(async |tx| {
            let order = tx
                .fetch_optional(ORDER, params![order_id])
                .await?
                .ok_or(InvoiceError::OrderNotFound)?;
            let amount: i64 = order.get(0)?;
            if tx
                .fetch_optional(EXISTING, params![order_id])
                .await?
                .is_some()
            {
                return Err(InvoiceError::AlreadyInvoiced);
            }
            let number = counters::next(tx, "invoices").await?;
            let params = params![Uuid::now_v7(), order_id, number, amount, Timestamp::now().0];
            let row = tx.fetch_optional(INSERT, params).await?;
            let row = row.ok_or_else(|| DataError::Database("insert returned no row".into()))?;
            Ok(Invoice::from_row(&row)?)
        })
        .await
}

/// Marks invoice `id` paid; `None` if the tenant has no such invoice.
pub(crate) async fn mark_paid(db: &Database, id: Uuid) -> Result<Option<Invoice>, InvoiceError> {
    const SQL: &str = "UPDATE invoices SET status = 'paid', paid_at = $2 \
                       WHERE id = $1 AND tenant_id = tenantry_current_tenant() AND status = 'open' \
                       RETURNING id, order_id, number, amount_cents, status, created_at, paid_at";
    let paid = db
        .tenant()?
        .fetch_optional(SQL, params![id, Timestamp::now().0])
        .await?;
    match paid {
        Some(row) => Ok(Some(Invoice::from_row(&row)?)),
        None => match get(db, id).await? {
            Some(_) => Err(InvoiceError::AlreadyPaid),
            None => Ok(None),
        },
    }
}

/// Counts and totals of the current tenant's invoices by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct Totals {
    /// Open invoices.
    pub open_count: i64,
    /// What the open invoices add up to, in minor units.
    pub open_cents: i64,
    /// Paid invoices.
    pub paid_count: i64,
    /// What the paid invoices add up to, in minor units.
    pub paid_cents: i64,
}

/// The current tenant's [`Totals`], in one grouped scan.
pub(crate) async fn totals(db: &Database) -> Result<Totals, DataError> {
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast back (SQLite ignores it).
    const SQL: &str = "SELECT status, COUNT(*), CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) \
                       FROM invoices WHERE tenant_id = tenantry_current_tenant() GROUP BY status";
    let mut totals = Totals::default();
    for row in db.tenant()?.fetch_all(SQL, params![]).await? {
        let (status, count, cents): (String, i64, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
        match status.as_str() {
            "open" => (totals.open_count, totals.open_cents) = (count, cents),
            "paid" => (totals.paid_count, totals.paid_cents) = (count, cents),
            _ => {}
        }
    }
    Ok(totals)
}
