//! [`SqlWarmPool`]: the warm pool in the control plane, one implementation
//! for PostgreSQL and SQLite.

use super::WarmPool;
use crate::context::{TenantId, Tier};
use crate::data::control::ControlDb;
use crate::params;
use crate::registry::DataFuture;

/// The warm pool's ids in the control plane's `warm_targets` table.
#[derive(Clone)]
pub struct SqlWarmPool {
    db: ControlDb,
}

impl SqlWarmPool {
    /// A pool over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

impl WarmPool for SqlWarmPool {
    fn add(&self, id: TenantId, tier: Tier) -> DataFuture<'_, ()> {
        Box::pin(async move {
            self.db
                .execute(
                    "INSERT INTO tenantry.warm_targets (id, tier, created_at) VALUES ($1, $2, now()) \
                     ON CONFLICT DO NOTHING",
                    params![id, tier.as_str()],
                )
                .await?;
            Ok(())
        })
    }

    fn claim(&self, tier: Tier) -> DataFuture<'_, Option<TenantId>> {
        Box::pin(async move {
            // One statement. PostgreSQL: SKIP LOCKED, so concurrent
            // sign-ups take different ids and never wait; SQLite: the
            // file's one writer makes it atomic.
            let row = self
                .db
                .fetch_optional(
                    "DELETE FROM tenantry.warm_targets WHERE id = \
                         (SELECT id FROM tenantry.warm_targets WHERE tier = $1 \
                           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id",
                    params![tier.as_str()],
                )
                .await?;
            row.map(|r| r.get(0).map(TenantId::from_uuid)).transpose()
        })
    }

    fn ready(&self, tier: Tier) -> DataFuture<'_, u64> {
        Box::pin(async move {
            let n: i64 = self
                .db
                .fetch_one(
                    "SELECT count(*) FROM tenantry.warm_targets WHERE tier = $1",
                    params![tier.as_str()],
                )
                .await?
                .get(0)?;
            Ok(n.unsigned_abs())
        })
    }
}
