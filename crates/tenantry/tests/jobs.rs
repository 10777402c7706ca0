//! The job queue on real databases: the conformance suite on PostgreSQL
//! and on SQLite; and, on PostgreSQL, a worker process killed mid-job and
//! a tenant's cap held across two worker processes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use tenantry::context::{self, TenantContext, TenantId};
use tenantry::data::postgres::{PgDatabase, migrate};
use tenantry::data::sqlite::{self as lite, SqliteDatabase};
use tenantry::jobs::{
    JobEnvelope, JobQueue, Lane, PgQueue, SqliteQueue, TenantShare, Worker, WorkerOptions,
};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;
use tenantry_testkit::PgTestDb;
use tenantry_testkit::jobs::{Hook, JobFixture, conformance, create_tenant, pg_forge_row};

mod pg_notes;

async fn postgres_fixture() -> Option<JobFixture> {
    let (db, owner) = pg_notes::control_database().await?;
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 4).unwrap();
    let queue = PgQueue::new(app.clone())
        .with_plan_weights(tenantry_testkit::jobs::plan_weights())
        .with_wakeups(&pg_notes::app_url(&db))
        .unwrap();
    let forge_row = pg_forge_row(owner);
    Some(JobFixture {
        queue: Arc::new(queue),
        tenants: Tenants::new(Arc::new(SqlTenantStore::new(app))),
        forge_row,
        wakes_workers: true,
        guard: Box::new(db),
    })
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn sqlite_fixture() -> JobFixture {
    let dir = std::env::temp_dir().join(format!("tenantry-jobs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = SqliteDatabase::open(&dir.join("control.db"), 4).unwrap();
    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    let forge_db = db.clone();
    let forge_row = Arc::new(move |tenant: TenantId| -> Hook {
        let db = forge_db.clone();
        Box::pin(tenantry::context::run_as_system(
            "test: forge a job row",
            async move {
                db.run_as_system(move |conn| {
                conn.execute_batch(&format!(
                    "INSERT INTO jobs (owner, lane, kind, payload, run_at, created_at) VALUES ('{tenant}', 'batch', 'record', '{{}}', 0, 0);
                     INSERT INTO job_tenants (owner, lane, queued) VALUES ('{tenant}', 'batch', 1);"
                ))
                .map_err(|e| tenantry::data::DataError::Database(e.to_string().into()))
            })
            .await
            .unwrap();
            },
        ))
    });
    JobFixture {
        queue: Arc::new(
            SqliteQueue::new(db.clone()).with_plan_weights(tenantry_testkit::jobs::plan_weights()),
        ),
        tenants: Tenants::new(Arc::new(SqlTenantStore::new(db))),
        forge_row,
        wakes_workers: true,
        guard: Box::new(TempDir(dir)),
    }
}

#[tokio::test]
async fn the_postgres_queue_conforms() {
    if tenantry_testkit::postgres().await.is_none() {
        return;
    }
    conformance(|| async { postgres_fixture().await.unwrap() }).await;
}

#[tokio::test]
async fn the_sqlite_queue_conforms() {
    conformance(sqlite_fixture).await;
}

/// The effect every `credit` job applies exactly once: a ledger row per
/// job and a running total, in one transaction, skipped when applied.
const EFFECTS: &str = "
    CREATE TABLE attempts (job_id bigint NOT NULL, pid integer NOT NULL);
    CREATE TABLE applied (job_id bigint PRIMARY KEY);
    CREATE TABLE total (n integer NOT NULL);
    INSERT INTO total VALUES (0);
    CREATE TABLE gauge (now integer NOT NULL, peak integer NOT NULL, done integer NOT NULL);
    INSERT INTO gauge VALUES (0, 0, 0);";

/// A worker process of the crash and cap tests (`JOBS_CHILD_*` say which).
fn worker_for(url: &str, app: &str, lease: Duration, concurrency: usize) -> Worker {
    let db = PgDatabase::connect(app, 8).unwrap();
    let queue = PgQueue::new(db.clone()).with_wakeups(app).unwrap();
    let mut options = WorkerOptions::new(Lane::Batch, format!("child:{}", std::process::id()));
    options.lease = lease;
    options.concurrency = concurrency;
    options.idle_poll = Duration::from_millis(50);
    let (effects, url) = (url.to_owned(), url.to_owned());
    Worker::new(
        Arc::new(queue),
        Tenants::new(Arc::new(SqlTenantStore::new(db))),
        options,
    )
    .handle("credit", move |job: tenantry::jobs::Job| {
        let url = effects.clone();
        async move {
            let mut client = migrate::connect(&url).await.map_err(|e| e.to_string())?;
            client
                .execute(
                    "INSERT INTO attempts VALUES ($1, $2)",
                    &[&job.id, &(std::process::id() as i32)],
                )
                .await
                .map_err(|e| e.to_string())?;
            // The slow job's first attempt never ends: its process is killed.
            if job.payload == serde_json::json!("slow") && job.attempt == 1 {
                std::future::pending::<()>().await;
            }
            let tx = client.transaction().await.map_err(|e| e.to_string())?;
            let fresh = tx
                .execute(
                    "INSERT INTO applied VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&job.id],
                )
                .await
                .map_err(|e| e.to_string())?;
            if fresh == 1 {
                tx.execute("UPDATE total SET n = n + 1", &[])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            tx.commit().await.map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        }
    })
    .handle("hold", move |_job: tenantry::jobs::Job| {
        let url = url.clone();
        async move {
            let client = migrate::connect(&url).await.map_err(|e| e.to_string())?;
            client
                .execute(
                    "UPDATE gauge SET now = now + 1, peak = greatest(peak, now + 1)",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            // Work long enough for the other process's workers to try.
            tokio::time::sleep(Duration::from_millis(150)).await;
            client
                .execute("UPDATE gauge SET now = now - 1, done = done + 1", &[])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        }
    })
}

/// Child half of the crash and cap tests: runs a worker until killed.
#[tokio::test]
#[ignore = "started by the crash and cap tests"]
async fn worker_child() {
    let url = std::env::var("JOBS_CHILD_URL").expect("started by a parent test");
    let app = std::env::var("JOBS_CHILD_APP_URL").unwrap();
    let lease = Duration::from_millis(
        std::env::var("JOBS_CHILD_LEASE_MS")
            .unwrap()
            .parse()
            .unwrap(),
    );
    let concurrency = std::env::var("JOBS_CHILD_CONCURRENCY")
        .unwrap()
        .parse()
        .unwrap();
    worker_for(&url, &app, lease, concurrency)
        .run(std::future::pending())
        .await;
}

fn spawn_child(db: &PgTestDb, lease_ms: u64, concurrency: usize) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["worker_child", "--exact", "--ignored", "--nocapture"])
        .env("JOBS_CHILD_URL", db.url())
        .env("JOBS_CHILD_APP_URL", pg_notes::app_url(db))
        .env("JOBS_CHILD_LEASE_MS", lease_ms.to_string())
        .env("JOBS_CHILD_CONCURRENCY", concurrency.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

async fn count(owner: &tokio_postgres::Client, sql: &str) -> i64 {
    owner.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
}

/// Waits (bounded) until `sql` counts at least `n`.
async fn wait_for(owner: &tokio_postgres::Client, sql: &str, n: i64, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(owner, sql).await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::task::yield_now().await;
    }
}

/// A migrated database with the effect tables, its queue, and tenant acme.
async fn with_effects() -> Option<(
    PgTestDb,
    Arc<tokio_postgres::Client>,
    PgQueue,
    TenantContext,
)> {
    let (db, owner) = pg_notes::control_database().await?;
    owner.batch_execute(EFFECTS).await.unwrap();
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 4).unwrap();
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(app.clone())));
    let acme = create_tenant(&tenants, "acme").await;
    Some((db, owner, PgQueue::new(app), acme))
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing() {
    let Some((db, owner, queue, acme)) = with_effects().await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..20 {
        let payload = if i == 0 {
            serde_json::json!("slow")
        } else {
            serde_json::json!(i)
        };
        let job = acme
            .clone()
            .sync_scope(|| JobEnvelope::new("credit", &payload))
            .unwrap();
        ids.push(queue.enqueue(&job).await.unwrap());
    }

    let mut child = spawn_child(&db, 2_000, 4);
    // Kill it while the slow job is in its handler (its attempt is logged).
    wait_for(
        &owner,
        &format!("SELECT count(*) FROM attempts WHERE job_id = {}", ids[0]),
        1,
        "the child started the slow job",
    )
    .await;
    child.kill().unwrap(); // SIGKILL: no drain, no cleanup
    child.wait().unwrap();
    let applied_at_kill = count(&owner, "SELECT count(*) FROM applied").await;
    assert!(
        applied_at_kill < 20,
        "the slow job was not applied by the child"
    );

    // A new worker (this process) finishes the work once the lease runs out.
    let worker = worker_for(db.url(), &pg_notes::app_url(&db), Duration::from_secs(2), 4);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        stop_rx.await.ok();
    }));
    wait_for(
        &owner,
        "SELECT count(*) FROM applied",
        20,
        "all jobs applied",
    )
    .await;
    stop_tx.send(()).unwrap();
    running.await.unwrap();

    assert_eq!(
        count(&owner, "SELECT n::bigint FROM total").await,
        20,
        "each job's effect once"
    );
    assert_eq!(
        count(&owner, "SELECT count(*) FROM tenantry.jobs").await,
        0,
        "no job left"
    );
    assert_eq!(
        count(&owner, "SELECT count(*) FROM tenantry.dead_jobs").await,
        0
    );
    let slow_attempts = count(
        &owner,
        &format!(
            "SELECT count(DISTINCT pid) FROM attempts WHERE job_id = {}",
            ids[0]
        ),
    )
    .await;
    assert_eq!(
        slow_attempts, 2,
        "the slow job ran again in the second process"
    );
}

#[tokio::test]
async fn a_tenant_s_cap_holds_across_two_worker_processes() {
    let Some((db, owner, queue, acme)) = with_effects().await else {
        return;
    };
    context::run_as_system(
        "test",
        queue.set_share(acme.tenant_id(), Lane::Batch, TenantShare::default().cap(2)),
    )
    .await
    .unwrap();
    for i in 0..16 {
        let job = acme
            .clone()
            .sync_scope(|| JobEnvelope::new("hold", &i))
            .unwrap();
        queue.enqueue(&job).await.unwrap();
    }
    // Two processes, four workers each: eight would run at once uncapped.
    let mut children = [spawn_child(&db, 30_000, 4), spawn_child(&db, 30_000, 4)];
    wait_for(&owner, "SELECT done::bigint FROM gauge", 16, "all jobs ran").await;
    wait_for(
        &owner,
        "SELECT (count(*) = 0)::int::bigint FROM tenantry.jobs",
        1,
        "all jobs completed",
    )
    .await;
    for child in &mut children {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let peak = count(&owner, "SELECT peak::bigint FROM gauge").await;
    assert_eq!(
        peak, 2,
        "at most two of the tenant's jobs ran at once, and two did"
    );
    assert_eq!(
        count(&owner, "SELECT count(*) FROM tenantry.dead_jobs").await,
        0
    );
}
