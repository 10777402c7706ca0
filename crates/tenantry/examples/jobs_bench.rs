//! The job queue's fairness and throughput on PostgreSQL.
//!
//! ```text
//! cargo run --release -p tenantry --features jobs,postgres --example jobs_bench -- postgres://postgres@127.0.0.1:5432/bench_jobs [--throughput]
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
//! **Throughput.** No-op jobs end to end — enqueued one per statement by 8
//! producers while two real `Worker`s (32 at once each) claim them in
//! batches, run each in its tenant's context and complete them in batches —
//! over 1, 10 and 1,000 registered tenants.

#![allow(clippy::unwrap_used)] // bench set-up: a failed unwrap is a broken bench

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use tenantry::context::{self, TenantContext, TenantId};
use tenantry::data::postgres::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgDatabase, migrate};
use tenantry::jobs::{JobEnvelope, JobQueue, Lane, PgQueue, TenantShare, Worker, WorkerOptions};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;

const APP_ROLE: &str = "tenantry_app";
const LEASE: Duration = Duration::from_secs(60);
/// Concurrent enqueuers (requests enqueueing one job each).
const PRODUCERS: usize = 64;
/// Jobs each of the two workers runs at once.
const WORKER_CONCURRENCY: usize = 64;

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
    let app_url = url.replacen("postgres@", &format!("{APP_ROLE}@"), 1);
    let app = PgDatabase::connect(&app_url, 16).unwrap();
    let queue = PgQueue::new(app.clone()).with_wakeups(&app_url).unwrap();

    // `--throughput` skips the fairness runs (FIFO over 100k takes minutes).
    let fairness_runs: &[i64] = if std::env::args().any(|a| a == "--throughput") {
        &[]
    } else {
        &[10_000, 100_000]
    };
    for &backlog in fairness_runs {
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
    // (tenants, per-tenant concurrency cap): the default cap is 4; one
    // tenant alone may use all 64 worker slots; 10 tenants are also run
    // with caps that add up to the slots.
    for (tenants, cap) in [(1, Some(128)), (10, None), (10, Some(13)), (1000, None)] {
        owner
            .batch_execute("TRUNCATE tenantry.jobs, tenantry.job_tenants, tenantry.dead_jobs")
            .await
            .unwrap();
        owner
            .batch_execute("VACUUM ANALYZE tenantry.jobs, tenantry.job_tenants")
            .await
            .unwrap();
        let rate = throughput(&app, &queue, tenants, cap, 40_000).await;
        println!(
            "throughput, {tenants:>4} tenants, cap {}: {rate:.0} jobs/s end to end ({PRODUCERS} concurrent producers enqueueing one job per call; 2 workers x {WORKER_CONCURRENCY} running them in tenant context)",
            cap.unwrap_or(4)
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
                    .claim(Lane::Batch, "bench", LEASE, 1)
                    .await
                    .unwrap()
                    .remove(0);
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
                queue.complete(&[id]).await.unwrap();
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

/// Producers enqueue `jobs` no-op jobs one by one (8 tasks, round-robin
/// over `tenants` registered tenants) while two real [`Worker`]s (32 at
/// once each) claim, run — in the tenant's context, looked up through the
/// registry cache — and complete them. Jobs per second, end to end.
async fn throughput(
    app: &PgDatabase,
    queue: &PgQueue,
    tenants: usize,
    cap: Option<u16>,
    jobs: usize,
) -> f64 {
    let registry = Tenants::new(Arc::new(SqlTenantStore::new(app.clone())));
    let mut contexts = Vec::new();
    for i in 0..tenants {
        let slug = format!("bench-{}-{i}", uuid::Uuid::new_v4().simple());
        let ctx = tenantry_testkit::jobs::create_tenant(&registry, &slug).await;
        if let Some(cap) = cap {
            context::run_as_system(
                "bench",
                queue.set_share(
                    ctx.tenant_id(),
                    Lane::Batch,
                    TenantShare::default().cap(cap),
                ),
            )
            .await
            .unwrap();
        }
        contexts.push(ctx);
    }
    let done = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(tokio::sync::Notify::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let queue: Arc<dyn JobQueue> = Arc::new(queue.clone());
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..2 {
        let mut options = WorkerOptions::new(Lane::Batch, format!("bench-{w}"));
        options.concurrency = WORKER_CONCURRENCY;
        let (done, all_done) = (done.clone(), all_done.clone());
        let worker =
            Worker::new(queue.clone(), registry.clone(), options).handle("noop", move |_job| {
                let (done, all_done) = (done.clone(), all_done.clone());
                async move {
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == jobs {
                        all_done.notify_one();
                    }
                    Ok::<(), String>(())
                }
            });
        let mut stop = stop_rx.clone();
        workers.spawn(worker.run(async move {
            let _ = stop.wait_for(|s| *s).await;
        }));
    }
    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let (queue, contexts) = (queue.clone(), contexts.clone());
        producers.spawn(async move {
            for i in 0..jobs / PRODUCERS {
                let ctx = &contexts[(p * 7919 + i) % contexts.len()];
                let job = ctx
                    .clone()
                    .sync_scope(|| JobEnvelope::new("noop", &i))
                    .unwrap();
                queue.enqueue(&job).await.unwrap();
            }
        });
    }
    producers.join_all().await;
    let enqueued = started.elapsed();
    all_done.notified().await;
    let elapsed = started.elapsed();
    stop_tx.send(true).unwrap();
    workers.join_all().await;
    println!(
        "  ({tenants} tenants: enqueue alone {:.0}/s while workers ran)",
        jobs as f64 / enqueued.as_secs_f64()
    );
    jobs as f64 / elapsed.as_secs_f64()
}
