//! [`QueueTables`]: the parts of the job queue that are the same SQL on
//! both backends — tenants' shares, queue statistics, dead letters seen
//! and discarded, hurrying a delayed job, the cron's last tick — written
//! once over the control plane. What differs (enqueue, claim, the state
//! changes a claim's fairness depends on, wake-ups) stays with each
//! backend's queue.

use super::{DeadJob, DeadPage, JobError, Lane, TenantQueueStats, TenantShare};
use super::{require_system, visible_tenant};
use crate::context::TenantId;
use crate::data::control::ControlDb;
use crate::data::{DataError, Row};
use crate::params;

/// The queue's tables on a control plane, for what both queues do alike.
#[derive(Clone)]
pub(crate) struct QueueTables {
    db: ControlDb,
}

fn stats_row(r: &Row) -> Result<TenantQueueStats, DataError> {
    Ok(TenantQueueStats {
        tenant: TenantId::from_uuid(r.get(0)?),
        queued: r.get(1)?,
        running: r.get(2)?,
        paused: r.get(3)?,
        weight: r.get(4)?,
        cap: r.get(5)?,
    })
}

impl QueueTables {
    pub(crate) fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }

    pub(crate) async fn set_share(
        &self,
        tenant: TenantId,
        lane: Lane,
        share: TenantShare,
    ) -> Result<(), JobError> {
        require_system()?;
        self.db
            .execute(
                "INSERT INTO tenantry.job_tenants (owner, lane, weight, cap, rate_interval_ms, max_backlog) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (owner, lane) DO UPDATE \
                 SET weight = excluded.weight, cap = excluded.cap, \
                     rate_interval_ms = excluded.rate_interval_ms, max_backlog = excluded.max_backlog",
                params![
                    tenant,
                    lane.as_str(),
                    i32::from(share.weight.max(1)),
                    i32::from(share.cap.max(1)),
                    share.interval_ms(),
                    i32::try_from(share.max_backlog).unwrap_or(i32::MAX),
                ],
            )
            .await?;
        Ok(())
    }

    /// Pauses or resumes `tenant`'s jobs in `lane` (the caller wakes the
    /// lane's workers on a resume).
    pub(crate) async fn set_paused(
        &self,
        tenant: TenantId,
        lane: Lane,
        paused: bool,
    ) -> Result<(), JobError> {
        require_system()?;
        self.db
            .execute(
                "INSERT INTO tenantry.job_tenants (owner, lane, paused) VALUES ($1, $2, $3) \
                 ON CONFLICT (owner, lane) DO UPDATE SET paused = excluded.paused",
                params![tenant, lane.as_str(), paused],
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn share(
        &self,
        tenant: TenantId,
        lane: Lane,
    ) -> Result<Option<TenantShare>, JobError> {
        require_system()?;
        let row = self
            .db
            .fetch_optional(
                "SELECT weight, cap, rate_interval_ms, max_backlog FROM tenantry.job_tenants \
                  WHERE owner = $1 AND lane = $2",
                params![tenant, lane.as_str()],
            )
            .await?;
        let share = row.map(|r| {
            Ok::<_, DataError>(TenantShare::from_columns(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        });
        Ok(share.transpose()?)
    }

    /// The lane's tenants (only the current one's, outside the system context).
    pub(crate) async fn stats(&self, lane: Lane) -> Result<Vec<TenantQueueStats>, JobError> {
        let visible = visible_tenant()?;
        let rows = self
            .db
            .fetch_all(
                "SELECT owner, queued, running, paused, weight, cap FROM tenantry.job_tenants \
                  WHERE lane = $1 AND (owner = $2 OR $2 IS NULL)",
                params![lane.as_str(), visible],
            )
            .await?;
        let mut stats = rows.iter().map(stats_row).collect::<Result<Vec<_>, _>>()?;
        // By uuid, as PostgreSQL sorts them (SQLite keeps them as text).
        stats.sort_by_key(|s| *s.tenant.as_uuid());
        Ok(stats)
    }

    /// Dead letters, newest first (only the current tenant's, outside the
    /// system context).
    pub(crate) async fn dead_letters(&self, page: DeadPage) -> Result<Vec<DeadJob>, JobError> {
        let visible = visible_tenant()?;
        let rows = self
            .db
            .fetch_all(
                "SELECT id, owner, lane, kind, attempts, reason FROM tenantry.dead_jobs \
                  WHERE (owner = $1 OR $1 IS NULL) AND (id < $2 OR $2 IS NULL) \
                  ORDER BY id DESC LIMIT $3",
                params![visible, page.before, page.sql_limit()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DeadJob {
                    id: r.get(0)?,
                    tenant: r.get::<Option<uuid::Uuid>>(1)?.map(TenantId::from_uuid),
                    lane: r.get::<String>(2)?.parse()?,
                    kind: r.get(3)?,
                    attempts: r.get(4)?,
                    reason: r.get(5)?,
                })
            })
            .collect()
    }

    pub(crate) async fn discard_dead(&self, id: i64) -> Result<bool, JobError> {
        let visible = visible_tenant()?;
        let removed = self
            .db
            .execute(
                "DELETE FROM tenantry.dead_jobs WHERE id = $1 AND (owner = $2 OR $2 IS NULL)",
                params![id, visible],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Makes the current tenant's delayed job `key` due now; its lane, if
    /// there was one to hurry (the caller wakes that lane's workers).
    pub(crate) async fn hurry(&self, key: &str) -> Result<Option<Lane>, JobError> {
        let owner = crate::context::current_tenant_id()?;
        let row = self
            .db
            .fetch_optional(
                "UPDATE tenantry.jobs SET run_at = now() \
                  WHERE owner = $1 AND idempotency_key = $2 AND state = 'queued' AND run_at > now() \
                  RETURNING lane",
                params![owner, key],
            )
            .await?;
        let lane = row.map(|r| r.get::<String>(0)).transpose()?;
        lane.map(|l| l.parse()).transpose()
    }

    pub(crate) async fn last_tick(&self, schedule: &str) -> Result<Option<i64>, JobError> {
        let row = self
            .db
            .fetch_one(
                "SELECT max(tick) FROM tenantry.cron_ticks WHERE schedule = $1",
                params![schedule],
            )
            .await?;
        Ok(row.get(0)?)
    }
}

/// The [`JobQueue`](super::JobQueue) methods both queues answer from their
/// [`QueueTables`] (a field `tables`), written out once.
macro_rules! queue_tables_methods {
    () => {
        fn set_share(
            &self,
            tenant: $crate::context::TenantId,
            lane: $crate::jobs::Lane,
            share: $crate::jobs::TenantShare,
        ) -> $crate::registry::BoxFuture<'_, Result<(), $crate::jobs::JobError>> {
            Box::pin(self.tables.set_share(tenant, lane, share))
        }

        fn share(
            &self,
            tenant: $crate::context::TenantId,
            lane: $crate::jobs::Lane,
        ) -> $crate::registry::BoxFuture<
            '_,
            Result<Option<$crate::jobs::TenantShare>, $crate::jobs::JobError>,
        > {
            Box::pin(self.tables.share(tenant, lane))
        }

        fn stats(
            &self,
            lane: $crate::jobs::Lane,
        ) -> $crate::registry::BoxFuture<
            '_,
            Result<Vec<$crate::jobs::TenantQueueStats>, $crate::jobs::JobError>,
        > {
            Box::pin(self.tables.stats(lane))
        }

        fn dead_letters(
            &self,
            page: $crate::jobs::DeadPage,
        ) -> $crate::registry::BoxFuture<
            '_,
            Result<Vec<$crate::jobs::DeadJob>, $crate::jobs::JobError>,
        > {
            Box::pin(self.tables.dead_letters(page))
        }

        fn discard_dead(
            &self,
            id: i64,
        ) -> $crate::registry::BoxFuture<'_, Result<bool, $crate::jobs::JobError>> {
            Box::pin(self.tables.discard_dead(id))
        }

        fn last_tick<'a>(
            &'a self,
            schedule: &'a str,
        ) -> $crate::registry::BoxFuture<'a, Result<Option<i64>, $crate::jobs::JobError>> {
            Box::pin(self.tables.last_tick(schedule))
        }
    };
}
pub(crate) use queue_tables_methods;
