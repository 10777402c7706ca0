//! The app's tenant tables as one list, for what handles a tenant's data
//! as a whole: the export (every row as JSON), the deletion (every row,
//! in batches) and the residue scan (what is left). A table added to the
//! tenant plane is added here, or offboarding would miss it — the
//! `tenant_tables_are_all_listed` test compares this list with the
//! migrations.
//!
//! Everything runs in the tenant's own scope: on the shared tier RLS (and
//! the `tenant_id` filter) keep each statement to this tenant's rows, so a
//! mistake here cannot reach another tenant.

use tenantry::data::{DataError, Database};
use tenantry::params;

/// One tenant table and its statements.
pub(crate) struct TenantTable {
    /// The table.
    pub(crate) name: &'static str,
    /// Each row as a JSON object (PostgreSQL).
    pg_rows: &'static str,
    /// Each row as a JSON object (SQLite).
    sqlite_rows: &'static str,
    /// Its rows.
    count: &'static str,
    /// Deletes up to a batch of its rows.
    delete_batch: &'static str,
}

/// Rows deleted per statement (the `LIMIT` in `delete_batch`): short
/// transactions, so the tenants sharing the tables are not held up behind
/// one long delete.
const BATCH: u64 = 1000;

macro_rules! table {
    ($name:literal, pg: $pg:literal, sqlite: $lite:literal, key: $key:literal) => {
        TenantTable {
            name: $name,
            pg_rows: concat!(
                "SELECT row_to_json(t)::text FROM ",
                $name,
                " t WHERE tenant_id = tenantry_current_tenant() ORDER BY ",
                $pg
            ),
            sqlite_rows: concat!(
                "SELECT json_object(",
                $lite,
                ") FROM ",
                $name,
                " WHERE tenant_id = tenantry_current_tenant() ORDER BY ",
                $key
            ),
            count: concat!(
                "SELECT COUNT(*) FROM ",
                $name,
                " WHERE tenant_id = tenantry_current_tenant()"
            ),
            delete_batch: concat!(
                "DELETE FROM ",
                $name,
                " WHERE tenant_id = tenantry_current_tenant() AND ",
                $key,
                " IN (SELECT ",
                $key,
                " FROM ",
                $name,
                " WHERE tenant_id = tenantry_current_tenant() LIMIT 1000)"
            ),
        }
    };
}

/// Children before parents (invoices reference orders).
pub(crate) const TABLES: &[TenantTable] = &[
    table!("webhook_deliveries", pg: "id", sqlite: "'id', id, 'tenant_id', tenant_id, 'job_id', job_id, 'event', event, 'url', url, 'attempt', attempt, 'status_code', status_code, 'error', error, 'created_at', created_at", key: "id"),
    table!("invoices", pg: "id", sqlite: "'id', id, 'tenant_id', tenant_id, 'order_id', order_id, 'number', number, 'amount_cents', amount_cents, 'status', status, 'created_at', created_at, 'paid_at', paid_at", key: "id"),
    table!("orders", pg: "id", sqlite: "'id', id, 'tenant_id', tenant_id, 'number', number, 'customer', customer, 'total_cents', total_cents, 'status', status, 'created_at', created_at", key: "id"),
    table!("users", pg: "id", sqlite: "'id', id, 'tenant_id', tenant_id, 'email', email, 'name', name, 'role', role, 'created_at', created_at", key: "id"),
    table!("counters", pg: "name", sqlite: "'tenant_id', tenant_id, 'name', name, 'value', value", key: "name"),
];

impl TenantTable {
    /// The current tenant's rows, each as one line of JSON.
    pub(crate) async fn json_lines(&self, db: &Database) -> Result<Vec<String>, DataError> {
        let sql = match db {
            Database::Postgres(_) => self.pg_rows,
            _ => self.sqlite_rows,
        };
        db.tenant()?
            .fetch_all(sql, params![])
            .await?
            .iter()
            .map(|row| row.get::<String>(0))
            .collect()
    }

    /// How many rows the current tenant has here.
    pub(crate) async fn count(&self, db: &Database) -> Result<u64, DataError> {
        let row = db.tenant()?.fetch_one(self.count, params![]).await?;
        Ok(row.get::<i64>(0)?.unsigned_abs())
    }

    /// Deletes the current tenant's rows, a batch at a time; how many.
    pub(crate) async fn delete_all(&self, db: &Database) -> Result<u64, DataError> {
        let mut deleted = 0;
        loop {
            let n = db.tenant()?.execute(self.delete_batch, params![]).await?;
            deleted += n;
            if n < BATCH {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TABLES;
    use crate::migrations::{PG_APP_MIGRATIONS, SQLITE_APP_MIGRATIONS};

    /// Every table a migration creates, by name.
    fn created(set: &[tenantry::data::Migration]) -> Vec<String> {
        let mut names: Vec<String> = set
            .iter()
            .flat_map(|m| m.sql.split("CREATE TABLE ").skip(1))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(|name| name.trim_matches('(').to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn tenant_tables_are_all_listed() {
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
        listed.sort();
        assert_eq!(created(PG_APP_MIGRATIONS), listed);
        assert_eq!(created(SQLITE_APP_MIGRATIONS), listed);
    }

    #[test]
    fn children_are_deleted_before_their_parents() {
        let at = |name: &str| TABLES.iter().position(|t| t.name == name).unwrap();
        assert!(at("invoices") < at("orders"), "invoices reference orders");
    }
}
