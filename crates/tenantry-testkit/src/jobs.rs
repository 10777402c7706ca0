//! The job-queue conformance suite: one set of checks every
//! `tenantry::jobs::JobQueue` backend passes (PostgreSQL, SQLite), run by
//! `tenantry`'s tests against real databases.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed check

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantry::context::{self, Plan, TenantContext, TenantId, Tier};
use tenantry::jobs::{
    Failure, JobEnvelope, JobError, JobQueue, Lane, TenantShare, Worker, WorkerOptions,
};
use tenantry::registry::{NewTenant, TenantState, Tenants};

/// A boxed future, for the fixture's hooks.
pub type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A fresh, empty queue and its registry.
pub struct JobFixture {
    /// The queue under test.
    pub queue: Arc<dyn JobQueue>,
    /// The registry its workers look tenants up in.
    pub tenants: Tenants,
    /// Writes a job row for `tenant` (kind `record`, lane `batch`) straight
    /// into storage, bypassing the envelope: a forged or corrupted row.
    pub forge_row: Arc<dyn Fn(TenantId) -> Hook + Send + Sync>,
    /// Whether the queue wakes idle workers on enqueue.
    pub wakes_workers: bool,
    /// Keeps the backing database alive.
    pub guard: Box<dyn std::any::Any + Send>,
}

const LEASE: Duration = Duration::from_secs(30);

/// A [`JobFixture::forge_row`] for the PostgreSQL queue: writes the row as
/// `owner` (the control schema's owner), past the queue's checks.
pub fn pg_forge_row(
    owner: Arc<tokio_postgres::Client>,
) -> Arc<dyn Fn(TenantId) -> Hook + Send + Sync> {
    Arc::new(move |tenant: TenantId| -> Hook {
        let owner = owner.clone();
        Box::pin(async move {
            owner
                .batch_execute(&format!(
                    "INSERT INTO tenantry.jobs (owner, lane, kind, payload) VALUES ('{tenant}', 'batch', 'record', '{{}}');
                     INSERT INTO tenantry.job_tenants (owner, lane, queued) VALUES ('{tenant}', 'batch', 1);"
                ))
                .await
                .unwrap();
        })
    })
}

/// The plans the conformance suite's queues weigh by: `starter` (weight 1),
/// `team` (2) and `scale` (4) — names no library default knows, so a queue
/// that ignored its configured weights would fail the suite.
pub fn plan_weights() -> tenantry::plans::QueueWeights {
    use tenantry::plans::{Plan, PlanCatalog, PlanSpec};
    let weighing = |queue_weight| PlanSpec {
        queue_weight,
        ..PlanSpec::default()
    };
    PlanCatalog::new(
        STARTER,
        [
            (STARTER, weighing(1)),
            (Plan::from_static("team"), weighing(2)),
            (SCALE, weighing(4)),
        ],
    )
    .expect("the test catalogue holds together")
    .queue_weights()
}

const STARTER: Plan = Plan::from_static("starter");
const SCALE: Plan = Plan::from_static("scale");

/// Registers an active `team` tenant `slug` (shared tier); its context.
pub async fn create_tenant(tenants: &Tenants, slug: &str) -> TenantContext {
    register(tenants, slug, TenantState::Active).await
}

/// Registers a `team` tenant `slug` (shared tier) in `state`; its context.
async fn register(tenants: &Tenants, slug: &str, state: TenantState) -> TenantContext {
    let record = tenants
        .create(NewTenant {
            id: None,
            slug: slug.into(),
            name: slug.into(),
            plan: Plan::from_static("team"),
            tier: Tier::Shared,
            state,
            domains: vec![],
            database_server: None,
        })
        .await
        .unwrap();
    TenantContext::builder(record.id, slug).build().unwrap()
}

impl JobFixture {
    async fn tenant(&self, slug: &str) -> TenantContext {
        create_tenant(&self.tenants, slug).await
    }

    /// A tenant registered as provisioning; its context.
    async fn provisioning_tenant(&self, slug: &str) -> TenantContext {
        register(&self.tenants, slug, TenantState::Provisioning).await
    }

    /// Walks `tenant` through `states`, each an allowed transition.
    async fn walk(&self, tenant: &TenantContext, states: &[TenantState]) {
        for state in states {
            self.tenants
                .set_state(tenant.tenant_id(), *state)
                .await
                .unwrap();
        }
    }

    async fn enqueue(&self, ctx: &TenantContext, kind: &str, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for i in 0..n {
            let job = ctx
                .clone()
                .sync_scope(|| JobEnvelope::new(kind, &i))
                .unwrap();
            ids.push(self.queue.enqueue(&job).await.unwrap());
        }
        ids
    }

    /// Claims (and completes) `n` jobs one at a time; the tenant of each.
    async fn drain(&self, n: usize) -> Vec<TenantId> {
        let mut order = Vec::new();
        for _ in 0..n {
            let jobs = self
                .queue
                .claim(Lane::Batch, "test", LEASE, 1)
                .await
                .unwrap();
            assert_eq!(jobs.len(), 1, "a job was runnable");
            self.queue.complete(&[jobs[0].id]).await.unwrap();
            order.push(jobs[0].tenant);
        }
        order
    }

    async fn as_system<T>(&self, work: impl Future<Output = T>) -> T {
        context::run_as_system("test", work).await
    }
}

/// Runs every check on fixtures made by `fresh` (one per check). Panics on
/// the first failure.
pub async fn conformance<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = JobFixture>,
{
    a_quiet_tenant_is_served_next_despite_a_deep_backlog(fresh().await).await;
    weights_share_dispatch_caps_and_pause_hold(fresh().await).await;
    plans_weigh_dispatch_by_default(fresh().await).await;
    batches_respect_caps_and_priorities(fresh().await).await;
    jobs_run_in_their_tenant_context_and_bad_ones_die_with_a_reason(fresh().await).await;
    lost_jobs_come_back_and_keys_dedupe(fresh().await).await;
    backlogs_and_rates_are_limited_per_tenant(fresh().await).await;
    dead_letters_are_the_tenant_s_own(fresh().await).await;
    a_tick_is_enqueued_once(fresh().await).await;
    workers_run_jobs_concurrently_and_drain_on_shutdown(fresh().await).await;
    jobs_follow_their_tenant_s_state(fresh().await).await;
    cron_fans_out_to_active_tenants_only(fresh().await).await;
    let f = fresh().await;
    if f.wakes_workers {
        an_idle_worker_is_woken_by_an_enqueue(f).await;
    }
}

async fn a_quiet_tenant_is_served_next_despite_a_deep_backlog(f: JobFixture) {
    let (noisy, quiet) = (f.tenant("noisy").await, f.tenant("quiet").await);
    f.enqueue(&noisy, "work", 300).await;
    let served = f.drain(10).await;
    assert!(served.iter().all(|t| *t == noisy.tenant_id()));

    f.enqueue(&quiet, "urgent", 2).await;
    let next = f.drain(4).await;
    let slots: Vec<usize> = next
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == quiet.tenant_id())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(slots.len(), 2, "{next:?}");
    assert_eq!(
        slots[0], 0,
        "the quiet tenant's first job is next: {next:?}"
    );
    assert!(slots[1] <= 2, "its second waited {} slots", slots[1]);
}

async fn weights_share_dispatch_caps_and_pause_hold(f: JobFixture) {
    let (heavy, light) = (f.tenant("heavy").await, f.tenant("light").await);
    f.as_system(async {
        let share = TenantShare::default().cap(100);
        f.queue
            .set_share(heavy.tenant_id(), Lane::Batch, share.weight(3))
            .await
            .unwrap();
        f.queue
            .set_share(light.tenant_id(), Lane::Batch, share)
            .await
            .unwrap();
    })
    .await;
    f.enqueue(&heavy, "w", 100).await;
    f.enqueue(&light, "w", 100).await;
    let order = f.drain(40).await;
    let heavy_share = order.iter().filter(|t| **t == heavy.tenant_id()).count();
    assert!(
        (28..=32).contains(&heavy_share),
        "heavy got {heavy_share} of 40"
    );

    // Operator actions are the system tenant's.
    let refused = heavy
        .clone()
        .scope(f.queue.set_paused(heavy.tenant_id(), Lane::Batch, true))
        .await;
    assert!(matches!(refused, Err(JobError::SystemOnly)), "{refused:?}");

    // A cap of 2 holds however many jobs a claim asks for; pause holds the
    // backlog and resume releases it.
    f.as_system(async {
        f.queue
            .set_share(
                light.tenant_id(),
                Lane::Batch,
                TenantShare::default().cap(2),
            )
            .await
            .unwrap();
        f.queue
            .set_paused(heavy.tenant_id(), Lane::Batch, true)
            .await
            .unwrap();
    })
    .await;
    let first = f.queue.claim(Lane::Batch, "a", LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 2, "cap 2");
    assert!(first.iter().all(|j| j.tenant == light.tenant_id()));
    assert!(
        f.queue
            .claim(Lane::Batch, "b", LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "light at its cap, heavy paused"
    );
    f.as_system(f.queue.set_paused(heavy.tenant_id(), Lane::Batch, false))
        .await
        .unwrap();
    let third = f.queue.claim(Lane::Batch, "c", LEASE, 1).await.unwrap();
    assert_eq!(third[0].tenant, heavy.tenant_id());
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    let light_stats = stats
        .iter()
        .find(|s| s.tenant == light.tenant_id())
        .unwrap();
    assert_eq!((light_stats.running, light_stats.cap), (2, 2));
    // A tenant sees its own line only.
    let own = light
        .clone()
        .scope(f.queue.stats(Lane::Batch))
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].tenant, light.tenant_id());
}

async fn plans_weigh_dispatch_by_default(f: JobFixture) {
    let (big, small) = (f.tenant("big").await, f.tenant("small").await);
    let big = TenantContext::builder(big.tenant_id(), "big")
        .plan(SCALE)
        .build()
        .unwrap();
    let small = TenantContext::builder(small.tenant_id(), "small")
        .plan(STARTER)
        .build()
        .unwrap();
    f.enqueue(&big, "w", 100).await;
    f.enqueue(&small, "w", 100).await;
    let order = f.drain(50).await;
    let big_share = order.iter().filter(|t| **t == big.tenant_id()).count();
    // Scale 4 : starter 1 — 40 of 50, give or take the join order.
    assert!(
        (38..=42).contains(&big_share),
        "the scale tenant got {big_share} of 50"
    );
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    let weights: Vec<i32> = [&big, &small]
        .iter()
        .map(|c| {
            stats
                .iter()
                .find(|s| s.tenant == c.tenant_id())
                .unwrap()
                .weight
        })
        .collect();
    assert_eq!(weights, [4, 1]);
}

async fn batches_respect_caps_and_priorities(f: JobFixture) {
    let acme = f.tenant("acme").await;
    f.enqueue(&acme, "low", 3).await;
    let urgent = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("urgent", &()))
        .unwrap()
        .priority(10);
    let urgent_id = f.queue.enqueue(&urgent).await.unwrap();
    let later = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("later", &()))
        .unwrap()
        .delay(Duration::from_secs(3600));
    f.queue.enqueue(&later).await.unwrap();
    // Default cap 4: one claim takes the four runnable jobs, best first,
    // and never the delayed one.
    let batch = f.queue.claim(Lane::Batch, "w", LEASE, 16).await.unwrap();
    assert_eq!(batch.len(), 4);
    assert_eq!(batch[0].id, urgent_id);
    assert!(batch.iter().all(|j| j.kind != "later"));
    assert!(
        f.queue
            .claim(Lane::Batch, "w", LEASE, 16)
            .await
            .unwrap()
            .is_empty()
    );
    // Another lane is scheduled apart.
    assert!(
        f.queue
            .claim(Lane::Interactive, "w", LEASE, 16)
            .await
            .unwrap()
            .is_empty()
    );
    let ids: Vec<i64> = batch.iter().map(|j| j.id).collect();
    f.queue.complete(&ids).await.unwrap();
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    assert_eq!((stats[0].queued, stats[0].running), (1, 0));
}

async fn jobs_run_in_their_tenant_context_and_bad_ones_die_with_a_reason(f: JobFixture) {
    let acme = f.tenant("acme").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = WorkerOptions::new(Lane::Batch, "w1");
    options.base_backoff = Duration::ZERO;
    let worker = Worker::new(f.queue.clone(), f.tenants.clone(), options)
        .handle("record", {
            let seen = seen.clone();
            move |job: tenantry::jobs::Job| {
                let seen = seen.clone();
                async move {
                    let ctx = context::require().map_err(|e| e.to_string())?;
                    seen.lock()
                        .unwrap()
                        .push((ctx.slug().to_owned(), ctx.tenant_id(), job.tenant));
                    Ok::<(), String>(())
                }
            }
        })
        .handle("always_fails", |_job| async {
            Err("smtp said no".to_owned())
        })
        .handle_json("typed", |_job, _n: u32| async { Ok::<(), Failure>(()) });

    let job = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("record", &1))
        .unwrap();
    f.queue.enqueue(&job).await.unwrap();
    assert!(worker.run_once().await.unwrap());
    assert_eq!(
        seen.lock().unwrap().clone(),
        [("acme".to_owned(), acme.tenant_id(), acme.tenant_id())]
    );

    let failing = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("always_fails", &()))
        .unwrap()
        .max_attempts(2);
    f.queue.enqueue(&failing).await.unwrap();
    assert!(worker.run_once().await.unwrap());
    assert!(worker.run_once().await.unwrap());
    assert!(
        !worker.run_once().await.unwrap(),
        "nothing left after the last attempt"
    );
    let dead = acme
        .clone()
        .scope(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].reason.as_str()),
        (2, "smtp said no")
    );

    // An undecodable payload and an unknown kind die on their first attempt.
    for (kind, payload) in [("typed", "not a number"), ("nobody_handles_this", "x")] {
        let bad = acme
            .clone()
            .sync_scope(|| JobEnvelope::new(kind, &payload))
            .unwrap();
        f.queue.enqueue(&bad).await.unwrap();
        assert!(worker.run_once().await.unwrap());
    }
    let dead = acme
        .clone()
        .scope(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
        .await
        .unwrap();
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("undecodable payload")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("no handler")),
        "{reasons:?}"
    );

    // A row no envelope made — an unknown tenant — lands in the dead letters, unrun.
    let forged = TenantId::new_v4();
    (f.forge_row)(forged).await;
    let before = seen.lock().unwrap().len();
    assert!(worker.run_once().await.unwrap());
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "the forged job did not run"
    );
    let dead = f
        .as_system(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
        .await
        .unwrap();
    let forged_dead = dead.iter().find(|d| d.tenant == Some(forged)).unwrap();
    assert!(forged_dead.reason.contains("unknown"), "{forged_dead:?}");
    assert!(!worker.run_once().await.unwrap(), "the queue is empty");
}

async fn jobs_follow_their_tenant_s_state(f: JobFixture) {
    let runs = Arc::new(Mutex::new(Vec::<TenantId>::new()));
    let mut options = WorkerOptions::new(Lane::Batch, "w1");
    // Held jobs come back at once, so the test sees the second look.
    options.held_retry = Duration::ZERO;
    let worker = Worker::new(f.queue.clone(), f.tenants.clone(), options).handle("record", {
        let runs = runs.clone();
        move |_job| {
            let runs = runs.clone();
            async move {
                runs.lock()
                    .unwrap()
                    .push(context::current_tenant_id().unwrap());
                Ok::<(), String>(())
            }
        }
    });
    let enqueue_one = |ctx: &TenantContext| {
        let job = ctx
            .clone()
            .sync_scope(|| JobEnvelope::new("record", &1))
            .unwrap()
            .max_attempts(1);
        let queue = f.queue.clone();
        async move { queue.enqueue(&job).await.unwrap() }
    };
    let dead_letters = || f.as_system(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)));

    // Suspended or provisioning: held, looked at more often than the job
    // has attempts — never run, never dead — and run once on reactivation.
    use TenantState::*;
    for (held, path) in [
        (Suspended, &[Active, Suspended][..]),
        (Provisioning, &[][..]),
    ] {
        let tenant = f.provisioning_tenant(&format!("held-{held}")).await;
        enqueue_one(&tenant).await;
        f.walk(&tenant, path).await;
        for _ in 0..3 {
            assert!(worker.run_once().await.unwrap(), "the held job was claimed");
        }
        assert!(
            runs.lock().unwrap().is_empty(),
            "a {held} tenant's job did not run"
        );
        let dead = dead_letters().await.unwrap();
        assert!(dead.is_empty(), "held, not dead: {dead:?}");

        f.walk(&tenant, &[Active]).await;
        assert!(worker.run_once().await.unwrap());
        assert_eq!(
            std::mem::take(&mut *runs.lock().unwrap()),
            [tenant.tenant_id()],
            "reactivated after {held}: the job ran, once"
        );
        assert!(!worker.run_once().await.unwrap(), "and is gone");
    }

    // Leaving (being deleted, deleted, onboarding failed): a job queued
    // before (an invoice e-mail, a first admin's invitation) is discarded
    // unrun, and not kept as a dead letter either.
    for (leaving, path) in [
        (Deleting, &[Active, Suspended, Deleting][..]),
        (Deleted, &[Active, Deleting, Deleted][..]),
        (Failed, &[Failed][..]),
    ] {
        let tenant = f.provisioning_tenant(&format!("leaving-{leaving}")).await;
        enqueue_one(&tenant).await;
        f.walk(&tenant, path).await;
        assert!(worker.run_once().await.unwrap(), "the job was claimed");
        assert!(
            runs.lock().unwrap().is_empty(),
            "a {leaving} tenant's job did not run"
        );
        assert!(!worker.run_once().await.unwrap(), "it was not put back");
        let dead = dead_letters().await.unwrap();
        assert!(dead.is_empty(), "discarded, not dead: {dead:?}");
        let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
        assert!(
            stats.iter().all(|s| s.queued == 0 && s.running == 0),
            "nothing of it is left in the queue: {stats:?}"
        );
    }
}

async fn cron_fans_out_to_active_tenants_only(f: JobFixture) {
    let active = f.tenant("active").await;
    let mut others = Vec::new();
    use TenantState::*;
    for (state, path) in [
        (Suspended, &[Active, Suspended][..]),
        (Provisioning, &[][..]),
        (Deleting, &[Active, Deleting][..]),
        (Failed, &[Failed][..]),
    ] {
        let tenant = f.provisioning_tenant(&format!("cron-{state}")).await;
        f.walk(&tenant, path).await;
        others.push(tenant.tenant_id());
    }
    let every_minute = tenantry::jobs::cron::CronJob::new(
        "each-tenant",
        "0 * * * * *",
        tenantry::jobs::cron::Fanout::EachTenant,
        "record",
    )
    .unwrap();
    let scheduler = tenantry::jobs::cron::Scheduler::new(
        f.queue.clone(),
        f.tenants.clone(),
        vec![every_minute],
    );
    let minute = 1_700_000_400; // a minute boundary
    assert_eq!(
        scheduler.run_due(minute + 1).await.unwrap(),
        1,
        "the tick was recorded"
    );
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    let queued: Vec<(TenantId, i64)> = stats
        .iter()
        .filter(|s| s.queued > 0)
        .map(|s| (s.tenant, s.queued))
        .collect();
    assert_eq!(
        queued,
        [(active.tenant_id(), 1)],
        "one job, for the active tenant alone (not for {others:?})"
    );
}

async fn lost_jobs_come_back_and_keys_dedupe(f: JobFixture) {
    let acme = f.tenant("acme").await;
    let job = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("send", &"invoice 7"))
        .unwrap()
        .idempotency_key("invoice-7-email");
    let first = f.queue.enqueue(&job).await.unwrap();
    let again = f.queue.enqueue(&job).await.unwrap();
    assert_eq!(first, again, "one job per key");
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    assert_eq!(stats[0].queued, 1);

    // Claimed by a worker that dies: nothing else takes it until its lease runs out.
    let claimed = f
        .queue
        .claim(Lane::Batch, "doomed", Duration::from_millis(1), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].attempt, 1);
    assert!(
        f.queue
            .claim(Lane::Batch, "other", LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease (1 ms) has passed once the clock moves on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while f.queue.reap_expired().await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::task::yield_now().await;
    }
    let retried = f.queue.claim(Lane::Batch, "other", LEASE, 1).await.unwrap();
    assert_eq!((retried[0].id, retried[0].attempt), (claimed[0].id, 2));
    // A heartbeat keeps a running job's lease: reaping takes nothing.
    f.queue.heartbeat(&[retried[0].id], LEASE).await.unwrap();
    assert_eq!(f.queue.reap_expired().await.unwrap(), 0);
    f.queue.complete(&[retried[0].id]).await.unwrap();
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    assert_eq!((stats[0].queued, stats[0].running), (0, 0));
}

async fn backlogs_and_rates_are_limited_per_tenant(f: JobFixture) {
    let (acme, globex) = (f.tenant("acme").await, f.tenant("globex").await);
    f.as_system(async {
        f.queue
            .set_share(
                acme.tenant_id(),
                Lane::Batch,
                TenantShare::default().max_backlog(3),
            )
            .await
            .unwrap();
        f.queue
            .set_share(
                globex.tenant_id(),
                Lane::Batch,
                TenantShare::default().per_minute(1),
            )
            .await
            .unwrap();
    })
    .await;
    f.enqueue(&acme, "w", 3).await;
    let fourth = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("w", &4))
        .unwrap();
    let full = f.queue.enqueue(&fourth).await;
    assert!(
        matches!(&full, Err(JobError::BacklogFull { max: 3, .. })),
        "{full:?}"
    );
    assert!(full.unwrap_err().to_string().contains("maximum"));
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    let acme_stats = stats.iter().find(|s| s.tenant == acme.tenant_id()).unwrap();
    assert_eq!(acme_stats.queued, 3, "the refused job left nothing behind");

    // One start a minute: globex's second job waits while acme's run.
    f.as_system(f.queue.set_paused(acme.tenant_id(), Lane::Batch, true))
        .await
        .unwrap();
    f.enqueue(&globex, "w", 2).await;
    let first = f.queue.claim(Lane::Batch, "w", LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1, "a rate-limited tenant gets one job a claim");
    assert!(
        f.queue
            .claim(Lane::Batch, "w", LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "globex's next start is a minute away"
    );
    f.as_system(f.queue.set_paused(acme.tenant_id(), Lane::Batch, false))
        .await
        .unwrap();
    let next = f.queue.claim(Lane::Batch, "w", LEASE, 10).await.unwrap();
    assert!(next.iter().all(|j| j.tenant == acme.tenant_id()) && !next.is_empty());
}

async fn dead_letters_are_the_tenant_s_own(f: JobFixture) {
    let (acme, globex) = (f.tenant("acme").await, f.tenant("globex").await);
    let id = f.enqueue(&acme, "gone", 1).await[0];
    f.queue.bury(id, "test").await.unwrap();
    // Nothing outside a context; nothing of acme's for globex.
    assert!(matches!(
        f.queue
            .dead_letters(tenantry::jobs::DeadPage::first(100))
            .await,
        Err(JobError::NoTenantContext(_))
    ));
    let theirs = globex.clone();
    assert!(
        theirs
            .clone()
            .scope(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!theirs.clone().scope(f.queue.retry_dead(id)).await.unwrap());
    assert!(!theirs.scope(f.queue.discard_dead(id)).await.unwrap());
    // Acme retries its own: queued again, under the same id.
    assert!(acme.clone().scope(f.queue.retry_dead(id)).await.unwrap());
    assert!(
        acme.clone()
            .scope(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
            .await
            .unwrap()
            .is_empty()
    );
    let again = f.queue.claim(Lane::Batch, "w", LEASE, 1).await.unwrap();
    assert_eq!((again[0].id, again[0].tenant), (id, acme.tenant_id()));
    f.queue.bury(id, "again").await.unwrap();
    assert!(acme.clone().scope(f.queue.discard_dead(id)).await.unwrap());
    assert!(
        f.as_system(f.queue.dead_letters(tenantry::jobs::DeadPage::first(100)))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_tick_is_enqueued_once(f: JobFixture) {
    let (acme, globex) = (f.tenant("acme").await, f.tenant("globex").await);
    let jobs: Vec<JobEnvelope> = [&acme, &globex]
        .iter()
        .map(|ctx| {
            (*ctx)
                .clone()
                .sync_scope(|| JobEnvelope::new("nightly", &()))
                .unwrap()
        })
        .collect();
    assert_eq!(f.queue.last_tick("nightly").await.unwrap(), None);
    assert!(f.queue.enqueue_tick("nightly", 1_000, &jobs).await.unwrap());
    assert!(
        !f.queue.enqueue_tick("nightly", 1_000, &jobs).await.unwrap(),
        "recorded already"
    );
    assert_eq!(f.queue.last_tick("nightly").await.unwrap(), Some(1_000));
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    assert_eq!(
        stats.iter().map(|s| s.queued).sum::<i64>(),
        2,
        "one job per tenant, once"
    );
}

async fn workers_run_jobs_concurrently_and_drain_on_shutdown(f: JobFixture) {
    let acme = f.tenant("acme").await;
    // Two jobs meet at a barrier: they finish only if they run at once.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(
        f.queue.clone(),
        f.tenants.clone(),
        WorkerOptions::new(Lane::Batch, "pair"),
    )
    .handle("meet", move |job: tenantry::jobs::Job| {
        let (barrier, done_tx) = (barrier.clone(), done_tx.clone());
        async move {
            barrier.wait().await;
            done_tx.send(job.id).unwrap();
            Ok::<(), String>(())
        }
    });
    f.enqueue(&acme, "meet", 2).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        stop_rx.await.ok();
    }));
    let both = tokio::time::timeout(Duration::from_secs(30), async {
        (done_rx.recv().await, done_rx.recv().await)
    })
    .await
    .expect("two jobs ran at once");
    assert!(both.0.is_some() && both.1.is_some());
    stop_tx.send(()).unwrap();
    running.await.unwrap();
    // Drained: both completed before `run` returned.
    let stats = f.as_system(f.queue.stats(Lane::Batch)).await.unwrap();
    assert_eq!((stats[0].queued, stats[0].running), (0, 0));
}

async fn an_idle_worker_is_woken_by_an_enqueue(f: JobFixture) {
    let acme = f.tenant("acme").await;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut options = WorkerOptions::new(Lane::Interactive, "sleepy");
    // It would not poll again within the test: only a wake-up runs the job.
    options.idle_poll = Duration::from_secs(3600);
    let worker = Worker::new(f.queue.clone(), f.tenants.clone(), options).handle(
        "ping",
        move |job: tenantry::jobs::Job| {
            let done_tx = done_tx.clone();
            async move {
                done_tx.send(job.id).unwrap();
                Ok::<(), String>(())
            }
        },
    );
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        started_tx.send(()).ok();
        worker
            .run(async {
                stop_rx.await.ok();
            })
            .await;
    });
    started_rx.await.unwrap();
    // Enqueue until one is taken: the first may land before the worker
    // waits (then its own poll finds it); each enqueue also wakes it.
    let job = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("ping", &()))
        .unwrap()
        .lane(Lane::Interactive);
    let id = f.queue.enqueue(&job).await.unwrap();
    let ran = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
        .await
        .expect("the idle worker was woken");
    assert_eq!(ran, Some(id));
    stop_tx.send(()).unwrap();
    running.await.unwrap();
}
