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
use tokio::io::AsyncWriteExt;

/// One tenant table and its statements.
pub(crate) struct TenantTable {
    /// The table.
    pub(crate) name: &'static str,
    /// A page of rows as JSON objects with their keys, from a key on
    /// (PostgreSQL).
    pg_page: &'static str,
    /// The same on SQLite.
    sqlite_page: &'static str,
    /// The lowest key (where the first page starts).
    first_key: &'static str,
    /// Its rows.
    count: &'static str,
    /// Deletes up to a batch of its rows.
    delete_batch: &'static str,
}

/// Rows deleted per statement (the `LIMIT` in `delete_batch`): short
/// transactions, so the tenants sharing the tables are not held up behind
/// one long delete.
const BATCH: u64 = 1000;

/// Rows read per statement (the `LIMIT` in the pages): an export holds
/// one page in memory, whatever the tenant's size.
const PAGE: usize = 1000;

/// The lowest UUID (the first page of a table keyed by one).
const NIL: &str = "00000000-0000-0000-0000-000000000000";

// A page starts at its key (`>=`, the last row of the page before is
// read again and skipped), so the first page needs no other statement.
macro_rules! table {
    ($name:literal, key: $key:literal as $key_type:literal from $first:expr, sqlite: $lite:literal) => {
        TenantTable {
            name: $name,
            pg_page: concat!(
                "SELECT row_to_json(t)::text, t.",
                $key,
                "::text FROM ",
                $name,
                " t WHERE tenant_id = tenantry_current_tenant() AND t.",
                $key,
                " >= $1::",
                $key_type,
                " ORDER BY t.",
                $key,
                " LIMIT 1000"
            ),
            sqlite_page: concat!(
                "SELECT json_object(",
                $lite,
                "), ",
                $key,
                " FROM ",
                $name,
                " WHERE tenant_id = tenantry_current_tenant() AND ",
                $key,
                " >= $1 ORDER BY ",
                $key,
                " LIMIT 1000"
            ),
            first_key: $first,
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
    table!("webhook_deliveries", key: "id" as "uuid" from NIL, sqlite: "'id', id, 'tenant_id', tenant_id, 'job_id', job_id, 'event', event, 'url', url, 'attempt', attempt, 'status_code', status_code, 'error', error, 'created_at', created_at"),
    table!("invoices", key: "id" as "uuid" from NIL, sqlite: "'id', id, 'tenant_id', tenant_id, 'order_id', order_id, 'number', number, 'amount_cents', amount_cents, 'status', status, 'created_at', created_at, 'paid_at', paid_at"),
    table!("orders", key: "id" as "uuid" from NIL, sqlite: "'id', id, 'tenant_id', tenant_id, 'number', number, 'customer', customer, 'total_cents', total_cents, 'status', status, 'created_at', created_at"),
    table!("users", key: "id" as "uuid" from NIL, sqlite: "'id', id, 'tenant_id', tenant_id, 'email', email, 'name', name, 'role', role, 'created_at', created_at"),
    table!("counters", key: "name" as "text" from "", sqlite: "'tenant_id', tenant_id, 'name', name, 'value', value"),
];

impl TenantTable {
    /// Writes the current tenant's rows to `out`, each as one line of
    /// JSON, a page at a time; how many.
    pub(crate) async fn write_json_lines(
        &self,
        db: &Database,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> Result<usize, ExportError> {
        let sql = match db {
            Database::Postgres(_) => self.pg_page,
            _ => self.sqlite_page,
        };
        let mut from = self.first_key.to_owned();
        let mut last: Option<String> = None;
        let mut written = 0;
        loop {
            let page = db.tenant()?.fetch_all(sql, params![from.clone()]).await?;
            for row in &page {
                let key = row.get::<String>(1)?;
                if last.as_ref() == Some(&key) {
                    continue;
                }
                out.write_all(row.get::<String>(0)?.as_bytes()).await?;
                out.write_all(b"\n").await?;
                written += 1;
                last = Some(key);
            }
            match &last {
                Some(key) if page.len() == PAGE => from = key.clone(),
                _ => return Ok(written),
            }
        }
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

/// Why a table's rows could not be written out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    /// Reading them.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Writing them.
    #[error(transparent)]
    Io(#[from] std::io::Error),
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
