//! [`SqliteWarmPool`]: the warm pool in `control.db`.

use rusqlite::{OptionalExtension, params};

use super::WarmPool;
use crate::context::{TenantId, Tier};
use crate::data::DataError;
use crate::data::sqlite::{SqliteDatabase, sqlite_error};
use crate::registry::BoxFuture;

/// The warm pool on SQLite.
#[derive(Clone)]
pub struct SqliteWarmPool {
    db: SqliteDatabase,
}

impl SqliteWarmPool {
    /// A pool over the control database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

impl WarmPool for SqliteWarmPool {
    fn add(&self, id: TenantId, tier: Tier) -> BoxFuture<'_, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "INSERT INTO warm_targets (id, tier, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        params![id.to_string(), tier.as_str(), crate::clock::now_ms()],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn claim(&self, tier: Tier) -> BoxFuture<'_, Result<Option<TenantId>, DataError>> {
        Box::pin(async move {
            let id: Option<String> = self
                .db
                .run_unscoped(move |conn| {
                    // One statement: SQLite's writer lock makes it atomic.
                    conn.query_row(
                        "DELETE FROM warm_targets WHERE id = \
                             (SELECT id FROM warm_targets WHERE tier = ?1 ORDER BY created_at LIMIT 1) \
                         RETURNING id",
                        [tier.as_str()],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sqlite_error)
                })
                .await?;
            id.map(|id| {
                id.parse()
                    .map_err(|_| DataError::Database(format!("warm pool id {id:?}").into()))
            })
            .transpose()
        })
    }

    fn ready(&self, tier: Tier) -> BoxFuture<'_, Result<u64, DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.query_row(
                        "SELECT count(*) FROM warm_targets WHERE tier = ?1",
                        [tier.as_str()],
                        |r| r.get::<_, i64>(0),
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(i64::unsigned_abs)
        })
    }
}
