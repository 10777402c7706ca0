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
    let conn_err = |e: DataError| MigrationError::Connection(e.to_string());
    db.run_unscoped(move |conn| Ok(apply_blocking(conn, &target, set)))
        .await
        .map_err(conn_err)?
}

fn apply_blocking(
    conn: &mut rusqlite::Connection,
    target: &str,
    set: &[Migration],
) -> Result<usize, MigrationError> {
    let failed = |version: i64, name: &str, e: rusqlite::Error| MigrationError::Failed {
        target: target.to_owned(),
        version,
        name: name.to_owned(),
        message: e.to_string(),
    };
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
    tx.commit().map_err(|e| failed(0, "commit", e))?;
    Ok(ran)
}
