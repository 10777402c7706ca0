//! [`SqlDeletionStore`]: the deletion record and the control-plane purge,
//! one implementation for PostgreSQL and SQLite.

use crate::registry::DataFuture;
use std::time::SystemTime;

use super::{DeletionRecord, DeletionStore, StoreCounts};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::control::{ControlDb, UnixMillis};
use crate::params;

/// Deletion records and control-plane removal in the control plane.
#[derive(Clone)]
pub struct SqlDeletionStore {
    db: ControlDb,
}

impl SqlDeletionStore {
    /// A store over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

/// One control-plane table a tenant owns rows of (by its `owner` column):
/// its name, and the statements that clear and count them.
struct OwnedTable {
    name: &'static str,
    delete: &'static str,
    count: &'static str,
}

macro_rules! owned {
    ($($table:literal),+ $(,)?) => {
        &[$(OwnedTable {
            name: $table,
            delete: concat!("DELETE FROM tenantry.", $table, " WHERE owner = $1"),
            count: concat!("SELECT count(*) FROM tenantry.", $table, " WHERE owner = $1"),
        }),+]
    };
}

/// In an order that deletes children first.
const OWNED_TABLES: &[OwnedTable] = owned![
    "tenant_domains",
    "tenant_settings",
    "tenant_flags",
    "tenant_secrets",
    "tenant_data_keys",
    "jobs",
    "dead_jobs",
    "job_tenants",
];

/// Finished workflows of a tenant being deleted, started before its
/// deletion was asked for, that still carry an input or an error. (The
/// offboarding's own input holds only what the deletion record says; a
/// tenant not being deleted keeps its workflows' inputs as their record.)
macro_rules! unscrubbed {
    () => {
        "owner = $1 AND state NOT IN ('running', 'compensating') \
         AND (CAST(input AS TEXT) <> '{}' OR error IS NOT NULL) \
         AND created_at < (SELECT requested_at FROM tenantry.tenant_deletions WHERE owner = $1)"
    };
}

const SCRUB_STEP_ERRORS: &str = "UPDATE tenantry.workflow_steps SET last_error = NULL \
      WHERE last_error IS NOT NULL AND workflow_id IN \
            (SELECT id FROM tenantry.workflows WHERE owner = $1 \
                AND state NOT IN ('running', 'compensating'))";
const SCRUB_INPUTS: &str = concat!(
    "UPDATE tenantry.workflows SET input = '{}', error = NULL WHERE ",
    unscrubbed!()
);
const COUNT_UNSCRUBBED: &str = concat!(
    "SELECT count(*) FROM tenantry.workflows WHERE ",
    unscrubbed!()
);
const FORGET_NAME: &str = "UPDATE tenantry.tenants SET name = slug WHERE id = $1 AND name <> slug";
const COUNT_NAME: &str = "SELECT count(*) FROM tenantry.tenants WHERE id = $1 AND name <> slug";

impl DeletionStore for SqlDeletionStore {
    fn open<'a>(&'a self, record: &'a DeletionRecord) -> DataFuture<'a, ()> {
        Box::pin(async move {
            let requested_at = UnixMillis(record.requested_at_ms).system_time();
            self.db
                .execute(
                    "INSERT INTO tenantry.tenant_deletions (owner, slug, requested_by, requested_at, removed) \
                     VALUES ($1, $2, $3, $4, '{}') ON CONFLICT (owner) DO NOTHING",
                    params![record.tenant, record.slug.as_str(), record.requested_by.as_str(), requested_at],
                )
                .await?;
            Ok(())
        })
    }

    fn note<'a>(&'a self, tenant: TenantId, store: &'a str, count: u64) -> DataFuture<'a, ()> {
        Box::pin(async move {
            // Read, add if absent, write back — under the row's lock (the
            // file's write lock on SQLite), so two notes never lose one.
            let mut tx = self.db.begin().await?;
            let Some(row) = tx
                .fetch_optional(
                    "SELECT CAST(removed AS TEXT) FROM tenantry.tenant_deletions WHERE owner = $1 FOR UPDATE",
                    params![tenant],
                )
                .await?
            else {
                return Ok(());
            };
            let mut removed = read_counts(&row.get::<String>(0)?)?;
            if removed.contains_key(store) {
                return Ok(());
            }
            removed.insert(store.to_owned(), count);
            let json = serde_json::to_string(&removed).map_err(|e| {
                DataError::Decode(crate::data::DbFailure::new(e.to_string()).with_source(e))
            })?;
            tx.execute(
                "UPDATE tenantry.tenant_deletions SET removed = $2 WHERE owner = $1",
                params![tenant, json],
            )
            .await?;
            tx.commit().await
        })
    }

    fn close(
        &self,
        tenant: TenantId,
        at: SystemTime,
        clear_after: SystemTime,
    ) -> DataFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .execute(
                    "UPDATE tenantry.tenant_deletions \
                        SET finished_at = coalesce(finished_at, $2), \
                            backups_clear_after = coalesce(backups_clear_after, $3) \
                      WHERE owner = $1",
                    params![tenant, at, clear_after],
                )
                .await?;
            Ok(())
        })
    }

    fn get(&self, tenant: TenantId) -> DataFuture<'_, Option<DeletionRecord>> {
        Box::pin(async move {
            let Some(row) = self
                .db
                .fetch_optional(
                    "SELECT slug, requested_by, requested_at, finished_at, backups_clear_after, \
                            CAST(removed AS TEXT) \
                       FROM tenantry.tenant_deletions WHERE owner = $1",
                    params![tenant],
                )
                .await?
            else {
                return Ok(None);
            };
            Ok(Some(DeletionRecord {
                tenant,
                slug: row.get(0)?,
                requested_by: row.get(1)?,
                requested_at_ms: row.get::<UnixMillis>(2)?.0,
                finished_at_ms: row.get::<Option<UnixMillis>>(3)?.map(|t| t.0),
                backups_clear_after_ms: row.get::<Option<UnixMillis>>(4)?.map(|t| t.0),
                removed: read_counts(&row.get::<String>(5)?)?,
            }))
        })
    }

    fn purge(&self, tenant: TenantId) -> DataFuture<'_, StoreCounts> {
        Box::pin(async move {
            let mut tx = self.db.begin().await?;
            let mut removed = StoreCounts::new();
            for table in OWNED_TABLES {
                let n = tx.execute(table.delete, params![tenant]).await?;
                removed.insert(table.name.to_owned(), n);
            }
            tx.execute(SCRUB_STEP_ERRORS, params![tenant]).await?;
            let scrubbed = tx.execute(SCRUB_INPUTS, params![tenant]).await?;
            removed.insert("workflow_inputs".into(), scrubbed);
            let renamed = tx.execute(FORGET_NAME, params![tenant]).await?;
            removed.insert("tenant_name".into(), renamed);
            tx.commit().await?;
            self.db.drop_freed_pages().await?;
            Ok(removed)
        })
    }

    fn residue(&self, tenant: TenantId) -> DataFuture<'_, StoreCounts> {
        Box::pin(async move {
            let counts = OWNED_TABLES.iter().map(|t| (t.name, t.count)).chain([
                ("workflow_inputs", COUNT_UNSCRUBBED),
                ("tenant_name", COUNT_NAME),
            ]);
            let mut found = StoreCounts::new();
            for (name, sql) in counts {
                let n: i64 = self.db.fetch_one(sql, params![tenant]).await?.get(0)?;
                if n > 0 {
                    found.insert(name.to_owned(), n.unsigned_abs());
                }
            }
            Ok(found)
        })
    }
}

fn read_counts(json: &str) -> Result<StoreCounts, DataError> {
    serde_json::from_str(json).map_err(|e| {
        DataError::Decode(
            crate::data::DbFailure::new(format!("deletion record counts: {e}")).with_source(e),
        )
    })
}
