//! The job queue on a real PostgreSQL: fairness across tenants, weights,
//! caps, pause, retries into dead letters, lost workers, idempotency, and
//! jobs running in their tenant's context.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenantry::context::{self, Plan, TenantContext, TenantId, Tier};
use tenantry::data::postgres::{
    CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgDatabase, PgTenantStore, migrate,
};
use tenantry::jobs::{JobEnvelope, Lane, PgQueue, Worker, WorkerOptions};
use tenantry::registry::{NewTenant, TenantState, Tenants};
use tenantry_testkit::PgTestDb;

const APP_ROLE: &str = "tenantry_app";

struct Fixture {
    _db: PgTestDb,
    owner: tokio_postgres::Client,
    queue: PgQueue,
    tenants: Tenants,
}

async fn setup() -> Option<Fixture> {
    let db = tenantry_testkit::postgres().await?;
    let mut owner = migrate::connect(db.url()).await.unwrap();
    migrate::ensure_app_role(&owner, APP_ROLE).await.unwrap();
    migrate::apply(&mut owner, CONTROL_SCHEMA, CONTROL_MIGRATIONS, APP_ROLE)
        .await
        .unwrap();
    let app = PgDatabase::connect(
        &db.url().replacen("postgres@", &format!("{APP_ROLE}@"), 1),
        4,
    )
    .unwrap();
    Some(Fixture {
        _db: db,
        owner,
        queue: PgQueue::new(app.clone()),
        tenants: Tenants::new(Arc::new(PgTenantStore::new(app))),
    })
}

impl Fixture {
    async fn tenant(&self, slug: &str) -> TenantContext {
        let record = self
            .tenants
            .create(NewTenant {
                id: None,
                slug: slug.into(),
                name: slug.into(),
                plan: Plan::Pro,
                tier: Tier::Shared,
                state: TenantState::Active,
                domains: vec![],
                database_server: None,
            })
            .await
            .unwrap();
        TenantContext::builder(record.id, slug).build().unwrap()
    }

    async fn enqueue(&self, ctx: &TenantContext, kind: &str, n: usize) {
        for i in 0..n {
            let job = ctx
                .clone()
                .sync_scope(|| JobEnvelope::new(kind, &i))
                .unwrap();
            self.queue.enqueue(&job).await.unwrap();
        }
    }

    /// Claims (and completes) `n` jobs; the tenant of each, in order.
    async fn drain(&self, n: usize) -> Vec<TenantId> {
        let mut order = Vec::new();
        for _ in 0..n {
            let job = self
                .queue
                .claim(Lane::Batch, "test", Duration::from_secs(30))
                .await
                .unwrap()
                .unwrap();
            self.queue.complete(job.id).await.unwrap();
            order.push(job.tenant);
        }
        order
    }
}

#[tokio::test]
async fn a_quiet_tenant_is_served_within_two_slots_of_a_deep_backlog() {
    let Some(f) = setup().await else { return };
    let (noisy, quiet) = (f.tenant("noisy").await, f.tenant("quiet").await);
    f.enqueue(&noisy, "work", 500).await;
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
        "the quiet tenant's first job is dispatched next: {next:?}"
    );
    assert!(
        slots[1] <= 2,
        "its second waited {} slots: {next:?}",
        slots[1]
    );
}

#[tokio::test]
async fn weights_share_dispatch_and_caps_hold() {
    let Some(f) = setup().await else { return };
    let (heavy, light) = (f.tenant("heavy").await, f.tenant("light").await);
    f.queue
        .set_share(heavy.tenant_id(), Lane::Batch, 3, 100)
        .await
        .unwrap();
    f.queue
        .set_share(light.tenant_id(), Lane::Batch, 1, 100)
        .await
        .unwrap();
    f.enqueue(&heavy, "w", 100).await;
    f.enqueue(&light, "w", 100).await;
    let order = f.drain(40).await;
    let heavy_share = order.iter().filter(|t| **t == heavy.tenant_id()).count();
    assert!(
        (28..=32).contains(&heavy_share),
        "heavy got {heavy_share} of 40"
    );

    // A cap of 2: a third claim passes the tenant over while two run.
    f.queue
        .set_share(light.tenant_id(), Lane::Batch, 1, 2)
        .await
        .unwrap();
    f.queue
        .set_paused(heavy.tenant_id(), Lane::Batch, true)
        .await
        .unwrap();
    let lease = Duration::from_secs(30);
    let first = f
        .queue
        .claim(Lane::Batch, "a", lease)
        .await
        .unwrap()
        .unwrap();
    let second = f
        .queue
        .claim(Lane::Batch, "b", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.tenant, second.tenant),
        (light.tenant_id(), light.tenant_id())
    );
    assert!(
        f.queue
            .claim(Lane::Batch, "c", lease)
            .await
            .unwrap()
            .is_none(),
        "cap 2, heavy paused"
    );
    // Pause holds the backlog; resume releases it.
    f.queue
        .set_paused(heavy.tenant_id(), Lane::Batch, false)
        .await
        .unwrap();
    let third = f
        .queue
        .claim(Lane::Batch, "c", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.tenant, heavy.tenant_id());
    let stats = f.queue.stats(Lane::Batch).await.unwrap();
    let light_stats = stats
        .iter()
        .find(|s| s.tenant == light.tenant_id())
        .unwrap();
    assert_eq!(light_stats.running, 2);
}

#[tokio::test]
async fn jobs_run_in_their_tenant_context_retry_and_die_with_a_reason() {
    let Some(f) = setup().await else { return };
    let acme = f.tenant("acme").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = WorkerOptions::new(Lane::Batch, "w1");
    options.base_backoff = Duration::ZERO;
    let worker = Worker::new(f.queue.clone(), f.tenants.clone(), options)
        .handle("record", {
            let seen = seen.clone();
            move |job| {
                let seen = seen.clone();
                async move {
                    let ctx = context::require().map_err(|e| e.to_string())?;
                    seen.lock()
                        .unwrap()
                        .push((ctx.slug().to_owned(), ctx.tenant_id(), job.tenant));
                    Ok(())
                }
            }
        })
        .handle("always_fails", |_job| async {
            Err("smtp said no".to_owned())
        });

    let job = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("record", &1))
        .unwrap();
    f.queue.enqueue(&job).await.unwrap();
    assert!(worker.run_once().await.unwrap());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
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
    let dead = f.queue.dead_letters(Some(acme.tenant_id())).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].attempts, dead[0].reason.as_str()),
        (2, "smtp said no")
    );

    // A row no envelope made — an unknown tenant — lands in the dead letters, unrun.
    let forged = TenantId::new_v4();
    f.owner
        .execute(
            "INSERT INTO tenantry.jobs (owner, lane, kind, payload) VALUES ($1, 'batch', 'record', '{}');
             ",
            &[forged.as_uuid()],
        )
        .await
        .unwrap();
    f.owner
        .execute(
            "INSERT INTO tenantry.job_tenants (owner, lane, queued) VALUES ($1, 'batch', 1)",
            &[forged.as_uuid()],
        )
        .await
        .unwrap();
    assert!(worker.run_once().await.unwrap());
    let dead = f.queue.dead_letters(Some(forged)).await.unwrap();
    assert!(dead[0].reason.contains("unknown"), "{dead:?}");
    assert_eq!(
        f.owner
            .query_one("SELECT count(*) FROM tenantry.jobs", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );
}

#[tokio::test]
async fn a_lost_worker_s_job_runs_again_and_keys_dedupe_enqueues() {
    let Some(f) = setup().await else { return };
    let acme = f.tenant("acme").await;
    let job = acme
        .clone()
        .sync_scope(|| JobEnvelope::new("send", &"invoice 7"))
        .unwrap()
        .idempotency_key("invoice-7-email");
    let first = f.queue.enqueue(&job).await.unwrap();
    let again = f.queue.enqueue(&job).await.unwrap();
    assert_eq!(first, again, "one job per key");
    assert_eq!(f.queue.stats(Lane::Batch).await.unwrap()[0].queued, 1);

    // Claimed by a worker that dies: nothing else can take it until the lease runs out.
    let claimed = f
        .queue
        .claim(Lane::Batch, "doomed", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.attempt, 1);
    assert!(
        f.queue
            .claim(Lane::Batch, "other", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    // The lease (1 ms) has passed once the database's clock moves on.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while f.queue.reap_expired().await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::task::yield_now().await;
    }
    let retried = f
        .queue
        .claim(Lane::Batch, "other", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retried.id, retried.attempt), (claimed.id, 2));
    f.queue.complete(retried.id).await.unwrap();
    let stats = f.queue.stats(Lane::Batch).await.unwrap();
    assert_eq!((stats[0].queued, stats[0].running), (0, 0));
}
