//! The job queue's fairness and throughput on PostgreSQL.
//!
//! ```text
//! cargo run --release -p tenantry --features jobs --example jobs_bench -- postgres://postgres@127.0.0.1:5432/bench_jobs
//! ```
//!
//! The database is dropped and recreated, its control schema migrated.
//!
//! **Fairness.** Tenant N has a backlog of B jobs (10,000, then 100,000,
//! inserted in bulk); tenant Q then enqueues 2 jobs through the API. The
//! bench claims (and completes) jobs one by one until both of Q's ran, and
//! reports how many dispatch slots Q waited — with the fair claim, and with
//! a plain FIFO claim (`ORDER BY id … FOR UPDATE SKIP LOCKED`) over the same
//! table. Repeated 20 times per backlog for p50/p99; at 10 ms a job, a slot
//! is 10 ms of one worker.
//!
//! **Throughput.** No-op jobs through the API — enqueue, claim, complete —
//! with 8 concurrent workers, over 1, 10 and 1,000 tenants.

#![allow(clippy::unwrap_used)] // bench set-up: a failed unwrap is a broken bench

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry::context::{TenantContext, TenantId};
use tenantry::data::postgres::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgDatabase, migrate};
use tenantry::jobs::{JobEnvelope, Lane, PgQueue};

const APP_ROLE: &str = "tenantry_app";
const LEASE: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .expect("usage: jobs_bench POSTGRES_URL");
    let (base, name) = url.rsplit_once('/').unwrap();
    let admin = migrate::connect(&format!("{base}/postgres")).await.unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let mut owner = migrate::connect(&url).await.unwrap();
    migrate::ensure_app_role(&owner, APP_ROLE).await.unwrap();
    migrate::apply(&mut owner, CONTROL_SCHEMA, CONTROL_MIGRATIONS, APP_ROLE)
        .await
        .unwrap();
    let app =
        PgDatabase::connect(&url.replacen("postgres@", &format!("{APP_ROLE}@"), 1), 16).unwrap();
    let queue = PgQueue::new(app);

    for backlog in [10_000, 100_000] {
        let fair = fairness(&owner, &queue, backlog, false).await;
        let fifo = fairness(&owner, &queue, backlog, true).await;
        println!(
            "backlog {backlog:>7}: slots before Q's 1st job p50/p99 fair {}/{}, FIFO {}/{}; before its 2nd fair {}/{}, FIFO {}/{} (p99 at 10 ms a job: fair {} ms, FIFO {} s)",
            fair.0.0,
            fair.0.1,
            fifo.0.0,
            fifo.0.1,
            fair.1.0,
            fair.1.1,
            fifo.1.0,
            fifo.1.1,
            fair.1.1 * 10,
            fifo.1.1 / 100
        );
    }
    for tenants in [1, 10, 1000] {
        owner
            .batch_execute("TRUNCATE tenantry.jobs, tenantry.job_tenants, tenantry.dead_jobs")
            .await
            .unwrap();
        let rate = throughput(&queue, tenants, 20_000).await;
        println!(
            "throughput, {tenants:>4} tenants, 8 workers: {rate:.0} jobs/s (enqueue + claim + complete)"
        );
    }
}

/// Dispatch slots taken before each of Q's two jobs ran — (p50, p99) for
/// the first and for the second — over 20 trials (3 for FIFO).
type Waits = ((usize, usize), (usize, usize));

async fn fairness(
    owner: &tokio_postgres::Client,
    queue: &PgQueue,
    backlog: i64,
    fifo: bool,
) -> Waits {
    owner
        .batch_execute("TRUNCATE tenantry.jobs, tenantry.job_tenants, tenantry.dead_jobs")
        .await
        .unwrap();
    let noisy = TenantId::new_v4();
    owner
        .execute(
            "INSERT INTO tenantry.jobs (owner, lane, kind, payload) SELECT $1, 'batch', 'work', '{}' FROM generate_series(1, $2::bigint)",
            &[noisy.as_uuid(), &backlog],
        )
        .await
        .unwrap();
    owner
        .execute(
            "INSERT INTO tenantry.job_tenants (owner, lane, queued) VALUES ($1, 'batch', $2::bigint::int)",
            &[noisy.as_uuid(), &backlog],
        )
        .await
        .unwrap();
    owner.batch_execute("ANALYZE tenantry.jobs").await.unwrap();
    let (mut firsts, mut seconds) = (Vec::new(), Vec::new());
    let trials = if fifo { 3 } else { 20 };
    for _ in 0..trials {
        let quiet = TenantContext::builder(TenantId::new_v4(), "quiet")
            .build()
            .unwrap();
        for i in 0..2 {
            let job = quiet
                .clone()
                .sync_scope(|| JobEnvelope::new("urgent", &i))
                .unwrap();
            queue.enqueue(&job).await.unwrap();
        }
        let (mut slots, mut seen) = (0, 0);
        while seen < 2 {
            let (id, tenant) = if fifo {
                fifo_claim(owner).await
            } else {
                let job = queue
                    .claim(Lane::Batch, "bench", LEASE)
                    .await
                    .unwrap()
                    .unwrap();
                (job.id, job.tenant)
            };
            if tenant == quiet.tenant_id() {
                seen += 1;
                if seen == 1 {
                    firsts.push(slots);
                } else {
                    seconds.push(slots);
                }
            }
            slots += 1;
            if fifo {
                owner
                    .execute("DELETE FROM tenantry.jobs WHERE id = $1", &[&id])
                    .await
                    .unwrap();
            } else {
                queue.complete(id).await.unwrap();
            }
        }
        if fifo {
            // FIFO served the whole backlog: refill it for the next trial.
            owner
                .execute(
                    "INSERT INTO tenantry.jobs (owner, lane, kind, payload) SELECT $1, 'batch', 'work', '{}' FROM generate_series(1, $2::bigint)",
                    &[noisy.as_uuid(), &backlog],
                )
                .await
                .unwrap();
        }
    }
    let percentiles = |mut waits: Vec<usize>| {
        waits.sort_unstable();
        let p = |q: f64| waits[((waits.len() as f64 - 1.0) * q).round() as usize];
        (p(0.5), p(0.99))
    };
    (percentiles(firsts), percentiles(seconds))
}

/// The plain claim a queue without tenants would do.
async fn fifo_claim(owner: &tokio_postgres::Client) -> (i64, TenantId) {
    let row = owner
        .query_one(
            "UPDATE tenantry.jobs SET state = 'running' WHERE id = (
                 SELECT id FROM tenantry.jobs WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, owner",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), TenantId::from_uuid(row.get(1)))
}

async fn throughput(queue: &PgQueue, tenants: usize, jobs: usize) -> f64 {
    let contexts: Vec<TenantContext> = (0..tenants)
        .map(|_| {
            TenantContext::builder(TenantId::new_v4(), "t")
                .build()
                .unwrap()
        })
        .collect();
    let queue = Arc::new(queue.clone());
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let (queue, contexts) = (queue.clone(), contexts.clone());
        workers.spawn(async move {
            for i in 0..jobs / 8 {
                let ctx = &contexts[(w * 7919 + i) % contexts.len()];
                let job = ctx
                    .clone()
                    .sync_scope(|| JobEnvelope::new("noop", &i))
                    .unwrap();
                queue.enqueue(&job).await.unwrap();
                if let Some(job) = queue.claim(Lane::Batch, "bench", LEASE).await.unwrap() {
                    queue.complete(job.id).await.unwrap();
                }
            }
        });
    }
    workers.join_all().await;
    jobs as f64 / started.elapsed().as_secs_f64()
}
