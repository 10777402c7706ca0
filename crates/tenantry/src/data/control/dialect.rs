//! The few places the control plane's SQL differs between backends.
//!
//! Control-plane statements are written once, in PostgreSQL's spelling,
//! and run as written there. On SQLite a statement is rewritten once (the
//! result is kept for the life of the process, keyed by the statement's
//! address: statements are `'static` text, so the set is bounded by the
//! program's own SQL) with these fragments:
//!
//! | written (PostgreSQL) | on SQLite | why |
//! |---|---|---|
//! | `tenantry.` (schema) | nothing | the control plane is its own file |
//! | `now()` | Unix milliseconds, as an integer | SQLite has no time type; control files keep times as milliseconds |
//! | `interval '1 millisecond'` | `1` | so `now() - $1 * interval '1 millisecond'` is arithmetic on milliseconds there |
//! | `FOR UPDATE SKIP LOCKED`, `FOR UPDATE` | nothing | one writer at a time already serialises the file |
//!
//! Everything else is the common ground of both: `$n` placeholders,
//! `CAST(… AS …)` (never `::`), `ON CONFLICT … DO UPDATE`, `RETURNING`,
//! `string_agg(… ORDER BY …)`, `IS DISTINCT FROM`, `CASE`, `coalesce`.
//! A statement that needs more than this table is written per backend
//! beside the store that runs it.

#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// The replacements made for SQLite, longest first where one contains another.
const SQLITE: &[(&str, &str)] = &[
    ("tenantry.", ""),
    ("now()", "CAST(unixepoch('subsec') * 1000 AS INTEGER)"),
    ("interval '1 millisecond'", "1"),
    (" FOR UPDATE SKIP LOCKED", ""),
    (" FOR UPDATE", ""),
];

static REWRITTEN: LazyLock<Mutex<HashMap<(usize, usize), &'static str>>> =
    LazyLock::new(Mutex::default);

/// `sql` as SQLite runs it (see the module docs).
pub(crate) fn for_sqlite(sql: &'static str) -> &'static str {
    let key = (sql.as_ptr() as usize, sql.len());
    let mut cache = REWRITTEN.lock().unwrap_or_else(|p| p.into_inner());
    cache.entry(key).or_insert_with(|| {
        let mut text = sql.to_owned();
        for (from, to) in SQLITE {
            text = text.replace(from, to);
        }
        // Bounded by the program's own statements (see the module docs).
        Box::leak(text.into_boxed_str())
    })
}

#[cfg(test)]
mod tests {
    use super::for_sqlite;

    #[test]
    fn postgres_spelling_becomes_sqlite_spelling() {
        assert_eq!(
            for_sqlite(
                "SELECT id FROM tenantry.jobs WHERE run_at <= now() - $1 * interval '1 millisecond' FOR UPDATE SKIP LOCKED"
            ),
            "SELECT id FROM jobs WHERE run_at <= CAST(unixepoch('subsec') * 1000 AS INTEGER) - $1 * 1"
        );
    }

    #[test]
    fn a_statement_is_rewritten_once() {
        const SQL: &str = "UPDATE tenantry.tenants SET updated_at = now()";
        assert!(std::ptr::eq(for_sqlite(SQL), for_sqlite(SQL)));
    }
}
