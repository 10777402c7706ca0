//! Lifecycle workflows on real databases: one suite for the store and the
//! engine, run on PostgreSQL and on SQLite — steps in order, one workflow
//! per tenant, retries, compensation newest first, a crash mid-step,
//! cancellation, stuck detection.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod pg_notes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use tenantry::context::TenantId;
use tenantry::data::postgres::PgDatabase;
use tenantry::data::sqlite::{self as lite, SqliteDatabase};
use tenantry::jobs::{PgQueue, SqliteQueue};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;
use tenantry::workflow::{
    Advanced, NewWorkflow, SqlWorkflowStore, Step, StepError, StepState, WorkflowDef,
    WorkflowError, WorkflowState, WorkflowStore, Workflows,
};

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Fixture = (
    Arc<dyn WorkflowStore>,
    Arc<dyn tenantry::jobs::JobQueue>,
    Tenants,
);

async fn sqlite_fixture() -> (Fixture, TempDir) {
    let dir = std::env::temp_dir().join(format!("tenantry-wf-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = SqliteDatabase::open(&dir.join("control.db"), 4).unwrap();
    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    let fixture: Fixture = (
        Arc::new(SqlWorkflowStore::new(db.clone())),
        Arc::new(SqliteQueue::new(db.clone())),
        Tenants::new(Arc::new(SqlTenantStore::new(db))),
    );
    (fixture, TempDir(dir))
}

async fn postgres_fixture() -> Option<(Fixture, tenantry_testkit::PgTestDb)> {
    let (db, _owner) = pg_notes::control_database().await?;
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 8).unwrap();
    let fixture: Fixture = (
        Arc::new(SqlWorkflowStore::new(app.clone())),
        Arc::new(PgQueue::new(app.clone())),
        Tenants::new(Arc::new(SqlTenantStore::new(app))),
    );
    Some((fixture, db))
}

async fn the_store_keeps_workflows_and_steps(store: Arc<dyn WorkflowStore>) {
    let (acme, globex) = (TenantId::new_v4(), TenantId::new_v4());
    let input = json!({"plan": "pro"});
    let new = |tenant| NewWorkflow {
        tenant,
        kind: "onboarding",
        input: &input,
        requested_by: Some("operator:ada"),
        steps: &["registry", "schema", "bucket"],
    };
    let id = store.start(new(acme)).await.unwrap();
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.tenant, acme);
    assert_eq!(record.state, WorkflowState::Running);
    assert_eq!(record.input, input);
    assert_eq!(record.requested_by.as_deref(), Some("operator:ada"));
    let names: Vec<_> = record
        .steps
        .iter()
        .map(|s| (s.position, s.name.as_str()))
        .collect();
    assert_eq!(names, [(0, "registry"), (1, "schema"), (2, "bucket")]);
    assert!(
        record
            .steps
            .iter()
            .all(|s| s.state == StepState::Pending && s.attempts == 0)
    );

    // One at a time per tenant; other tenants are not held up.
    match store.start(new(acme)).await {
        Err(WorkflowError::Busy {
            running,
            kind,
            tenant,
        }) => {
            assert_eq!((running, kind.as_str(), tenant), (id, "onboarding", acme));
        }
        other => panic!("a second workflow for acme: {other:?}"),
    }
    let other = store.start(new(globex)).await.unwrap();

    // Attempts count; deadlines and errors are kept; a terminal state ends a step.
    let soon = SystemTime::now() + Duration::from_secs(60);
    assert_eq!(
        store
            .begin_step(id, 0, StepState::Running, soon)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .begin_step(id, 0, StepState::Running, soon)
            .await
            .unwrap(),
        2
    );
    store.end_step(id, 0, StepState::Done, None).await.unwrap();
    store
        .begin_step(id, 1, StepState::Running, soon)
        .await
        .unwrap();
    store
        .end_step(
            id,
            1,
            StepState::Running,
            Some("schema: connection refused"),
        )
        .await
        .unwrap();
    let record = store.get(id).await.unwrap().unwrap();
    let (first, second) = (&record.steps[0], &record.steps[1]);
    assert_eq!((first.state, first.attempts), (StepState::Done, 2));
    assert!(first.started_at.is_some() && first.finished_at.is_some());
    assert!(first.deadline_at.unwrap() > SystemTime::now());
    assert_eq!(second.state, StepState::Running);
    assert_eq!(
        second.last_error.as_deref(),
        Some("schema: connection refused")
    );
    assert!(
        second.finished_at.is_none(),
        "a retried attempt has not ended the step"
    );
    assert_eq!(record.overdue_step(SystemTime::now()), None);
    assert_eq!(
        record
            .overdue_step(soon + Duration::from_secs(1))
            .map(|s| s.name.as_str()),
        Some("schema"),
        "past its deadline, the running step is overdue"
    );

    // Live workflows; a final state frees the tenant and keeps the error.
    let live: Vec<_> = store.live().await.unwrap().iter().map(|w| w.id).collect();
    assert!(live.contains(&id) && live.contains(&other));
    store
        .set_state(
            id,
            WorkflowState::Compensating,
            Some("step bucket failed: quota"),
        )
        .await
        .unwrap();
    assert!(matches!(
        store.start(new(acme)).await,
        Err(WorkflowError::Busy { .. })
    ));
    store
        .set_state(id, WorkflowState::Failed, None)
        .await
        .unwrap();
    let record = store.get(id).await.unwrap().unwrap();
    assert_eq!(record.state, WorkflowState::Failed);
    assert_eq!(record.error.as_deref(), Some("step bucket failed: quota"));
    assert!(record.finished_at.is_some());
    assert!(!store.live().await.unwrap().iter().any(|w| w.id == id));
    let again = store.start(new(acme)).await.unwrap();
    assert_ne!(again, id);

    // Lists, newest first, per tenant or for all.
    let mine: Vec<_> = store
        .list(Some(acme), 10)
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(mine, [again, id]);
    let all: Vec<_> = store
        .list(None, 2)
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(all, [again, other]);
    assert!(
        store
            .get(tenantry::workflow::WorkflowId(i64::MAX))
            .await
            .unwrap()
            .is_none()
    );
}

/// What the steps did, in order, as one test's steps record it.
#[derive(Clone, Default)]
struct Effects(Arc<Mutex<Vec<String>>>);

impl Effects {
    fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A step `name` that records `name` in `effects`, undone by recording
/// `undo name`.
fn recorded(effects: &Effects, name: &'static str) -> Step {
    let (run, undo) = (effects.clone(), effects.clone());
    Step::new(name, move |_| {
        let run = run.clone();
        async move {
            run.push(name);
            Ok(())
        }
    })
    .compensate(move |_| {
        let undo = undo.clone();
        async move {
            undo.push(format!("undo {name}"));
            Ok(())
        }
    })
}

/// Steps `a`, `b`, `c`, each undone by `undo x`; `c` fails as `fail_c` says
/// (`None`: it succeeds) on the attempts up to `fail_until` (0: always).
fn abc(
    kind: &str,
    effects: &Effects,
    fail_c: Option<fn(String) -> StepError>,
    fail_until: u32,
) -> WorkflowDef {
    let step = |name: &'static str| recorded(effects, name);
    let c = effects.clone();
    WorkflowDef::new(kind).step(step("a")).step(step("b")).step(
        Step::new("c", move |ctx| {
            let c = c.clone();
            async move {
                match fail_c {
                    Some(fail) if fail_until == 0 || ctx.attempt <= fail_until => {
                        c.push(format!("c failed (attempt {})", ctx.attempt));
                        Err(fail("the bucket server said no".into()))
                    }
                    _ => {
                        c.push("c");
                        Ok(())
                    }
                }
            }
        })
        .attempts(3),
    )
}

/// A fresh `abc` workflow over `store` whose step `c` fails as
/// `fail_c`/`fail_until` say ([`abc`]), started for a new tenant: its
/// effects, its engine and its id.
async fn fresh_abc(
    store: &Arc<dyn WorkflowStore>,
    fail_c: Option<fn(String) -> StepError>,
    fail_until: u32,
) -> (Effects, Workflows, tenantry::workflow::WorkflowId) {
    let effects = Effects::default();
    let engine = Workflows::new(store.clone(), [abc("abc", &effects, fail_c, fail_until)]);
    let id = engine
        .start("abc", TenantId::new_v4(), json!({}), None)
        .await
        .unwrap();
    (effects, engine, id)
}

/// Advances `id` until it finishes, collecting each outcome.
async fn drive(engine: &Workflows, id: tenantry::workflow::WorkflowId) -> Vec<Advanced> {
    let mut seen = Vec::new();
    for _ in 0..50 {
        let step = engine.advance(id).await.unwrap();
        seen.push(step.clone());
        if matches!(step, Advanced::Finished(_)) {
            return seen;
        }
    }
    panic!("workflow {id} did not finish: {seen:?}");
}

async fn the_engine_runs_retries_and_compensates(store: Arc<dyn WorkflowStore>) {
    // Every step in order, once.
    let (effects, engine, id) = fresh_abc(&store, None, 0).await;
    let seen = drive(&engine, id).await;
    assert_eq!(
        seen.last(),
        Some(&Advanced::Finished(WorkflowState::Succeeded))
    );
    assert_eq!(effects.all(), ["a", "b", "c"]);
    let record = engine.get(id).await.unwrap();
    assert!(
        record
            .steps
            .iter()
            .all(|s| s.state == StepState::Done && s.attempts == 1)
    );
    assert!(matches!(
        engine
            .start("nope", TenantId::new_v4(), json!({}), None)
            .await,
        Err(WorkflowError::UnknownKind(_))
    ));

    // A retryable failure is retried and then succeeds.
    let (effects, engine, id) = fresh_abc(&store, Some(StepError::retry::<String>), 2).await;
    let seen = drive(&engine, id).await;
    let retries = seen
        .iter()
        .filter(|a| matches!(a, Advanced::Retry { .. }))
        .count();
    assert_eq!(retries, 2);
    assert_eq!(
        effects.all(),
        [
            "a",
            "b",
            "c failed (attempt 1)",
            "c failed (attempt 2)",
            "c"
        ]
    );
    let record = engine.get(id).await.unwrap();
    assert_eq!(record.state, WorkflowState::Succeeded);
    assert_eq!(record.steps[2].attempts, 3);

    // Out of attempts: the done steps are undone, newest first; the failed
    // one is not; the workflow ends failed with the reason.
    let (effects, engine, id) = fresh_abc(&store, Some(StepError::retry::<String>), 0).await;
    let seen = drive(&engine, id).await;
    assert_eq!(
        seen.last(),
        Some(&Advanced::Finished(WorkflowState::Failed))
    );
    assert_eq!(
        effects.all(),
        [
            "a",
            "b",
            "c failed (attempt 1)",
            "c failed (attempt 2)",
            "c failed (attempt 3)",
            "undo b",
            "undo a"
        ]
    );
    let record = engine.get(id).await.unwrap();
    let states: Vec<_> = record.steps.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [
            StepState::Compensated,
            StepState::Compensated,
            StepState::Failed
        ]
    );
    assert_eq!(
        record.error.as_deref(),
        Some("step c failed: the bucket server said no")
    );

    // A fatal failure is not retried.
    let (effects, engine, id) = fresh_abc(&store, Some(StepError::fatal::<String>), 0).await;
    drive(&engine, id).await;
    assert_eq!(
        effects.all(),
        ["a", "b", "c failed (attempt 1)", "undo b", "undo a"]
    );

    // Cancelled after one step: that step is undone; the end is `cancelled`.
    let (effects, engine, id) = fresh_abc(&store, None, 0).await;
    assert_eq!(engine.advance(id).await.unwrap(), Advanced::More);
    engine.cancel(id, "operator:ada").await.unwrap();
    let seen = drive(&engine, id).await;
    assert_eq!(
        seen.last(),
        Some(&Advanced::Finished(WorkflowState::Cancelled))
    );
    assert_eq!(effects.all(), ["a", "undo a"]);
    assert!(
        engine.cancel(id, "operator:ada").await.is_err(),
        "only a running one"
    );
}

/// A process that died inside a step left it `running`: the next process
/// runs it again (attempt 2), and an idempotent step's effect is there once.
async fn a_step_cut_off_mid_way_runs_again_to_one_effect(store: Arc<dyn WorkflowStore>) {
    let applied: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let def = {
        let applied = applied.clone();
        WorkflowDef::new("idempotent").step(Step::new("create", move |ctx| {
            let applied = applied.clone();
            async move {
                // "CREATE … IF NOT EXISTS": the effect is keyed, not counted.
                applied
                    .lock()
                    .unwrap()
                    .entry(format!("schema of {}", ctx.tenant))
                    .or_insert(ctx.attempt);
                Ok(())
            }
        }))
    };
    let engine = Workflows::new(store.clone(), [def]);
    let tenant = TenantId::new_v4();
    let id = engine
        .start("idempotent", tenant, json!({}), None)
        .await
        .unwrap();
    // The first process: began the step, applied its effect, died before
    // recording the end.
    let attempt = store
        .begin_step(
            id,
            0,
            StepState::Running,
            SystemTime::now() + Duration::from_secs(60),
        )
        .await
        .unwrap();
    applied
        .lock()
        .unwrap()
        .insert(format!("schema of {tenant}"), attempt);
    // The next process picks the workflow up.
    let seen = drive(&engine, id).await;
    assert_eq!(
        seen,
        [Advanced::More, Advanced::Finished(WorkflowState::Succeeded)]
    );
    let record = engine.get(id).await.unwrap();
    assert_eq!(record.steps[0].attempts, 2, "run again");
    assert_eq!(applied.lock().unwrap().len(), 1, "one effect");
}

async fn a_step_past_its_deadline_is_reported_stuck(store: Arc<dyn WorkflowStore>) {
    let engine = Workflows::new(
        store.clone(),
        [WorkflowDef::new("slow").step(Step::new("wait", |_| async { Ok(()) }))],
    );
    let tenant = TenantId::new_v4();
    let id = engine.start("slow", tenant, json!({}), None).await.unwrap();
    let due = SystemTime::now() + Duration::from_secs(60);
    store
        .begin_step(id, 0, StepState::Running, due)
        .await
        .unwrap();
    let mine = |stuck: Vec<tenantry::workflow::Stuck>| {
        stuck
            .into_iter()
            .filter(|s| s.workflow.id == id)
            .map(|s| s.step)
            .collect::<Vec<_>>()
    };
    assert!(mine(engine.stuck(SystemTime::now()).await.unwrap()).is_empty());
    assert_eq!(
        mine(engine.stuck(due + Duration::from_secs(1)).await.unwrap()),
        ["wait"]
    );
    // Finished, it is stuck no more.
    drive(&engine, id).await;
    assert!(mine(engine.stuck(due + Duration::from_secs(1)).await.unwrap()).is_empty());
}

/// A step held until a time from the input waits (no attempt used,
/// still cancellable); a point of no return refuses cancellation once
/// reached, and a later failure is retried, never compensated.
async fn a_grace_period_waits_and_a_point_of_no_return_holds(store: Arc<dyn WorkflowStore>) {
    let effects = Effects::default();
    let step = |name: &'static str| recorded(&effects, name);
    let d = effects.clone();
    let def = WorkflowDef::new("offboard")
        .step(step("suspend"))
        .step(step("grace").not_before(|input| {
            let ms = input["until_ms"].as_u64()?;
            Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
        }))
        .step(step("destroy").point_of_no_return())
        .step(
            Step::new("sweep", move |ctx| {
                let d = d.clone();
                async move {
                    if ctx.attempt == 1 {
                        d.push("sweep failed");
                        return Err(StepError::fatal("the bucket server said no"));
                    }
                    d.push("sweep");
                    Ok(())
                }
            })
            .attempts(1),
        );
    let engine = Workflows::new(store.clone(), [def]);
    let ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };

    // In its grace period: it waits, uses no attempt, is not stuck, and a
    // cancellation still undoes what was done.
    let until = SystemTime::now() + Duration::from_secs(3600);
    let id = engine
        .start(
            "offboard",
            TenantId::new_v4(),
            json!({ "until_ms": ms(until) }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(engine.advance(id).await.unwrap(), Advanced::More);
    let Advanced::Wait(when) = engine.advance(id).await.unwrap() else {
        panic!("the grace step ran before its time");
    };
    assert_eq!(ms(when), ms(until));
    let record = engine.get(id).await.unwrap();
    assert_eq!(record.steps[1].state, StepState::Pending);
    assert_eq!(record.steps[1].attempts, 0);
    assert!(
        engine
            .stuck(until + Duration::from_secs(1))
            .await
            .unwrap()
            .iter()
            .all(|s| s.workflow.id != id)
    );
    engine.cancel(id, "operator:ada").await.unwrap();
    assert_eq!(
        drive(&engine, id).await.last(),
        Some(&Advanced::Finished(WorkflowState::Cancelled))
    );
    assert_eq!(effects.all(), ["suspend", "undo suspend"]);

    // Past the grace and the point of no return: no cancelling, and the
    // failed step is tried again (beyond its attempts) instead of undoing.
    let effects_before = effects.all().len();
    let id = engine
        .start(
            "offboard",
            TenantId::new_v4(),
            json!({ "until_ms": 0 }),
            None,
        )
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(engine.advance(id).await.unwrap(), Advanced::More);
    }
    assert!(matches!(
        engine.advance(id).await.unwrap(),
        Advanced::Retry { attempt: 1, .. }
    ));
    let refused = engine.cancel(id, "operator:ada").await.unwrap_err();
    assert!(
        refused.to_string().contains("destroy"),
        "names the point of no return: {refused}"
    );
    assert_eq!(
        drive(&engine, id).await.last(),
        Some(&Advanced::Finished(WorkflowState::Succeeded))
    );
    assert_eq!(
        effects.all()[effects_before..],
        ["suspend", "grace", "destroy", "sweep failed", "sweep"]
    );
}

async fn suite(
    store: Arc<dyn WorkflowStore>,
    queue: Arc<dyn tenantry::jobs::JobQueue>,
    tenants: Tenants,
) {
    the_store_keeps_workflows_and_steps(store.clone()).await;
    the_engine_runs_retries_and_compensates(store.clone()).await;
    a_step_cut_off_mid_way_runs_again_to_one_effect(store.clone()).await;
    a_step_past_its_deadline_is_reported_stuck(store.clone()).await;
    a_grace_period_waits_and_a_point_of_no_return_holds(store.clone()).await;
    the_queue_drives_workflows_to_their_end(store, queue, tenants).await;
}

#[tokio::test]
async fn workflows_conform_on_sqlite() {
    let ((store, queue, tenants), _dir) = sqlite_fixture().await;
    suite(store, queue, tenants).await;
}

#[tokio::test]
async fn workflows_conform_on_postgres() {
    let Some(((store, queue, tenants), _db)) = postgres_fixture().await else {
        return;
    };
    suite(store, queue, tenants).await;
}

/// The queue drives a workflow to its end: each step a system-tenant job,
/// a retryable failure retried with the queue's backoff, a failure
/// compensated, with real workers on a real queue.
async fn the_queue_drives_workflows_to_their_end(
    store: Arc<dyn WorkflowStore>,
    queue: Arc<dyn tenantry::jobs::JobQueue>,
    tenants: Tenants,
) {
    use tenantry::jobs::{Lane, Worker, WorkerOptions};
    let (fine, failing) = (Effects::default(), Effects::default());
    let engine = Workflows::new(
        store.clone(),
        [
            abc("retried", &fine, Some(StepError::retry::<String>), 1),
            abc("failing", &failing, Some(StepError::fatal::<String>), 0),
        ],
    );
    let mut options = WorkerOptions::new(Lane::Lifecycle, "workflow-test");
    options.idle_poll = Duration::from_millis(20);
    options.base_backoff = Duration::from_millis(10);
    let retried = engine
        .launch(&*queue, "retried", TenantId::new_v4(), json!({}), None)
        .await
        .unwrap();
    // However often it is scheduled, one job drives a workflow.
    let system_jobs = async || {
        tenantry::context::run_as_system("test", queue.stats(Lane::Lifecycle))
            .await
            .unwrap()
            .iter()
            .filter(|s| s.tenant.is_system())
            .map(|s| s.queued + s.running)
            .sum::<i64>()
    };
    let before = system_jobs().await;
    engine.schedule(&*queue, retried).await.unwrap();
    engine.schedule(&*queue, retried).await.unwrap();
    assert!(before >= 1);
    assert_eq!(system_jobs().await, before);
    let worker = engine.drive(Worker::new(queue.clone(), tenants, options));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let failed = engine
        .launch(&*queue, "failing", TenantId::new_v4(), json!({}), None)
        .await
        .unwrap();
    for (id, end) in [
        (retried, WorkflowState::Succeeded),
        (failed, WorkflowState::Failed),
    ] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let state = engine.get(id).await.unwrap().state;
            if !state.is_live() {
                assert_eq!(state, end, "workflow {id}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "workflow {id} is still {state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _ = stop.send(());
    running.await.unwrap();
    assert_eq!(fine.all(), ["a", "b", "c failed (attempt 1)", "c"]);
    assert_eq!(
        failing.all(),
        ["a", "b", "c failed (attempt 1)", "undo b", "undo a"]
    );
}

/// The lifecycle lane's migration rebuilds SQLite's job table: the queued
/// jobs stay as they were, and no job id is handed out twice (a reused id
/// would collide with a dead letter's).
#[tokio::test]
async fn the_lifecycle_lane_migration_keeps_jobs_and_their_ids_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("tenantry-wf-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let path = dir.join("control.db");
    let before = lite::CONTROL_MIGRATIONS
        .iter()
        .position(|m| m.name == "lifecycle_lane")
        .unwrap();
    let db = SqliteDatabase::open(&path, 2).unwrap();
    lite::apply_migrations(&db, "control", &lite::CONTROL_MIGRATIONS[..before])
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let insert = "INSERT INTO jobs (owner, lane, kind, payload, run_at, created_at, request_id) \
                  VALUES ('t', 'batch', 'k', '{}', 0, 0, ?1)";
    for n in 0..3 {
        conn.execute(insert, [format!("r{n}")]).unwrap();
    }
    // The newest job finished: its id is gone from the table, not from use.
    conn.execute("DELETE FROM jobs WHERE id = 3", []).unwrap();
    assert!(
        conn.execute(
            "INSERT INTO jobs (owner, lane, kind, payload, run_at, created_at) VALUES ('t', 'lifecycle', 'k', '{}', 0, 0)",
            []
        )
        .is_err(),
        "no lifecycle lane yet"
    );

    lite::apply_migrations(&db, "control", lite::CONTROL_MIGRATIONS)
        .await
        .unwrap();
    let kept: Vec<(i64, String)> = conn
        .prepare("SELECT id, request_id FROM jobs ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, [(1, "r0".to_owned()), (2, "r1".to_owned())]);
    conn.execute(
        "INSERT INTO jobs (owner, lane, kind, payload, run_at, created_at) VALUES ('t', 'lifecycle', 'k', '{}', 0, 0)",
        [],
    )
    .unwrap();
    assert_eq!(conn.last_insert_rowid(), 4, "id 3 is not handed out again");
}

/// Effects of the crash test's steps, in the owner's database: one row per
/// step that took effect (idempotently), one per attempt, and where a child
/// stopped to be killed.
const CRASH_TABLES: &str = "
    CREATE TABLE wf_effects (workflow bigint NOT NULL, step text NOT NULL, PRIMARY KEY (workflow, step));
    CREATE TABLE wf_attempts (workflow bigint NOT NULL, step text NOT NULL, attempt integer NOT NULL);
    CREATE TABLE wf_paused (workflow bigint NOT NULL, step text NOT NULL, phase text NOT NULL);";

const CRASH_STEPS: [&str; 4] = ["s0", "s1", "s2", "s3"];

/// The crash test's workflow: each step logs its attempt, applies its
/// effect (`INSERT … ON CONFLICT DO NOTHING`: idempotent), and — where
/// `pause` (`step:before` or `step:after`) says so, on its first attempt —
/// stops for good to be killed, before or after the effect.
fn crash_def(owner_url: &str, pause: Option<(String, String)>) -> WorkflowDef {
    let mut def = WorkflowDef::new("crash");
    for name in CRASH_STEPS {
        let (url, pause) = (owner_url.to_owned(), pause.clone());
        def = def.step(Step::new(name, move |ctx| {
            let (url, pause) = (url.clone(), pause.clone());
            async move {
                let fail = StepError::retry::<tokio_postgres::Error>;
                let client = tenantry::data::postgres::migrate::connect(&url)
                    .await
                    .map_err(StepError::retry)?;
                let (wf, attempt) = (ctx.workflow.0, ctx.attempt as i32);
                client
                    .execute(
                        "INSERT INTO wf_attempts VALUES ($1, $2, $3)",
                        &[&wf, &name, &attempt],
                    )
                    .await
                    .map_err(fail)?;
                let stop_at = |phase: &str| {
                    attempt == 1 && pause.as_ref().is_some_and(|(s, p)| s == name && p == phase)
                };
                let stop = async |phase: &str| {
                    client
                        .execute(
                            "INSERT INTO wf_paused VALUES ($1, $2, $3)",
                            &[&wf, &name, &phase],
                        )
                        .await
                        .unwrap();
                    std::future::pending::<()>().await;
                };
                if stop_at("before") {
                    stop("before").await;
                }
                client
                    .execute(
                        "INSERT INTO wf_effects VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&wf, &name],
                    )
                    .await
                    .map_err(fail)?;
                if stop_at("after") {
                    stop("after").await;
                }
                Ok(())
            }
        }));
    }
    def
}

/// Child half of the crash test: a lifecycle worker until killed.
#[tokio::test]
#[ignore = "started by the crash test"]
async fn workflow_child() {
    use tenantry::jobs::{Lane, Worker, WorkerOptions};
    let url = std::env::var("WF_CHILD_URL").expect("started by a parent test");
    let app = std::env::var("WF_CHILD_APP_URL").unwrap();
    let pause = std::env::var("WF_CHILD_PAUSE")
        .ok()
        .and_then(|p| p.split_once(':').map(|(s, p)| (s.to_owned(), p.to_owned())));
    let db = PgDatabase::connect(&app, 4).unwrap();
    let queue: Arc<dyn tenantry::jobs::JobQueue> = Arc::new(PgQueue::new(db.clone()));
    let engine = Workflows::new(
        Arc::new(SqlWorkflowStore::new(db.clone())),
        [crash_def(&url, pause)],
    );
    let mut options = WorkerOptions::new(Lane::Lifecycle, format!("child:{}", std::process::id()));
    options.lease = Duration::from_millis(1_000);
    options.idle_poll = Duration::from_millis(20);
    options.base_backoff = Duration::from_millis(10);
    engine
        .drive(Worker::new(
            queue.clone(),
            Tenants::new(Arc::new(SqlTenantStore::new(db))),
            options,
        ))
        .run(std::future::pending())
        .await;
}

/// A worker process killed with SIGKILL inside every step — before its
/// effect and after it, which is also the moment just before the step is
/// recorded done — and the workflow resumed by a fresh process: every
/// workflow ends `succeeded`, every step's effect is there exactly once,
/// and only the step that was cut off ran twice.
#[tokio::test]
async fn a_process_killed_at_every_step_resumes_with_each_effect_once() {
    let Some((db, owner)) = pg_notes::control_database().await else {
        return;
    };
    owner.batch_execute(CRASH_TABLES).await.unwrap();
    let app = PgDatabase::connect(&pg_notes::app_url(&db), 4).unwrap();
    let queue = PgQueue::new(app.clone());
    let engine = Workflows::new(
        Arc::new(SqlWorkflowStore::new(app)),
        [crash_def(db.url(), None)],
    );
    let spawn = |pause: &str| {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["workflow_child", "--exact", "--ignored", "--nocapture"])
            .env("WF_CHILD_URL", db.url())
            .env("WF_CHILD_APP_URL", pg_notes::app_url(&db))
            .env("WF_CHILD_PAUSE", pause)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let count = async |sql: &str, wf: i64| -> i64 {
        owner.query_one(sql, &[&wf]).await.unwrap().get::<_, i64>(0)
    };
    for step in CRASH_STEPS {
        for phase in ["before", "after"] {
            let id = engine
                .launch(&queue, "crash", TenantId::new_v4(), json!({}), None)
                .await
                .unwrap();
            let mut doomed = spawn(&format!("{step}:{phase}"));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while count("SELECT count(*) FROM wf_paused WHERE workflow = $1", id.0).await == 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{step}:{phase} never reached"
                );
                tokio::task::yield_now().await;
            }
            doomed.kill().unwrap(); // SIGKILL: no chance to record anything
            doomed.wait().unwrap();

            let mut heir = spawn("none");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let end = loop {
                let record = engine.get(id).await.unwrap();
                if !record.state.is_live() {
                    break record;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{step}:{phase}: workflow still {} after the restart",
                    record.state
                );
                tokio::task::yield_now().await;
            };
            heir.kill().unwrap();
            heir.wait().unwrap();

            assert_eq!(end.state, WorkflowState::Succeeded, "{step}:{phase}");
            assert_eq!(
                count("SELECT count(*) FROM wf_effects WHERE workflow = $1", id.0).await,
                CRASH_STEPS.len() as i64,
                "{step}:{phase}: every step took effect once"
            );
            for s in &end.steps {
                let expected = if s.name == step { 2 } else { 1 };
                assert_eq!(
                    s.attempts, expected,
                    "{step}:{phase}: {} ran {} times",
                    s.name, s.attempts
                );
            }
        }
    }
}
