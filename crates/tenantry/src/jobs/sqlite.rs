//! [`SqliteQueue`]: the job queue in the embedded control database.
//!
//! The same scheduler as [`PgQueue`](super::PgQueue) — stride passes per
//! tenant and lane, caps, rates, backlogs, leases — in SQLite's dialect.
//! SQLite has one writer at a time, so each operation is an `IMMEDIATE`
//! transaction of a few statements: no claim can interleave with another,
//! which is what `SKIP LOCKED` buys on PostgreSQL. Wake-ups are in-process
//! (the embedded default is one process).

use crate::jobs::JobFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Job, JobEnvelope, JobError, JobQueue, Lane, STRIDE, Wakeups, millis, visible_tenant};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::sqlite::{SqliteDatabase, sqlite_error};
use crate::plans::QueueWeights;

/// The queue on SQLite.
#[derive(Clone)]
pub struct SqliteQueue {
    db: SqliteDatabase,
    tables: super::stored::QueueTables,
    weights: QueueWeights,
    wakeups: Arc<Wakeups>,
}

/// A tenant joining (or rejoining) a lane's schedule, as in the PostgreSQL
/// queue's `insert_job.sql`: just ahead of the lowest waiting pass.
const COUNT_QUEUED: &str = "
    INSERT INTO job_tenants AS t (owner, lane, pass, queued, weight)
    VALUES (?1, ?2, coalesce((SELECT min(pass) - 1 FROM job_tenants
                              WHERE lane = ?2 AND queued > 0 AND NOT paused), 0), 1, ?3)
    ON CONFLICT (owner, lane) DO UPDATE
        SET pass = CASE WHEN t.queued = 0 AND t.running = 0
                        THEN max(t.pass, excluded.pass) ELSE t.pass END,
            queued = t.queued + 1
    RETURNING queued";

fn storage(e: DataError) -> JobError {
    JobError::Data(e)
}

fn sql(e: rusqlite::Error) -> DataError {
    sqlite_error(e)
}

/// What an enqueue inside a transaction came to.
enum Enqueued {
    Id { id: i64, woke: bool },
    Full(i64),
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    job: &JobEnvelope,
    weight: u16,
    now: i64,
) -> Result<Enqueued, DataError> {
    let owner = job.tenant().to_string();
    let lane = job.lane.as_str();
    if let Some(key) = &job.idempotency_key {
        let earlier: Option<i64> = tx
            .query_row(
                "SELECT id FROM jobs WHERE owner = ?1 AND idempotency_key = ?2",
                params![owner, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        if let Some(id) = earlier {
            return Ok(Enqueued::Id { id, woke: false });
        }
    }
    let backlog: Option<(i64, i64)> = tx
        .query_row(
            "SELECT queued, max_backlog FROM job_tenants WHERE owner = ?1 AND lane = ?2",
            params![owner, lane],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql)?;
    if let Some((queued, max)) = backlog
        && queued >= max
    {
        return Ok(Enqueued::Full(max));
    }
    let id: i64 = tx
        .query_row(
            "INSERT INTO jobs (owner, lane, kind, payload, priority, run_at, idempotency_key, max_attempts, created_at, request_id, trace_parent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
            params![
                owner,
                lane,
                job.kind(),
                job.payload().to_string(),
                job.priority,
                now.saturating_add(millis(job.delay)),
                job.idempotency_key,
                job.max_attempts,
                now,
                job.request_id,
                job.trace_parent,
            ],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let queued: i64 = tx
        .query_row(COUNT_QUEUED, params![owner, lane, weight], |r| r.get(0))
        .map_err(sql)?;
    Ok(Enqueued::Id {
        id,
        woke: queued == 1 && job.delay.is_zero(),
    })
}

/// Moves `(owner, lane)` counters by `queued` and `running`.
fn shift(
    tx: &rusqlite::Transaction<'_>,
    owner: &str,
    lane: &str,
    queued: i64,
    running: i64,
) -> Result<(), DataError> {
    tx.execute(
        "UPDATE job_tenants SET queued = queued + ?3, running = running + ?4
         WHERE owner = ?1 AND lane = ?2",
        params![owner, lane, queued, running],
    )
    .map_err(sql)?;
    Ok(())
}

/// Runs `update` — an `UPDATE … RETURNING owner, lane` that puts one
/// running job back in the queue — and, if it took the job, moves it from
/// running to queued in its tenant's counters.
fn requeue(
    tx: &rusqlite::Transaction<'_>,
    update: &str,
    params: impl rusqlite::Params,
) -> Result<(), DataError> {
    let again: Option<(String, String)> = tx
        .query_row(update, params, |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(sql)?;
    match again {
        Some((owner, lane)) => shift(tx, &owner, &lane, 1, -1),
        None => Ok(()),
    }
}

fn parse_tenant(raw: &str) -> Result<TenantId, DataError> {
    raw.parse()
        .map_err(|_| DataError::Database(format!("job owner {raw:?} is not a tenant id").into()))
}

impl SqliteQueue {
    /// The queue in `db` (the control database, migrated).
    pub fn new(db: SqliteDatabase) -> Self {
        Self {
            tables: super::stored::QueueTables::new(db.clone()),
            db,
            weights: QueueWeights::default(),
            wakeups: Arc::default(),
        }
    }

    /// Gives a tenant first seen in a lane its plan's dispatch weight
    /// (see [`PlanCatalog::queue_weights`](crate::plans::PlanCatalog::queue_weights));
    /// without it every tenant starts at weight 1.
    pub fn with_plan_weights(mut self, weights: QueueWeights) -> Self {
        self.weights = weights;
        self
    }

    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, DataError> + Send + 'static,
    ) -> Result<R, JobError> {
        self.db
            .run_unscoped(move |conn| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql)?;
                let out = work(&tx)?;
                tx.commit().map_err(sql)?;
                Ok(out)
            })
            .await
            .map_err(storage)
    }

    fn wake(&self, lane: Lane) {
        self.wakeups.wake(lane);
    }
}

impl JobQueue for SqliteQueue {
    fn enqueue<'a>(&'a self, job: &'a JobEnvelope) -> JobFuture<'a, i64> {
        Box::pin(async move {
            let owned = job.clone();
            let weight = self.weights.weight(&job.plan);
            match self
                .write(move |tx| insert(tx, &owned, weight, crate::clock::now_ms()))
                .await?
            {
                Enqueued::Id { id, woke } => {
                    if woke {
                        self.wake(job.lane);
                    }
                    Ok(id)
                }
                Enqueued::Full(max) => Err(JobError::BacklogFull {
                    tenant: job.tenant(),
                    lane: job.lane,
                    max,
                }),
            }
        })
    }

    fn claim<'a>(
        &'a self,
        lane: Lane,
        worker: &'a str,
        lease: Duration,
        max: usize,
    ) -> JobFuture<'a, Vec<Job>> {
        let worker = worker.to_owned();
        Box::pin(async move {
            self.write(move |tx| {
                let now = crate::clock::now_ms();
                let pick: Option<(String, Option<i64>, i64)> = tx
                    .query_row(
                        "SELECT owner, rate_interval_ms, cap - running FROM job_tenants t
                         WHERE lane = ?1 AND queued > 0 AND NOT paused AND running < cap
                           AND (rate_interval_ms IS NULL OR tat <= ?2)
                           AND EXISTS (SELECT 1 FROM jobs j WHERE j.owner = t.owner AND j.lane = t.lane
                                       AND j.state = 'queued' AND j.run_at <= ?2)
                         ORDER BY pass, owner LIMIT 1",
                        params![lane.as_str(), now],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(sql)?;
                let Some((owner, rate, room)) = pick else {
                    return Ok(Vec::new());
                };
                let take = if rate.is_some() {
                    1
                } else {
                    room.min(i64::try_from(max.max(1)).unwrap_or(i64::MAX))
                };
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?4, lease_until = ?5
                         WHERE id IN (SELECT id FROM jobs
                                      WHERE owner = ?1 AND lane = ?2 AND state = 'queued' AND run_at <= ?3
                                      ORDER BY priority DESC, id LIMIT ?6)
                         RETURNING id, kind, payload, attempts, max_attempts, priority, request_id, max(0, ?3 - run_at), trace_parent",
                    )
                    .map_err(sql)?;
                let mut claimed = stmt
                    .query_map(
                        params![owner, lane.as_str(), now, worker, now.saturating_add(millis(lease)), take],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, i32>(3)?,
                                r.get::<_, i32>(4)?,
                                r.get::<_, i64>(5)?,
                                r.get::<_, Option<String>>(6)?,
                                r.get::<_, i64>(7)?,
                                r.get::<_, Option<String>>(8)?,
                            ))
                        },
                    )
                    .map_err(sql)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                claimed.sort_by_key(|c| (std::cmp::Reverse(c.5), c.0));
                let n = i64::try_from(claimed.len()).unwrap_or(i64::MAX);
                tx.execute(
                    "UPDATE job_tenants
                     SET pass = pass + ?3 * ?4 / weight, queued = queued - ?3, running = running + ?3,
                         tat = CASE WHEN ?5 IS NULL THEN tat ELSE max(tat, ?6) + ?5 END
                     WHERE owner = ?1 AND lane = ?2",
                    params![owner, lane.as_str(), n, STRIDE, rate, now],
                )
                .map_err(sql)?;
                let tenant = parse_tenant(&owner)?;
                claimed
                    .into_iter()
                    .map(|(id, kind, payload, attempt, max_attempts, _, request_id, waited_ms, trace_parent)| {
                        Ok(Job {
                            id,
                            tenant,
                            lane,
                            kind,
                            // A payload that does not parse is handed over as a
                            // string; the handler's decoding reports it.
                            payload: serde_json::from_str(&payload)
                                .unwrap_or(serde_json::Value::String(payload)),
                            attempt,
                            max_attempts,
                            request_id,
                            trace_parent,
                            waited: Duration::from_millis(u64::try_from(waited_ms).unwrap_or(0)),
                        })
                    })
                    .collect()
            })
            .await
        })
    }

    fn complete<'a>(&'a self, ids: &'a [i64]) -> JobFuture<'a, ()> {
        let ids = ids.to_vec();
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            self.write(move |tx| {
                let mut released: HashMap<(String, String), i64> = HashMap::new();
                for id in ids {
                    let done: Option<(String, String)> = tx
                        .query_row(
                            "DELETE FROM jobs WHERE id = ?1 AND state = 'running' RETURNING owner, lane",
                            [id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()
                        .map_err(sql)?;
                    if let Some(key) = done {
                        *released.entry(key).or_default() += 1;
                    }
                }
                for ((owner, lane), n) in released {
                    shift(tx, &owner, &lane, 0, -n)?;
                }
                Ok(())
            })
            .await
        })
    }

    fn fail<'a>(&'a self, job: &'a Job, error: &'a str, backoff: Duration) -> JobFuture<'a, ()> {
        Box::pin(async move {
            if job.attempt >= job.max_attempts {
                return self.bury(job.id, error).await;
            }
            let (id, error) = (job.id, error.to_owned());
            let run_at = crate::clock::now_ms().saturating_add(millis(backoff));
            self.write(move |tx| {
                requeue(
                    tx,
                    "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,
                         last_error = ?2, run_at = ?3
                     WHERE id = ?1 AND state = 'running' RETURNING owner, lane",
                    params![id, error, run_at],
                )
            })
            .await
        })
    }

    fn defer<'a>(&'a self, job: &'a Job, delay: Duration) -> JobFuture<'a, ()> {
        let id = job.id;
        Box::pin(async move {
            let run_at = crate::clock::now_ms().saturating_add(millis(delay));
            self.write(move |tx| {
                requeue(
                    tx,
                    "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL,
                         attempts = max(attempts - 1, 0), run_at = ?2
                     WHERE id = ?1 AND state = 'running' RETURNING owner, lane",
                    params![id, run_at],
                )
            })
            .await
        })
    }

    fn bury<'a>(&'a self, id: i64, reason: &'a str) -> JobFuture<'a, ()> {
        let reason = reason.to_owned();
        Box::pin(async move {
            self.write(move |tx| {
                let gone: Option<(String, String, String)> = tx
                    .query_row(
                        "INSERT INTO dead_jobs (id, owner, lane, kind, payload, attempts, reason, died_at)
                         SELECT id, owner, lane, kind, payload, attempts, ?2, ?3 FROM jobs WHERE id = ?1
                         RETURNING owner, lane, (SELECT state FROM jobs WHERE id = ?1)",
                        params![id, reason, crate::clock::now_ms()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(sql)?;
                let Some((owner, lane, state)) = gone else {
                    return Ok(());
                };
                tx.execute("DELETE FROM jobs WHERE id = ?1", [id])
                    .map_err(sql)?;
                if state == "running" {
                    shift(tx, &owner, &lane, 0, -1)
                } else {
                    shift(tx, &owner, &lane, -1, 0)
                }
            })
            .await
        })
    }

    fn heartbeat<'a>(&'a self, ids: &'a [i64], lease: Duration) -> JobFuture<'a, ()> {
        let ids = ids.to_vec();
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            self.write(move |tx| {
                let until = crate::clock::now_ms().saturating_add(millis(lease));
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND state = 'running'",
                    )
                    .map_err(sql)?;
                for id in ids {
                    stmt.execute(params![id, until]).map_err(sql)?;
                }
                Ok(())
            })
            .await
        })
    }

    fn reap_expired(&self) -> JobFuture<'_, u64> {
        Box::pin(async move {
            self.write(|tx| {
                let now = crate::clock::now_ms();
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL, run_at = ?1,
                             last_error = 'lease expired (worker lost)'
                         WHERE state = 'running' AND lease_until < ?1 RETURNING owner, lane",
                    )
                    .map_err(sql)?;
                let expired = stmt
                    .query_map([now], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .map_err(sql)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                let mut per_tenant: HashMap<(String, String), i64> = HashMap::new();
                for key in &expired {
                    *per_tenant.entry(key.clone()).or_default() += 1;
                }
                for ((owner, lane), n) in per_tenant {
                    shift(tx, &owner, &lane, n, -n)?;
                }
                Ok(expired.len() as u64)
            })
            .await
        })
    }

    fn set_paused(&self, tenant: TenantId, lane: Lane, paused: bool) -> JobFuture<'_, ()> {
        Box::pin(async move {
            self.tables.set_paused(tenant, lane, paused).await?;
            if !paused {
                self.wake(lane);
            }
            Ok(())
        })
    }

    fn retry_dead(&self, id: i64) -> JobFuture<'_, bool> {
        Box::pin(async move {
            let visible = visible_tenant()?.map(|t| t.to_string());
            let revived = self
                .write(move |tx| {
                    let dead: Option<(String, String, String, String)> = tx
                        .query_row(
                            "DELETE FROM dead_jobs WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)
                             RETURNING owner, lane, kind, payload",
                            params![id, visible],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                        )
                        .optional()
                        .map_err(sql)?;
                    let Some((owner, lane, kind, payload)) = dead else {
                        return Ok(None);
                    };
                    let now = crate::clock::now_ms();
                    tx.execute(
                        "INSERT INTO jobs (id, owner, lane, kind, payload, run_at, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                        params![id, owner, lane, kind, payload, now],
                    )
                    .map_err(sql)?;
                    // Revived at the default weight if the tenant left the lane.
                    tx.query_row(COUNT_QUEUED, params![owner, lane, 1], |r| {
                        r.get::<_, i64>(0)
                    })
                    .map_err(sql)?;
                    Ok(Some(lane))
                })
                .await?;
            if let Some(lane) = revived.as_deref().and_then(|l| l.parse().ok()) {
                self.wake(lane);
            }
            Ok(revived.is_some())
        })
    }

    fn hurry<'a>(&'a self, key: &'a str) -> JobFuture<'a, bool> {
        Box::pin(async move {
            let lane = self.tables.hurry(key).await?;
            if let Some(lane) = lane {
                self.wake(lane);
            }
            Ok(lane.is_some())
        })
    }

    fn enqueue_tick<'a>(
        &'a self,
        schedule: &'a str,
        tick: i64,
        jobs: &'a [JobEnvelope],
    ) -> JobFuture<'a, bool> {
        let (schedule, owned) = (schedule.to_owned(), jobs.to_vec());
        let weights = self.weights.clone();
        Box::pin(async move {
            let recorded = self
                .write(move |tx| {
                    let now = crate::clock::now_ms();
                    let recorded = tx
                        .execute(
                            "INSERT INTO cron_ticks (schedule, tick, jobs, recorded_at)
                             VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                            params![schedule, tick, i64::try_from(owned.len()).unwrap_or(i64::MAX), now],
                        )
                        .map_err(sql)?;
                    if recorded == 0 {
                        return Ok(false);
                    }
                    for job in &owned {
                        if let Enqueued::Full(_) = insert(tx, job, weights.weight(&job.plan), now)? {
                            tracing::warn!(tenant = %job.tenant(), schedule, tick, "backlog full: scheduled job skipped");
                        }
                    }
                    Ok(true)
                })
                .await?;
            if recorded {
                for lane in Lane::ALL {
                    self.wake(lane);
                }
            }
            Ok(recorded)
        })
    }

    super::stored::queue_tables_methods!();

    fn wakeups(&self, lane: Lane) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.wakeups.watch(lane))
    }
}
