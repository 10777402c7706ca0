//! [`PgWarmPool`]: the warm pool in the `tenantry` schema.

use super::WarmPool;
use crate::context::{TenantId, Tier};
use crate::data::DataError;
use crate::data::postgres::{PgDatabase, db_error};
use crate::registry::BoxFuture;

/// The warm pool on PostgreSQL.
#[derive(Clone)]
pub struct PgWarmPool {
    db: PgDatabase,
}

impl PgWarmPool {
    /// A pool over `db`'s control plane.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

impl WarmPool for PgWarmPool {
    fn add(&self, id: TenantId, tier: Tier) -> BoxFuture<'_, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .client()
                .await?
                .execute(
                    "INSERT INTO tenantry.warm_targets (id, tier) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[id.as_uuid(), &tier.as_str()],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn claim(&self, tier: Tier) -> BoxFuture<'_, Result<Option<TenantId>, DataError>> {
        Box::pin(async move {
            // SKIP LOCKED: concurrent sign-ups take different ids, never wait.
            let row = self
                .db
                .client()
                .await?
                .query_opt(
                    "DELETE FROM tenantry.warm_targets WHERE id = \
                         (SELECT id FROM tenantry.warm_targets WHERE tier = $1 \
                           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id",
                    &[&tier.as_str()],
                )
                .await
                .map_err(db_error)?;
            Ok(row.map(|r| TenantId::from_uuid(r.get::<_, uuid::Uuid>(0))))
        })
    }

    fn ready(&self, tier: Tier) -> BoxFuture<'_, Result<u64, DataError>> {
        Box::pin(async move {
            let n: i64 = self
                .db
                .client()
                .await?
                .query_one(
                    "SELECT count(*) FROM tenantry.warm_targets WHERE tier = $1",
                    &[&tier.as_str()],
                )
                .await
                .map_err(db_error)?
                .get(0);
            Ok(n.unsigned_abs())
        })
    }
}
