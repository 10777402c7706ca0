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
//! the per-tenant cap counts running jobs across all of them. A claim takes
//! up to a batch of the chosen tenant's jobs (as many as its cap leaves room
//! for) and advances its pass once per job, so batching changes throughput,
//! not shares.
//!
//! Every operation is one statement (one round trip), except the cron
//! tick, which records the tick and its jobs in one transaction.
//!
//! **Wake-ups**: an enqueue that gives a tenant its first queued job sends
//! `NOTIFY tenantry_jobs, '<lane>'`; [`PgQueue::with_wakeups`] listens on a
//! connection of its own and wakes idle workers. Workers poll as well, so a
//! lost notification (or a delayed job coming due) costs one poll interval.

use crate::jobs::JobFuture;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use serde_json::Value;
use tokio_postgres::Row;

use super::{Job, JobEnvelope, JobError, JobQueue, Lane, STRIDE, Wakeups, millis, visible_tenant};
use crate::context::TenantId;
use crate::data::postgres::{PgDatabase, Queries};
use crate::plans::QueueWeights;

/// The queue's SQL, kept in `.sql` files beside this one.
mod sql {
    pub(super) const ENQUEUE: &str = include_str!("sql/enqueue.sql");
    pub(super) const CLAIM: &str = include_str!("sql/claim.sql");
    pub(super) const COMPLETE: &str = include_str!("sql/complete.sql");
    pub(super) const RETRY: &str = include_str!("sql/retry.sql");
    pub(super) const DEFER: &str = include_str!("sql/defer.sql");
    pub(super) const BURY: &str = include_str!("sql/bury.sql");
    pub(super) const REAP: &str = include_str!("sql/reap.sql");
    pub(super) const RETRY_DEAD: &str = include_str!("sql/retry_dead.sql");
}

/// The enqueue statement (for the sqlx path, which binds the same arrays).
#[cfg(feature = "sqlx")]
pub(super) fn enqueue_sql() -> &'static str {
    sql::ENQUEUE
}

/// Most jobs written by one enqueue statement.
const MAX_BATCH: usize = 256;
/// Enqueue statements in flight at once.
const FLUSHERS: usize = 4;

/// The queue on PostgreSQL.
#[derive(Clone)]
pub struct PgQueue {
    db: PgDatabase,
    tables: super::stored::QueueTables,
    weights: QueueWeights,
    wakeups: Option<Arc<Wakeups>>,
    batcher: Arc<OnceLock<Batcher>>,
}

type Pending = (JobEnvelope, oneshot::Sender<Result<i64, JobError>>);

/// Concurrent [`JobQueue::enqueue`] calls share statements: each flusher
/// takes every enqueue waiting when it becomes free (up to a batch) and
/// writes them in one statement. One caller alone waits for one statement,
/// as without batching; many callers cost a statement per batch, not per
/// job — how a request-per-job workload reaches thousands of jobs a second.
struct Batcher {
    sender: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    fn start(db: PgDatabase, weights: QueueWeights) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel::<Pending>();
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        for _ in 0..FLUSHERS {
            tokio::spawn(flush_loop(db.clone(), weights.clone(), receiver.clone()));
        }
        Self { sender }
    }
}

async fn flush_loop(
    db: PgDatabase,
    weights: QueueWeights,
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>>,
) {
    loop {
        let mut batch: Vec<Pending> = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return; // every queue handle is gone
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let (jobs, replies): (Vec<JobEnvelope>, Vec<_>) = batch.into_iter().unzip();
        let results = match db.client().await {
            Ok(client) => PgQueue::insert(&client, &jobs, &weights).await,
            Err(e) => Err(storage(e)),
        };
        match results {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(JobError::Batch(e.clone())));
                }
            }
        }
    }
}

fn storage(e: crate::data::DataError) -> JobError {
    JobError::Data(e)
}

fn pg(e: tokio_postgres::Error) -> JobError {
    JobError::Data(crate::data::postgres::db_error(e))
}

impl PgQueue {
    /// The queue over `db`'s pool (the control schema, migrated).
    pub fn new(db: PgDatabase) -> Self {
        Self {
            tables: super::stored::QueueTables::new(db.clone()),
            db,
            weights: QueueWeights::default(),
            wakeups: None,
            batcher: Arc::default(),
        }
    }

    /// Gives a tenant first seen in a lane its plan's dispatch weight
    /// (see [`PlanCatalog::queue_weights`](crate::plans::PlanCatalog::queue_weights));
    /// without it every tenant starts at weight 1. [`JobQueue::set_share`]
    /// overrides it per tenant.
    pub fn with_plan_weights(mut self, weights: QueueWeights) -> Self {
        self.weights = weights;
        self
    }

    /// Also wakes idle workers on `NOTIFY`, listening on a connection of
    /// its own to `url` (reconnected when lost; workers poll meanwhile).
    pub fn with_wakeups(mut self, url: &str) -> Result<Self, JobError> {
        let (config, tls) = crate::data::postgres::parse_url(url)?;
        let wakeups = Arc::new(Wakeups::default());
        tokio::spawn(super::pg_listen::listen(
            config,
            tls,
            Arc::downgrade(&wakeups),
        ));
        self.wakeups = Some(wakeups);
        Ok(self)
    }

    /// Enqueues `job` inside `tx`, a transaction of the current tenant's
    /// from [`PgDatabase::tenant_transaction`]: the job exists if and only
    /// if the transaction commits, so a write and the work it triggers
    /// cannot part (no outbox needed). Workers see the job, and are woken,
    /// at commit.
    ///
    /// The tenant's rows and the queue must share a database: the shared
    /// and schema tiers do; a database-tier tenant's transaction is on its
    /// own database, and is refused with [`JobError::Invalid`].
    pub async fn enqueue_in(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        job: &JobEnvelope,
    ) -> Result<i64, JobError> {
        let ctx = crate::context::require()?;
        Self::check_same_database(&ctx, job, ctx.route().reads())?;
        self.insert_one(tx, job).await
    }

    /// [`Self::enqueue_in`] for a transaction of [`TenantDb::transaction`](crate::data::TenantDb::transaction).
    pub async fn enqueue_in_tx(
        &self,
        tx: &crate::data::Tx,
        job: &JobEnvelope,
    ) -> Result<i64, JobError> {
        let ctx = crate::context::require()?;
        let (client, tier) = tx.pg_client().ok_or_else(|| {
            JobError::Invalid("transactional enqueue needs a PostgreSQL transaction".into())
        })?;
        Self::check_same_database(&ctx, job, tier)?;
        self.insert_one(client, job).await
    }

    /// Runs one statement that changes the queue, on a pooled connection.
    async fn execute(
        &self,
        statement: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), JobError> {
        let client = self.db.client().await.map_err(storage)?;
        client.execute(statement, params).await.map_err(pg)?;
        Ok(())
    }

    #[cfg(feature = "sqlx")]
    pub(super) fn weights(&self) -> &QueueWeights {
        &self.weights
    }

    pub(super) fn check_same_database(
        ctx: &crate::context::TenantContext,
        job: &JobEnvelope,
        tier: crate::context::Tier,
    ) -> Result<(), JobError> {
        if ctx.tenant_id() != job.tenant() {
            // Both come from the context; a job made in another scope is a bug.
            return Err(JobError::Invalid(
                "the job was made for another tenant than this transaction's".into(),
            ));
        }
        if tier == crate::context::Tier::Database {
            return Err(JobError::Invalid(
                "a database-tier tenant's transaction is on its own database, not the queue's: \
                 enqueue after the commit instead"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Writes one job on `client` (a caller's transaction): its id.
    async fn insert_one(&self, client: &impl Queries, job: &JobEnvelope) -> Result<i64, JobError> {
        let mut results = Self::insert(client, std::slice::from_ref(job), &self.weights).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(JobError::Unavailable("the enqueue returned no row")))
    }

    /// Writes `jobs` in one statement: each one's id (or the id of the job
    /// queued earlier under its key), or why it was refused.
    async fn insert(
        client: &impl Queries,
        jobs: &[JobEnvelope],
        weights: &QueueWeights,
    ) -> Result<Vec<Result<i64, JobError>>, JobError> {
        let owners: Vec<uuid::Uuid> = jobs.iter().map(|j| *j.tenant().as_uuid()).collect();
        let lanes: Vec<&str> = jobs.iter().map(|j| j.lane.as_str()).collect();
        let kinds: Vec<&str> = jobs.iter().map(JobEnvelope::kind).collect();
        let payloads: Vec<&Value> = jobs.iter().map(JobEnvelope::payload).collect();
        let priorities: Vec<i16> = jobs.iter().map(|j| j.priority).collect();
        let delays: Vec<i64> = jobs.iter().map(|j| millis(j.delay)).collect();
        let keys: Vec<Option<&str>> = jobs.iter().map(|j| j.idempotency_key.as_deref()).collect();
        let attempts: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();
        let requests: Vec<Option<&str>> = jobs.iter().map(|j| j.request_id.as_deref()).collect();
        let weights: Vec<i32> = jobs
            .iter()
            .map(|j| i32::from(weights.weight(&j.plan)))
            .collect();
        let traces: Vec<Option<&str>> = jobs.iter().map(|j| j.trace_parent.as_deref()).collect();
        let rows = client
            .rows(
                sql::ENQUEUE,
                &[
                    &owners,
                    &lanes,
                    &kinds,
                    &payloads,
                    &priorities,
                    &delays,
                    &keys,
                    &attempts,
                    &requests,
                    &weights,
                    &traces,
                ],
            )
            .await
            .map_err(pg)?;
        Ok(jobs
            .iter()
            .zip(rows)
            .map(|(job, row)| {
                let (id, earlier): (Option<i64>, Option<i64>) = (row.get("id"), row.get("earlier"));
                match (id, earlier) {
                    (Some(id), _) | (None, Some(id)) => Ok(id),
                    (None, None) if !row.get::<_, bool>("ok") => Err(JobError::BacklogFull {
                        tenant: job.tenant(),
                        lane: job.lane,
                        max: i64::from(row.get::<_, i32>("max_backlog")),
                    }),
                    // Another enqueue with this key committed after this statement began.
                    (None, None) => Err(JobError::KeyRace),
                }
            })
            .collect())
    }
}

impl JobQueue for PgQueue {
    fn enqueue<'a>(&'a self, job: &'a JobEnvelope) -> JobFuture<'a, i64> {
        Box::pin(async move {
            let batcher = self
                .batcher
                .get_or_init(|| Batcher::start(self.db.clone(), self.weights.clone()));
            let (reply, result) = oneshot::channel();
            batcher
                .sender
                .send((job.clone(), reply))
                .map_err(|_| JobError::Unavailable("the enqueue batcher stopped"))?;
            result
                .await
                .map_err(|_| JobError::Unavailable("the enqueue batcher stopped"))?
        })
    }

    fn claim<'a>(
        &'a self,
        lane: Lane,
        worker: &'a str,
        lease: Duration,
        max: usize,
    ) -> JobFuture<'a, Vec<Job>> {
        Box::pin(async move {
            let client = self.db.client().await.map_err(storage)?;
            let max = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    sql::CLAIM,
                    &[&lane.as_str(), &millis(lease), &worker, &STRIDE, &max],
                )
                .await
                .map_err(pg)?;
            rows.iter().map(job_row).collect()
        })
    }

    fn complete<'a>(&'a self, ids: &'a [i64]) -> JobFuture<'a, ()> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            self.execute(sql::COMPLETE, &[&ids]).await
        })
    }

    fn fail<'a>(&'a self, job: &'a Job, error: &'a str, backoff: Duration) -> JobFuture<'a, ()> {
        Box::pin(async move {
            if job.attempt >= job.max_attempts {
                self.execute(sql::BURY, &[&job.id, &error]).await
            } else {
                self.execute(sql::RETRY, &[&job.id, &error, &millis(backoff)])
                    .await
            }
        })
    }

    fn defer<'a>(&'a self, job: &'a Job, delay: Duration) -> JobFuture<'a, ()> {
        Box::pin(async move { self.execute(sql::DEFER, &[&job.id, &millis(delay)]).await })
    }

    fn bury<'a>(&'a self, id: i64, reason: &'a str) -> JobFuture<'a, ()> {
        Box::pin(async move { self.execute(sql::BURY, &[&id, &reason]).await })
    }

    fn heartbeat<'a>(&'a self, ids: &'a [i64], lease: Duration) -> JobFuture<'a, ()> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            self.execute(
                "UPDATE tenantry.jobs SET lease_until = now() + $2::bigint * interval '1 millisecond'
                 WHERE id = ANY($1) AND state = 'running'",
                &[&ids, &millis(lease)],
            )
            .await
        })
    }

    fn reap_expired(&self) -> JobFuture<'_, u64> {
        Box::pin(async move {
            let client = self.db.client().await.map_err(storage)?;
            let rows = client.query(sql::REAP, &[]).await.map_err(pg)?;
            Ok(rows.len() as u64)
        })
    }

    fn set_paused(&self, tenant: TenantId, lane: Lane, paused: bool) -> JobFuture<'_, ()> {
        Box::pin(async move {
            self.tables.set_paused(tenant, lane, paused).await?;
            if paused {
                return Ok(());
            }
            self.execute(
                "SELECT pg_notify($1, $2)",
                &[&super::pg_listen::WAKE_CHANNEL, &lane.as_str()],
            )
            .await
        })
    }

    fn retry_dead(&self, id: i64) -> JobFuture<'_, bool> {
        Box::pin(async move {
            let visible = visible_tenant()?.map(|t| *t.as_uuid());
            let client = self.db.client().await.map_err(storage)?;
            let row = client
                .query_one(sql::RETRY_DEAD, &[&id, &visible])
                .await
                .map_err(pg)?;
            Ok(row.get::<_, i64>(0) > 0)
        })
    }

    fn hurry<'a>(&'a self, key: &'a str) -> JobFuture<'a, bool> {
        // Workers poll: the job is taken within a poll interval.
        Box::pin(async move { Ok(self.tables.hurry(key).await?.is_some()) })
    }

    fn enqueue_tick<'a>(
        &'a self,
        schedule: &'a str,
        tick: i64,
        jobs: &'a [JobEnvelope],
    ) -> JobFuture<'a, bool> {
        Box::pin(async move {
            let mut client = self.db.client().await.map_err(storage)?;
            let tx = client.transaction().await.map_err(pg)?;
            let count = i32::try_from(jobs.len()).unwrap_or(i32::MAX);
            let recorded = tx
                .execute(
                    "INSERT INTO tenantry.cron_ticks (schedule, tick, jobs) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&schedule, &tick, &count],
                )
                .await
                .map_err(pg)?;
            if recorded == 0 {
                return Ok(false);
            }
            let inner: &tokio_postgres::Transaction<'_> = &tx;
            for chunk in jobs.chunks(MAX_BATCH) {
                for result in Self::insert(inner, chunk, &self.weights).await? {
                    match result {
                        // A full backlog skips that tenant's run, not everyone's.
                        Err(JobError::BacklogFull { tenant, .. }) => {
                            tracing::warn!(%tenant, schedule, tick, "backlog full: scheduled job skipped");
                        }
                        other => {
                            other?;
                        }
                    }
                }
            }
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
    }

    super::stored::queue_tables_methods!();

    fn wakeups(&self, lane: Lane) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.wakeups.as_ref().map(|w| w.watch(lane))
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
        request_id: row.get("request_id"),
        trace_parent: row.get("trace_parent"),
        waited: Duration::from_millis(u64::try_from(row.get::<_, i64>("waited_ms")).unwrap_or(0)),
    })
}
