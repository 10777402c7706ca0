//! [`SqliteDeletionStore`]: the deletion record and the control-plane
//! purge in `control.db`.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::{DeletionRecord, DeletionStore, OWNED_TABLES, StoreCounts, ms};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::sqlite::{SqliteDatabase, sqlite_error};
use crate::registry::BoxFuture;

/// Deletion records and control-plane removal on SQLite.
#[derive(Clone)]
pub struct SqliteDeletionStore {
    db: SqliteDatabase,
}

impl SqliteDeletionStore {
    /// A store over the control database (migrated with the control set).
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

/// Finished workflows of a tenant being deleted, started before its
/// deletion was asked for, that still carry an input or an error. (The
/// offboarding's own input holds only what the deletion record says; a
/// tenant not being deleted keeps its workflows' inputs as their record.)
const UNSCRUBBED: &str = "owner = ?1 AND state NOT IN ('running', 'compensating') \
     AND (input <> '{}' OR error IS NOT NULL) \
     AND created_at < coalesce((SELECT requested_at FROM tenant_deletions WHERE owner = ?1), -9223372036854775808)";

impl DeletionStore for SqliteDeletionStore {
    fn open<'a>(&'a self, record: &'a DeletionRecord) -> BoxFuture<'a, Result<(), DataError>> {
        let record = record.clone();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "INSERT INTO tenant_deletions (owner, slug, requested_by, requested_at) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner) DO NOTHING",
                        params![
                            record.tenant.to_string(),
                            record.slug,
                            record.requested_by,
                            record.requested_at_ms
                        ],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn note<'a>(
        &'a self,
        tenant: TenantId,
        store: &'a str,
        count: u64,
    ) -> BoxFuture<'a, Result<(), DataError>> {
        let path = format!("$.\"{store}\"");
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "UPDATE tenant_deletions SET removed = json_set(removed, ?2, ?3) \
                          WHERE owner = ?1 AND json_extract(removed, ?2) IS NULL",
                        params![tenant.to_string(), path, count],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn close(
        &self,
        tenant: TenantId,
        at: SystemTime,
        clear_after: SystemTime,
    ) -> BoxFuture<'_, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "UPDATE tenant_deletions \
                            SET finished_at = coalesce(finished_at, ?2), \
                                backups_clear_after = coalesce(backups_clear_after, ?3) \
                          WHERE owner = ?1",
                        params![tenant.to_string(), ms(at), ms(clear_after)],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn get(&self, tenant: TenantId) -> BoxFuture<'_, Result<Option<DeletionRecord>, DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.query_row(
                        "SELECT slug, requested_by, requested_at, finished_at, backups_clear_after, removed \
                           FROM tenant_deletions WHERE owner = ?1",
                        [tenant.to_string()],
                        |row| {
                            let removed: String = row.get(5)?;
                            Ok(DeletionRecord {
                                tenant,
                                slug: row.get(0)?,
                                requested_by: row.get(1)?,
                                requested_at_ms: row.get(2)?,
                                finished_at_ms: row.get(3)?,
                                backups_clear_after_ms: row.get(4)?,
                                removed: serde_json::from_str(&removed).unwrap_or_default(),
                            })
                        },
                    )
                    .optional()
                    .map_err(sqlite_error)
                })
                .await
        })
    }

    fn purge(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoreCounts, DataError>> {
        Box::pin(async move {
            let removed = self
                .db
                .run_unscoped(move |conn| {
                    let owner = tenant.to_string();
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(sqlite_error)?;
                    let mut removed = StoreCounts::new();
                    for table in OWNED_TABLES {
                        let n = tx
                            .execute(&format!("DELETE FROM {table} WHERE owner = ?1"), [&owner])
                            .map_err(sqlite_error)?;
                        removed.insert((*table).to_owned(), n as u64);
                    }
                    tx.execute(
                        "UPDATE workflow_steps SET last_error = NULL \
                          WHERE last_error IS NOT NULL AND workflow_id IN \
                                (SELECT id FROM workflows WHERE owner = ?1 \
                                    AND state NOT IN ('running', 'compensating'))",
                        [&owner],
                    )
                    .map_err(sqlite_error)?;
                    let scrubbed = tx
                        .execute(
                            &format!("UPDATE workflows SET input = '{{}}', error = NULL WHERE {UNSCRUBBED}"),
                            [&owner],
                        )
                        .map_err(sqlite_error)?;
                    removed.insert("workflow_inputs".into(), scrubbed as u64);
                    let renamed = tx
                        .execute(
                            "UPDATE tenants SET name = slug WHERE id = ?1 AND name <> slug",
                            [&owner],
                        )
                        .map_err(sqlite_error)?;
                    removed.insert("tenant_name".into(), renamed as u64);
                    tx.commit().map_err(sqlite_error)?;
                    Ok(removed)
                })
                .await?;
            // The deleted rows' old pages may still sit in the log.
            self.db.truncate_wal().await?;
            Ok(removed)
        })
    }

    fn residue(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoreCounts, DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    let owner = tenant.to_string();
                    let mut found = StoreCounts::new();
                    let mut count = |name: &str, sql: &str| -> Result<(), DataError> {
                        let n: i64 = conn
                            .query_row(sql, [&owner], |r| r.get(0))
                            .map_err(sqlite_error)?;
                        if n > 0 {
                            found.insert(name.to_owned(), n.unsigned_abs());
                        }
                        Ok(())
                    };
                    for table in OWNED_TABLES {
                        count(
                            table,
                            &format!("SELECT count(*) FROM {table} WHERE owner = ?1"),
                        )?;
                    }
                    count(
                        "workflow_inputs",
                        &format!("SELECT count(*) FROM workflows WHERE {UNSCRUBBED}"),
                    )?;
                    count(
                        "tenant_name",
                        "SELECT count(*) FROM tenants WHERE id = ?1 AND name <> slug",
                    )?;
                    Ok(found)
                })
                .await
        })
    }
}
