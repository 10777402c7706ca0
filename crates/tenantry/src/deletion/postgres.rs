//! [`PgDeletionStore`]: the deletion record and the control-plane purge in
//! the `tenantry` schema.

use std::time::SystemTime;

use super::{DeletionRecord, DeletionStore, OWNED_TABLES, StoreCounts, ms};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::postgres::{PgDatabase, db_error};
use crate::registry::BoxFuture;

/// Deletion records and control-plane removal on PostgreSQL.
#[derive(Clone)]
pub struct PgDeletionStore {
    db: PgDatabase,
}

impl PgDeletionStore {
    /// A store over `db`'s pool (the app role has the control-plane grants).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

/// Finished workflows of a tenant being deleted, started before its
/// deletion was asked for, that still carry an input or an error. (The
/// offboarding's own input holds only what the deletion record says; a
/// tenant not being deleted keeps its workflows' inputs as their record.)
const UNSCRUBBED: &str = "owner = $1 AND state NOT IN ('running', 'compensating') \
     AND (input <> '{}'::jsonb OR error IS NOT NULL) \
     AND created_at < coalesce((SELECT requested_at FROM tenantry.tenant_deletions WHERE owner = $1), '-infinity')";

impl DeletionStore for PgDeletionStore {
    fn open<'a>(&'a self, record: &'a DeletionRecord) -> BoxFuture<'a, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .client()
                .await?
                .execute(
                    "INSERT INTO tenantry.tenant_deletions (owner, slug, requested_by, requested_at) \
                     VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0)) \
                     ON CONFLICT (owner) DO NOTHING",
                    &[
                        record.tenant.as_uuid(),
                        &record.slug,
                        &record.requested_by,
                        &record.requested_at_ms,
                    ],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn note<'a>(
        &'a self,
        tenant: TenantId,
        store: &'a str,
        count: u64,
    ) -> BoxFuture<'a, Result<(), DataError>> {
        Box::pin(async move {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            self.db
                .client()
                .await?
                .execute(
                    "UPDATE tenantry.tenant_deletions \
                        SET removed = jsonb_set(removed, ARRAY[$2::text], to_jsonb($3::bigint)) \
                      WHERE owner = $1 AND NOT removed ? $2",
                    &[tenant.as_uuid(), &store, &count],
                )
                .await
                .map_err(db_error)?;
            Ok(())
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
                .client()
                .await?
                .execute(
                    "UPDATE tenantry.tenant_deletions \
                        SET finished_at = coalesce(finished_at, to_timestamp($2::bigint / 1000.0)), \
                            backups_clear_after = coalesce(backups_clear_after, to_timestamp($3::bigint / 1000.0)) \
                      WHERE owner = $1",
                    &[tenant.as_uuid(), &ms(at), &ms(clear_after)],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn get(&self, tenant: TenantId) -> BoxFuture<'_, Result<Option<DeletionRecord>, DataError>> {
        Box::pin(async move {
            let row = self
                .db
                .client()
                .await?
                .query_opt(
                    "SELECT slug, requested_by, \
                            (extract(epoch FROM requested_at) * 1000)::bigint, \
                            (extract(epoch FROM finished_at) * 1000)::bigint, \
                            (extract(epoch FROM backups_clear_after) * 1000)::bigint, \
                            removed \
                       FROM tenantry.tenant_deletions WHERE owner = $1",
                    &[tenant.as_uuid()],
                )
                .await
                .map_err(db_error)?;
            Ok(row.map(|row| {
                let removed: serde_json::Value = row.get(5);
                DeletionRecord {
                    tenant,
                    slug: row.get(0),
                    requested_by: row.get(1),
                    requested_at_ms: row.get(2),
                    finished_at_ms: row.get(3),
                    backups_clear_after_ms: row.get(4),
                    removed: serde_json::from_value(removed).unwrap_or_default(),
                }
            }))
        })
    }

    fn purge(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoreCounts, DataError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let id = tenant.as_uuid();
            let mut removed = StoreCounts::new();
            for table in OWNED_TABLES {
                let n = client
                    .execute(
                        &format!("DELETE FROM tenantry.{table} WHERE owner = $1"),
                        &[id],
                    )
                    .await
                    .map_err(db_error)?;
                removed.insert((*table).to_owned(), n);
            }
            client
                .execute(
                    "UPDATE tenantry.workflow_steps SET last_error = NULL \
                      WHERE last_error IS NOT NULL AND workflow_id IN \
                            (SELECT id FROM tenantry.workflows WHERE owner = $1 \
                                AND state NOT IN ('running', 'compensating'))",
                    &[id],
                )
                .await
                .map_err(db_error)?;
            let scrubbed = client
                .execute(
                    &format!(
                        "UPDATE tenantry.workflows SET input = '{{}}'::jsonb, error = NULL \
                          WHERE {UNSCRUBBED}"
                    ),
                    &[id],
                )
                .await
                .map_err(db_error)?;
            removed.insert("workflow_inputs".into(), scrubbed);
            let renamed = client
                .execute(
                    "UPDATE tenantry.tenants SET name = slug WHERE id = $1 AND name <> slug",
                    &[id],
                )
                .await
                .map_err(db_error)?;
            removed.insert("tenant_name".into(), renamed);
            Ok(removed)
        })
    }

    fn residue(&self, tenant: TenantId) -> BoxFuture<'_, Result<StoreCounts, DataError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let id = tenant.as_uuid();
            let mut found = StoreCounts::new();
            let mut count = async |name: &str, sql: String| -> Result<(), DataError> {
                let n: i64 = client
                    .query_one(&sql, &[id])
                    .await
                    .map_err(db_error)?
                    .get(0);
                if n > 0 {
                    found.insert(name.to_owned(), n.unsigned_abs());
                }
                Ok(())
            };
            for table in OWNED_TABLES {
                count(
                    table,
                    format!("SELECT count(*) FROM tenantry.{table} WHERE owner = $1"),
                )
                .await?;
            }
            count(
                "workflow_inputs",
                format!("SELECT count(*) FROM tenantry.workflows WHERE {UNSCRUBBED}"),
            )
            .await?;
            count(
                "tenant_name",
                "SELECT count(*) FROM tenantry.tenants WHERE id = $1 AND name <> slug".into(),
            )
            .await?;
            Ok(found)
        })
    }
}
