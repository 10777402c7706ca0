//! Per-tenant sequences: every tenant's orders and invoices count from 1.

use tenantry::data::{DataError, Tx};
use tenantry::params;

const NEXT: &str = "
    INSERT INTO counters (tenant_id, name, value) VALUES (tenantry_current_tenant(), $1, 1)
    ON CONFLICT (tenant_id, name) DO UPDATE SET value = counters.value + 1
    RETURNING value";

/// Takes the next value of the current tenant's sequence `name`, inside `tx`
/// so a rolled-back insert does not burn a number.
pub(crate) async fn next(tx: &mut Tx, name: &str) -> Result<i64, DataError> {
    let row = tx
        .fetch_optional(NEXT, params![name])
        .await?
        .ok_or_else(|| DataError::Database("counter upsert returned no row".into()))?;
    row.get(0)
}
