//! [`TableShape`]: a tenant table as the tier copy sees it — its columns,
//! its primary key and the tables it references — read from the database's
//! own catalog, and the statements the copy runs on it, in each backend's
//! dialect.
//!
//! Rows travel as JSON text: PostgreSQL's `row_to_json` and
//! `json_populate_recordset` (typed by the table's own row type), SQLite's
//! `json_object` and `json_extract`. The same migrations made both sides,
//! so a row's JSON is the same text on both, which is what the verify step
//! compares. (A SQLite `BLOB` column would not survive JSON; the tables
//! this copies have none.)

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use crate::data::{DataError, Database};

/// One tenant table (a table with a `tenant_id` column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableShape {
    /// Its name.
    pub name: String,
    /// Its columns, in table order.
    pub columns: Vec<String>,
    /// Its primary key's columns, in key order (the copy's keyset order).
    pub key: Vec<String>,
    /// The tenant tables its foreign keys reference.
    pub parents: Vec<String>,
}

/// The statement that lists the tenant tables of the tier a transaction
/// runs on: name, then columns, key and parents as JSON arrays.
pub(super) fn catalog_sql(db: &Database) -> &'static str {
    match backend(db) {
        Backend::Postgres => {
            "SELECT c.relname::text,
                    (SELECT json_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text,
                    coalesce((SELECT json_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
                       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                      WHERE i.indrelid = c.oid AND i.indisprimary), '[]')::text,
                    coalesce((SELECT json_agg(DISTINCT p.relname::text) FROM pg_constraint k
                       JOIN pg_class p ON p.oid = k.confrelid
                      WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid), '[]')::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
                AND EXISTS (SELECT 1 FROM pg_attribute a
                             WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
              ORDER BY 1"
        }
        Backend::Sqlite => {
            "SELECT m.name,
                    (SELECT json_group_array(name) FROM (SELECT name FROM pragma_table_info(m.name) ORDER BY cid)),
                    (SELECT json_group_array(name) FROM (SELECT name FROM pragma_table_info(m.name) WHERE pk > 0 ORDER BY pk)),
                    (SELECT json_group_array(DISTINCT \"table\") FROM pragma_foreign_key_list(m.name) WHERE \"table\" <> m.name)
               FROM sqlite_master m
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'tenant_id')
              ORDER BY 1"
        }
    }
}

/// Orders `tables` parents first (a table after every table it
/// references), so inserts never miss a referenced row.
pub(super) fn parents_first(mut tables: Vec<TableShape>) -> Result<Vec<TableShape>, DataError> {
    let mut ordered: Vec<TableShape> = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            t.parents.iter().all(|p| {
                ordered.iter().any(|o| &o.name == p) || !tables.iter().any(|t| &t.name == p)
            })
        });
        match ready {
            Some(i) => ordered.push(tables.remove(i)),
            None => {
                let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
                return Err(DataError::config(format!(
                    "tables reference each other in a cycle ({}); the tier copy cannot order them",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    Postgres,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
}

pub(super) fn backend(db: &Database) -> Backend {
    match db {
        #[cfg(feature = "postgres")]
        Database::Postgres(_) => Backend::Postgres,
        #[cfg(feature = "sqlite")]
        Database::Sqlite(_) => Backend::Sqlite,
    }
}

/// Which key bounds a range read has: rows after `$lower` (exclusive),
/// up to `$upper` (inclusive).
#[derive(Clone, Copy)]
pub(super) struct Bounds {
    pub(super) lower: bool,
    pub(super) upper: bool,
}

/// The statements of one table in one dialect. Statements are built once
/// per table and kept for the process's life (the data layer caches
/// statements by their `'static` text), so a table costs a handful of
/// strings however often it is copied.
pub(super) struct TableSql<'a> {
    shape: &'a TableShape,
    backend: Backend,
}

fn intern(sql: String) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&known) = seen.get(sql.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(sql.into_boxed_str());
    seen.insert(leaked);
    leaked
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl<'a> TableSql<'a> {
    pub(super) fn new(shape: &'a TableShape, db: &Database) -> Self {
        Self {
            shape,
            backend: backend(db),
        }
    }

    pub(super) fn shape(&self) -> &TableShape {
        self.shape
    }

    fn table(&self) -> String {
        quote(&self.shape.name)
    }

    fn keys(&self) -> String {
        let keys: Vec<String> = self.shape.key.iter().map(|k| quote(k)).collect();
        keys.join(", ")
    }

    /// The row as JSON text.
    fn row_json(&self) -> String {
        match self.backend {
            Backend::Postgres => "row_to_json(t)::text".to_owned(),
            Backend::Sqlite => {
                let pairs: Vec<String> = self
                    .shape
                    .columns
                    .iter()
                    .map(|c| format!("'{}', t.{}", c.replace('\'', "''"), quote(c)))
                    .collect();
                format!("json_object({})", pairs.join(", "))
            }
        }
    }

    /// The key of the JSON object in parameter `$n`, as a row value.
    fn key_of_param(&self, n: usize) -> String {
        match self.backend {
            Backend::Postgres => format!(
                "(SELECT {} FROM json_populate_record(NULL::{}, ${n}::text::json))",
                self.keys(),
                self.table()
            ),
            Backend::Sqlite => format!("({})", self.extract(&self.shape.key, &format!("${n}"))),
        }
    }

    /// SQLite: `columns` read from the JSON object `json`, comma-separated.
    fn extract(&self, columns: &[String], json: &str) -> String {
        let parts: Vec<String> = columns
            .iter()
            .map(|c| format!("json_extract({json}, '$.\"{}\"')", c.replace('\'', "''")))
            .collect();
        parts.join(", ")
    }

    /// Up to `limit` rows in key order within `bounds` (`$1` the lower
    /// key, then the upper), each as JSON text; `locked` holds the rows
    /// read (PostgreSQL `FOR SHARE`; a SQLite transaction holds the file's
    /// write lock already) until the transaction ends.
    pub(super) fn rows(&self, bounds: Bounds, limit: Option<usize>, locked: bool) -> &'static str {
        let mut sql = format!(
            "SELECT {} FROM {} t WHERE tenant_id = tenantry_current_tenant()",
            self.row_json(),
            self.table()
        );
        let mut param = 1;
        if bounds.lower {
            sql += &format!(" AND ({}) > {}", self.keys(), self.key_of_param(param));
            param += 1;
        }
        if bounds.upper {
            sql += &format!(" AND ({}) <= {}", self.keys(), self.key_of_param(param));
        }
        sql += &format!(" ORDER BY {}", self.keys());
        if let Some(limit) = limit {
            sql += &format!(" LIMIT {limit}");
        }
        if locked && self.backend == Backend::Postgres {
            sql += " FOR SHARE OF t";
        }
        intern(sql)
    }

    /// The row with the highest key, as JSON text (where a copy resumes).
    pub(super) fn last_row(&self) -> &'static str {
        let desc: Vec<String> = self
            .shape
            .key
            .iter()
            .map(|k| format!("{} DESC", quote(k)))
            .collect();
        intern(format!(
            "SELECT {} FROM {} t WHERE tenant_id = tenantry_current_tenant() ORDER BY {} LIMIT 1",
            self.row_json(),
            self.table(),
            desc.join(", ")
        ))
    }

    /// Inserts the rows of the JSON array `$1`; with `replace`, a row
    /// whose key is there already is overwritten, else it is kept.
    pub(super) fn insert(&self, replace: bool) -> &'static str {
        let columns: Vec<String> = self.shape.columns.iter().map(|c| quote(c)).collect();
        let values: Vec<String> = self
            .shape
            .columns
            .iter()
            .filter(|c| !self.shape.key.contains(c))
            .map(|c| format!("{} = excluded.{}", quote(c), quote(c)))
            .collect();
        let on_conflict = if replace && !values.is_empty() {
            format!(
                "ON CONFLICT ({}) DO UPDATE SET {}",
                self.keys(),
                values.join(", ")
            )
        } else {
            "ON CONFLICT DO NOTHING".to_owned()
        };
        intern(match self.backend {
            Backend::Postgres => format!(
                "INSERT INTO {} ({}) SELECT {} FROM json_populate_recordset(NULL::{}, $1::text::json) {on_conflict}",
                self.table(),
                columns.join(", "),
                columns.join(", "),
                self.table()
            ),
            Backend::Sqlite => format!(
                "INSERT INTO {} ({}) SELECT {} FROM json_each($1) WHERE true {on_conflict}",
                self.table(),
                columns.join(", "),
                self.extract(&self.shape.columns, "value")
            ),
        })
    }

    /// Deletes up to `limit` of the tenant's rows.
    pub(super) fn delete_batch(&self, limit: usize) -> &'static str {
        intern(format!(
            "DELETE FROM {t} WHERE tenant_id = tenantry_current_tenant() AND ({k}) IN \
             (SELECT {k} FROM {t} WHERE tenant_id = tenantry_current_tenant() LIMIT {limit})",
            t = self.table(),
            k = self.keys()
        ))
    }

    /// Deletes the rows whose keys are in the JSON array `$1` (of objects
    /// holding at least the key columns).
    pub(super) fn delete(&self) -> &'static str {
        let keys_of_array = match self.backend {
            Backend::Postgres => format!(
                "SELECT {} FROM json_populate_recordset(NULL::{}, $1::text::json)",
                self.keys(),
                self.table()
            ),
            Backend::Sqlite => format!(
                "SELECT {} FROM json_each($1)",
                self.extract(&self.shape.key, "value")
            ),
        };
        intern(format!(
            "DELETE FROM {} WHERE tenant_id = tenantry_current_tenant() AND ({}) IN ({keys_of_array})",
            self.table(),
            self.keys()
        ))
    }
}
