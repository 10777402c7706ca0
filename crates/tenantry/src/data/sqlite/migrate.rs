//! Applying [`Migration`]s to a SQLite file, in one `BEGIN IMMEDIATE`
//! transaction (the write lock serializes concurrent runners).

use crate::data::migration::check_order;
use crate::data::{DataError, Migration, MigrationError};

use super::SqliteDatabase;

/// Applies the pending part of `set` to `db`; returns how many ran.
pub async fn apply(
    db: &SqliteDatabase,
    target: &str,
    set: &'static [Migration],
) -> Result<usize, MigrationError> {
    check_order(set)?;
    let target = target.to_owned();
    let conn_err = |e: DataError| MigrationError::Connection(e);
    db.run_unscoped(move |conn| Ok(apply_blocking(conn, &target, set)))
        .await
        .map_err(conn_err)?
}

fn failure(target: &str, version: i64, name: &str, e: rusqlite::Error) -> MigrationError {
    MigrationError::Failed {
        target: target.to_owned(),
        version,
        name: name.to_owned(),
        message: e.to_string(),
    }
}

fn apply_blocking(
    conn: &mut rusqlite::Connection,
    target: &str,
    set: &[Migration],
) -> Result<usize, MigrationError> {
    let failed = |version, name: &str, e| failure(target, version, name, e);
    // SQLite's procedure for schema changes it has no ALTER for (rebuild
    // the table, drop the old, rename): foreign keys off, so dropping a
    // referenced table does not cascade, and checked before commit. The
    // pragma is a no-op inside a transaction, hence before BEGIN.
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(|e| failed(0, "foreign keys off", e))?;
    let applied = apply_in_transaction(conn, target, set);
    let restored = conn.execute_batch("PRAGMA foreign_keys = ON");
    let ran = applied?;
    restored.map_err(|e| failed(0, "foreign keys on", e))?;
    Ok(ran)
}

fn apply_in_transaction(
    conn: &mut rusqlite::Connection,
    target: &str,
    set: &[Migration],
) -> Result<usize, MigrationError> {
    let failed = |version, name: &str, e| failure(target, version, name, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| failed(0, "begin", e))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS tenantry_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .map_err(|e| failed(0, "version table", e))?;
    let mut ran = 0;
    for migration in set {
        let applied: Option<(String, String)> = tx
            .query_row(
                "SELECT name, checksum FROM tenantry_migrations WHERE version = ?1",
                [migration.version],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| {
                if e == rusqlite::Error::QueryReturnedNoRows {
                    Ok(None)
                } else {
                    Err(e)
                }
            })
            .map_err(|e| failed(migration.version, migration.name, e))?;
        match applied {
            Some((name, checksum)) if checksum != migration.checksum() => {
                return Err(MigrationError::Edited {
                    target: target.to_owned(),
                    version: migration.version,
                    name,
                });
            }
            Some(_) => continue,
            None => {}
        }
        tx.execute_batch(migration.sql)
            .map_err(|e| failed(migration.version, migration.name, e))?;
        tx.execute(
            "INSERT INTO tenantry_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, unixepoch())",
            rusqlite::params![migration.version, migration.name, migration.checksum()],
        )
        .map_err(|e| failed(migration.version, migration.name, e))?;
        ran += 1;
    }
    install_tenant_guards(&tx).map_err(|e| failed(0, "tenant guards", e))?;
    let dangling: Option<String> = tx
        .query_row(
            "SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(|e| failed(0, "foreign key check", e))?;
    if let Some(table) = dangling {
        return Err(failed(
            0,
            "foreign key check",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!("rows of {table} reference rows that are gone")),
            ),
        ));
    }
    tx.commit().map_err(|e| failed(0, "commit", e))?;
    Ok(ran)
}

/// Gives every table with a `tenant_id` column triggers that refuse to
/// insert, update or delete rows outside the current tenant.
///
/// SQLite has no row-level security; this is its stand-in for writes, and
/// installing it here (not in each app migration) means a new table cannot
/// forget it — the way the PostgreSQL audit catches a forgotten `FORCE`.
fn install_tenant_guards(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let tables: Vec<String> = tx
        .prepare(
            "SELECT m.name FROM sqlite_master m
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) WHERE name = 'tenant_id')",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    const REFUSE: &str = "BEGIN SELECT RAISE(ABORT, 'row belongs to another tenant'); END";
    for table in tables {
        let quoted = quote_ident(&table);
        let trigger = |event: &str| quote_ident(&format!("{table}_tenant_{event}"));
        tx.execute_batch(&format!(
            "CREATE TRIGGER IF NOT EXISTS {insert} BEFORE INSERT ON {quoted}
                 WHEN NEW.tenant_id IS NOT tenantry_current_tenant() {REFUSE};
             CREATE TRIGGER IF NOT EXISTS {update} BEFORE UPDATE ON {quoted}
                 WHEN OLD.tenant_id IS NOT tenantry_current_tenant() OR NEW.tenant_id IS NOT OLD.tenant_id {REFUSE};
             CREATE TRIGGER IF NOT EXISTS {delete} BEFORE DELETE ON {quoted}
                 WHEN OLD.tenant_id IS NOT tenantry_current_tenant() {REFUSE};",
            insert = trigger("insert"),
            update = trigger("update"),
            delete = trigger("delete"),
        ))?;
    }
    Ok(())
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
