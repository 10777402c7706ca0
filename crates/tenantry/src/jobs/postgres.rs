//! [`PgQueue`]: the job queue in PostgreSQL's control schema.
//!
//! **Fairness** is stride scheduling per lane: each tenant has a *pass*; a
//! claim takes a runnable job of the tenant with the lowest pass (that is
//! neither paused nor at its concurrency cap) and advances that tenant's
//! pass by `STRIDE / weight`. A tenant that becomes active starts just
//! ahead of the lowest pass of the tenants already waiting, so a quiet
//! tenant's first job is the next dispatched and its jobs then alternate
//! with the others', however deep their backlogs; over time tenants are
//! served in proportion to their weights.
//!
//! Claims take row locks with `FOR UPDATE SKIP LOCKED`, so workers in any
//! number of processes never take the same job or block each other, and
//! the per-tenant cap counts running jobs across all of them.

use std::time::Duration;

use serde_json::Value;
use tokio_postgres::Row;

use super::{DeadJob, Job, JobEnvelope, JobError, Lane, TenantQueueStats};
use crate::context::TenantId;
use crate::data::postgres::{PgDatabase, db_error_text};

/// Pass advance per claim for weight 1.
const STRIDE: i64 = 1_000_000;

/// The queue's SQL, kept in `.sql` files beside this one.
mod sql {
    pub(super) const INSERT_JOB: &str = include_str!("sql/insert_job.sql");
    pub(super) const COUNT_QUEUED: &str = include_str!("sql/count_queued.sql");
    pub(super) const CLAIM: &str = include_str!("sql/claim.sql");
    pub(super) const COMPLETE: &str = include_str!("sql/complete.sql");
    pub(super) const RETRY: &str = include_str!("sql/retry.sql");
    pub(super) const BURY: &str = include_str!("sql/bury.sql");
    pub(super) const REAP: &str = include_str!("sql/reap.sql");
}

/// The queue on PostgreSQL.
#[derive(Clone)]
pub struct PgQueue {
    db: PgDatabase,
}

fn storage(e: impl std::fmt::Display) -> JobError {
    JobError::Storage(e.to_string())
}

fn pg(e: tokio_postgres::Error) -> JobError {
    JobError::Storage(db_error_text(&e))
}

impl PgQueue {
    /// The queue over `db`'s pool (the control schema, migrated).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    /// Enqueues `job`; returns its id, or the id of the job already queued
    /// with the same idempotency key.
    pub async fn enqueue(&self, job: &JobEnvelope) -> Result<i64, JobError> {
        let mut client = self.db.client().await.map_err(storage)?;
        let delay_ms = i64::try_from(job.delay.as_millis()).unwrap_or(i64::MAX);
        let tx = client.transaction().await.map_err(pg)?;
        let inserted = tx
            .query_opt(
                sql::INSERT_JOB,
                &[
                    job.tenant().as_uuid(),
                    &job.lane.as_str(),
                    &job.kind(),
                    job.payload(),
                    &job.priority,
                    &delay_ms,
                    &job.idempotency_key,
                    &job.max_attempts,
                ],
            )
            .await
            .map_err(pg)?;
        let id = match inserted {
            Some(row) => {
                tx.execute(
                    sql::COUNT_QUEUED,
                    &[job.tenant().as_uuid(), &job.lane.as_str()],
                )
                .await
                .map_err(pg)?;
                row.get(0)
            }
            // Seen before: the first enqueue's job.
            None => tx
                .query_opt(
                    "SELECT id FROM tenantry.jobs WHERE owner = $1 AND idempotency_key = $2",
                    &[job.tenant().as_uuid(), &job.idempotency_key],
                )
                .await
                .map_err(pg)?
                .map(|row| row.get(0))
                // It finished between the two statements: a rare race.
                .ok_or_else(|| {
                    JobError::Storage("the job with this key just finished; retry".into())
                })?,
        };
        tx.commit().await.map_err(pg)?;
        Ok(id)
    }

    /// Claims up to one runnable job in `lane` for `worker`, leased for
    /// `lease`; `None` when no tenant has one.
    pub async fn claim(
        &self,
        lane: Lane,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Job>, JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let rows = client
            .query(sql::CLAIM, &[&lane.as_str(), &lease_ms, &worker, &STRIDE])
            .await
            .map_err(pg)?;
        rows.first().map(job_row).transpose()
    }

    /// Marks job `id` done (it is removed).
    pub async fn complete(&self, id: i64) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        client.execute(sql::COMPLETE, &[&id]).await.map_err(pg)?;
        Ok(())
    }

    /// Records a failed attempt: queued again after `backoff`, or, past its
    /// attempts, moved to the dead letters with `error`.
    pub async fn fail(&self, job: &Job, error: &str, backoff: Duration) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        if job.attempt >= job.max_attempts {
            client
                .execute(sql::BURY, &[&job.id, &error])
                .await
                .map_err(pg)?;
        } else {
            let backoff_ms = i64::try_from(backoff.as_millis()).unwrap_or(i64::MAX);
            client
                .execute(sql::RETRY, &[&job.id, &error, &backoff_ms])
                .await
                .map_err(pg)?;
        }
        Ok(())
    }

    /// Moves job `id` straight to the dead letters (it can never run:
    /// unknown tenant, undecodable payload).
    pub async fn bury(&self, id: i64, reason: &str) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        client
            .execute(sql::BURY, &[&id, &reason])
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Extends job `id`'s lease (a heartbeat from a long job).
    pub async fn heartbeat(&self, id: i64, lease: Duration) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        client
            .execute(
                "UPDATE tenantry.jobs SET lease_until = now() + $2::bigint * interval '1 millisecond'
                 WHERE id = $1 AND state = 'running'",
                &[&id, &lease_ms],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Requeues jobs whose lease ran out (their worker died); returns how many.
    pub async fn reap_expired(&self) -> Result<u64, JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let rows = client.query(sql::REAP, &[]).await.map_err(pg)?;
        Ok(rows.len() as u64)
    }

    /// Pauses or resumes `tenant`'s jobs in `lane` (queued jobs stay queued).
    pub async fn set_paused(
        &self,
        tenant: TenantId,
        lane: Lane,
        paused: bool,
    ) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        client
            .execute(
                "INSERT INTO tenantry.job_tenants (owner, lane, paused) VALUES ($1, $2, $3)
                 ON CONFLICT (owner, lane) DO UPDATE SET paused = excluded.paused",
                &[tenant.as_uuid(), &lane.as_str(), &paused],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Sets `tenant`'s weight (its share of dispatch) and concurrency cap in `lane`.
    pub async fn set_share(
        &self,
        tenant: TenantId,
        lane: Lane,
        weight: u16,
        cap: u16,
    ) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let (weight, cap) = (i32::from(weight.max(1)), i32::from(cap.max(1)));
        client
            .execute(
                "INSERT INTO tenantry.job_tenants (owner, lane, weight, cap) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (owner, lane) DO UPDATE SET weight = excluded.weight, cap = excluded.cap",
                &[tenant.as_uuid(), &lane.as_str(), &weight, &cap],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    /// Queued and running counts per tenant in `lane`.
    pub async fn stats(&self, lane: Lane) -> Result<Vec<TenantQueueStats>, JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let rows = client
            .query(
                "SELECT owner, queued, running, paused FROM tenantry.job_tenants
                 WHERE lane = $1 ORDER BY owner",
                &[&lane.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| TenantQueueStats {
                tenant: TenantId::from_uuid(r.get(0)),
                queued: i64::from(r.get::<_, i32>(1)),
                running: i64::from(r.get::<_, i32>(2)),
                paused: r.get(3),
            })
            .collect())
    }

    /// `tenant`'s dead letters, newest first.
    pub async fn dead_letters(&self, tenant: Option<TenantId>) -> Result<Vec<DeadJob>, JobError> {
        let client = self.db.client().await.map_err(storage)?;
        let rows = client
            .query(
                "SELECT id, owner, kind, attempts, reason FROM tenantry.dead_jobs
                 WHERE $1::uuid IS NULL OR owner = $1 ORDER BY died_at DESC, id DESC",
                &[&tenant.map(|t| *t.as_uuid())],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| DeadJob {
                id: r.get(0),
                tenant: r.get::<_, Option<uuid::Uuid>>(1).map(TenantId::from_uuid),
                kind: r.get(2),
                attempts: r.get(3),
                reason: r.get(4),
            })
            .collect())
    }
}

fn job_row(row: &Row) -> Result<Job, JobError> {
    let lane: String = row.get("lane");
    Ok(Job {
        id: row.get("id"),
        tenant: TenantId::from_uuid(row.get("owner")),
        lane: lane.parse()?,
        kind: row.get("kind"),
        payload: row.get::<_, Value>("payload"),
        attempt: row.get("attempts"),
        max_attempts: row.get("max_attempts"),
    })
}
