//! Fleet migrations on a real PostgreSQL: parallel and canary-first,
//! partial failure and resume, halting, a failed canary, and a runner
//! killed with SIGKILL mid-fleet.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::sync::Mutex;

use common::TestServer;
use reqwest::{Method, StatusCode};
use tenantry::context::Tier;
use tenantry::data::Migration;
use tenantry::data::postgres::fleet::{self, FleetEvent, FleetOptions, FleetReport, FleetTarget};
use tenantry::data::postgres::migrate;
use tenantry_server::migrations::PG_APP_MIGRATIONS;

/// The app's current migration version (before a test adds one).
const CURRENT: i64 = PG_APP_MIGRATIONS.len() as i64;
/// The version a test's extra migration gets.
const NEXT: i64 = CURRENT + 1;

/// The app's migrations plus one more: `sql` as version [`NEXT`].
fn with_v2(sql: &str) -> &'static [Migration] {
    let mut set = PG_APP_MIGRATIONS.to_vec();
    set.push(Migration {
        version: NEXT,
        name: "fleet_test",
        sql: Box::leak(sql.to_owned().into_boxed_str()),
    });
    Box::leak(set.into_boxed_slice())
}

/// Fails where a `fleet_block` table exists in the target's schema.
const BLOCKABLE: &str = "
    DO $$ BEGIN
        IF to_regclass('fleet_block') IS NOT NULL THEN RAISE EXCEPTION 'blocked by fleet_block'; END IF;
    END $$;
    ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';";

async fn server_with_schema_tenants(slugs: &[&str]) -> Option<TestServer> {
    let s = TestServer::postgres().await?;
    for slug in slugs {
        s.seed(slug, tenantry_server::plans::PRO, Tier::Schema)
            .await;
    }
    Some(s)
}

async fn owner(s: &TestServer) -> tokio_postgres::Client {
    migrate::connect(s.pg.as_ref().unwrap().url())
        .await
        .unwrap()
}

async fn run(
    s: &TestServer,
    set: &'static [Migration],
    targets: Vec<FleetTarget>,
    options: FleetOptions,
) -> (FleetReport, Vec<FleetEvent>) {
    let events = Mutex::new(Vec::new());
    let record = |e: &FleetEvent| events.lock().unwrap().push(e.clone());
    let url = s.pg.as_ref().unwrap().url();
    let report = fleet::run(url, "tenantry_app", set, targets, options, &record)
        .await
        .unwrap();
    (report, events.into_inner().unwrap())
}

async fn has_note_column(owner: &tokio_postgres::Client, schema: &str) -> bool {
    let row = owner
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'orders' AND column_name = 'note'",
            &[&schema],
        )
        .await
        .unwrap();
    row.get::<_, i64>(0) == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_canary_first_recorded_and_serving_throughout() {
    let slugs = ["f0", "f1", "f2", "f3", "f4", "f5", "f6"];
    let Some(s) = server_with_schema_tenants(&slugs).await else {
        return;
    };
    // And a database-tier tenant: its own database is a target too.
    let d0 = s
        .seed("d0", tenantry_server::plans::ENTERPRISE, Tier::Database)
        .await;
    let tenantry::data::Database::Postgres(pg) = &s.services.db else {
        unreachable!()
    };
    let d0_database = pg.tenant_database(d0.id);
    let d0_owner = migrate::connect_to(s.pg.as_ref().unwrap().url(), Some(&d0_database))
        .await
        .unwrap();
    let owner = owner(&s).await;
    for client in [&owner, &d0_owner] {
        client.batch_execute("CREATE TABLE public.fleet_log (pid int, schema text); GRANT INSERT ON public.fleet_log TO PUBLIC;").await.unwrap();
    }
    let set = with_v2(
        "ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';
         CREATE INDEX orders_note_idx ON orders (note);
         INSERT INTO public.fleet_log VALUES (pg_backend_pid(), current_schema());",
    );
    let f3 = s.record("f3").await;
    s.services.tenants.set_canary(f3.id, true).await.unwrap();
    let targets = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap();
    assert_eq!(
        targets.len(),
        2 + slugs.len(),
        "the shared schema, every schema tenant and the database tenant"
    );

    // Traffic on every tier while the column is added (expand): all 200.
    let traffic = async {
        let mut statuses = Vec::new();
        for round in 0..10 {
            for slug in ["acme", "f1", "f5", "d0"] {
                let path = if round % 2 == 0 {
                    "/api/orders"
                } else {
                    "/api/users"
                };
                statuses.push(
                    s.as_tenant(slug, Method::GET, path)
                        .send()
                        .await
                        .unwrap()
                        .status(),
                );
            }
        }
        statuses
    };
    let ((report, events), statuses) = tokio::join!(
        run(
            &s,
            set,
            targets,
            FleetOptions {
                concurrency: 3,
                max_failures: 0
            }
        ),
        traffic
    );
    assert!(
        statuses.iter().all(|st| *st == StatusCode::OK),
        "{statuses:?}"
    );

    assert_eq!(report.migrated.len(), 9, "{report:?}");
    assert!(has_note_column(&d0_owner, "public").await);
    assert!(report.failed.is_empty() && report.skipped.is_empty() && !report.halted);
    assert_eq!(
        events[0],
        FleetEvent::Migrated {
            target: "f3".into(),
            applied: 1,
            canary: true
        },
        "the canary goes first"
    );

    // Three workers, three connections: the non-canary targets ran in parallel.
    let pids: i64 = owner
        .query_one(
            "SELECT count(DISTINCT pid) FROM public.fleet_log WHERE schema <> $1",
            &[&tenantry::data::postgres::schema_for(f3.id)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pids, 3);

    let recorded: Vec<(String, Option<i64>)> = owner
        .query("SELECT state, version FROM tenantry.migration_targets", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(recorded.len(), 9);
    assert!(
        recorded
            .iter()
            .all(|(state, version)| state == "ok" && *version == Some(NEXT)),
        "{recorded:?}"
    );

    // A rerun is a fast no-op.
    let targets = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap();
    let (again, _) = run(
        &s,
        set,
        targets,
        FleetOptions {
            concurrency: 3,
            max_failures: 0,
        },
    )
    .await;
    assert_eq!((again.migrated.len(), again.up_to_date.len()), (0, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_recorded_and_a_rerun_migrates_only_them() {
    let Some(s) = server_with_schema_tenants(&["p0", "p1", "p2", "p3"]).await else {
        return;
    };
    let owner = owner(&s).await;
    let schema_of = |slug: &str| {
        let s = &s;
        let slug = slug.to_owned();
        async move {
            let t = s
                .services
                .tenants
                .find(&tenantry::registry::TenantKey::Slug(slug))
                .await
                .unwrap()
                .unwrap();
            tenantry::data::postgres::schema_for(t.id)
        }
    };
    let blocked = [schema_of("p1").await, schema_of("p3").await];
    for schema in &blocked {
        owner
            .batch_execute(&format!("CREATE TABLE {schema}.fleet_block (x int)"))
            .await
            .unwrap();
    }
    let set = with_v2(BLOCKABLE);
    let options = FleetOptions {
        concurrency: 2,
        max_failures: 10,
    };
    let targets = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap();
    let (report, _) = run(&s, set, targets, options).await;

    let mut failed: Vec<&str> = report.failed.iter().map(|(t, _)| t.as_str()).collect();
    failed.sort_unstable();
    assert_eq!(failed, ["p1", "p3"], "{report:?}");
    assert!(
        report
            .failed
            .iter()
            .all(|(_, e)| e.contains("blocked by fleet_block")),
        "{report:?}"
    );
    assert_eq!(report.migrated.len(), 3);
    for schema in &blocked {
        assert!(
            !has_note_column(&owner, schema).await,
            "{schema} is rolled back, not half-migrated"
        );
        let row = owner
            .query_one(
                "SELECT state, version, error FROM tenantry.migration_targets WHERE target = $1",
                &[schema],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "failed");
        assert_eq!(row.get::<_, Option<i64>>(1), Some(CURRENT));
        assert!(row.get::<_, String>(2).contains("blocked by fleet_block"));
    }

    for schema in &blocked {
        owner
            .batch_execute(&format!("DROP TABLE {schema}.fleet_block"))
            .await
            .unwrap();
    }
    let targets = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap();
    let (rerun, _) = run(&s, set, targets, options).await;
    let mut migrated = rerun.migrated.clone();
    migrated.sort_unstable();
    assert_eq!(migrated, ["p1", "p3"], "only the failed targets run again");
    assert_eq!(rerun.up_to_date.len(), 3);
    for schema in &blocked {
        assert!(has_note_column(&owner, schema).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_halts_past_the_failure_threshold() {
    let Some(s) = server_with_schema_tenants(&["h0", "h1", "h2", "h3"]).await else {
        return;
    };
    let owner = owner(&s).await;
    for t in s
        .services
        .tenants
        .list()
        .await
        .unwrap()
        .iter()
        .filter(|t| t.tier == Tier::Schema)
    {
        owner
            .batch_execute(&format!(
                "CREATE TABLE {}.fleet_block (x int)",
                tenantry::data::postgres::schema_for(t.id)
            ))
            .await
            .unwrap();
    }
    let targets = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap();
    // One worker, in order: shared migrates, h0 fails (1 tolerated), h1 fails → halt.
    let (report, _) = run(
        &s,
        with_v2(BLOCKABLE),
        targets,
        FleetOptions {
            concurrency: 1,
            max_failures: 1,
        },
    )
    .await;
    assert!(report.halted);
    assert_eq!(report.migrated, ["shared"]);
    assert_eq!(
        report
            .failed
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        ["h0", "h1"]
    );
    assert_eq!(report.skipped, ["h2", "h3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_canary_stops_the_fleet() {
    let Some(s) = server_with_schema_tenants(&["c0", "c1", "c2"]).await else {
        return;
    };
    let owner = owner(&s).await;
    let c1 = s.record("c1").await;
    owner
        .batch_execute(&format!(
            "CREATE TABLE {}.fleet_block (x int)",
            tenantry::data::postgres::schema_for(c1.id)
        ))
        .await
        .unwrap();
    let targets = tenantry_server::fleet::targets(&s.services, None, &["c1".to_owned()])
        .await
        .unwrap();
    let (report, _) = run(
        &s,
        with_v2(BLOCKABLE),
        targets,
        FleetOptions {
            concurrency: 4,
            max_failures: 100,
        },
    )
    .await;
    assert!(report.halted);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.migrated.is_empty(),
        "nothing runs after a failed canary: {report:?}"
    );
    assert_eq!(report.skipped.len(), 3);
}

const CRASH_SLUGS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
// Slow enough (8 targets × 0.5 s over 2 workers ≥ 2 s) that the kill lands
// mid-fleet even on a loaded machine.
const SLOW_V2: &str =
    "SELECT pg_sleep(0.5); ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT '';";

/// Child half of the crash test: runs the fleet until killed. Ignored in
/// normal runs; the parent starts it with `--ignored` and the database URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "started by runner_killed_mid_fleet"]
async fn crash_child() {
    let url = std::env::var("FLEET_CRASH_URL").expect("started by the crash test");
    let schemas = std::env::var("FLEET_CRASH_SCHEMAS").unwrap();
    let targets = schemas
        .split(',')
        .map(|schema| FleetTarget {
            schema: schema.to_owned(),
            database: None,
            server: None,
            tenant: None,
            label: schema.to_owned(),
            canary: false,
        })
        .collect();
    fleet::run(
        &url,
        "tenantry_app",
        with_v2(SLOW_V2),
        targets,
        FleetOptions {
            concurrency: 2,
            max_failures: 0,
        },
        &|_| {},
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_killed_mid_fleet_leaves_no_half_migrated_target() {
    let Some(s) = server_with_schema_tenants(&CRASH_SLUGS).await else {
        return;
    };
    let owner = owner(&s).await;
    let targets: Vec<FleetTarget> = tenantry_server::fleet::targets(&s.services, None, &[])
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.tenant.is_some())
        .collect();
    let schemas: Vec<String> = targets.iter().map(|t| t.schema.clone()).collect();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env("FLEET_CRASH_URL", s.pg.as_ref().unwrap().url())
        .env("FLEET_CRASH_SCHEMAS", schemas.join(","))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once some targets are done and others are not (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let done: i64 = owner
            .query_one(
                "SELECT count(*) FROM tenantry.migration_targets WHERE version = $1",
                &[&NEXT],
            )
            .await
            .unwrap()
            .get(0);
        if done >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child runner made no progress"
        );
        tokio::task::yield_now().await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut at_v2 = 0;
    for schema in &schemas {
        let version = fleet::current_version(&owner, schema).await.unwrap();
        let note = has_note_column(&owner, schema).await;
        assert!(
            matches!((version, note), (Some(CURRENT), false) | (Some(NEXT), true)),
            "{schema}: version {version:?}, note column {note}"
        );
        at_v2 += usize::from(version == Some(NEXT));
    }
    assert!(
        at_v2 >= 2 && at_v2 < schemas.len(),
        "killed mid-fleet ({at_v2} of {} done)",
        schemas.len()
    );

    let (report, _) = run(
        &s,
        with_v2(SLOW_V2),
        targets,
        FleetOptions {
            concurrency: 4,
            max_failures: 0,
        },
    )
    .await;
    assert_eq!(
        report.migrated.len(),
        schemas.len() - at_v2,
        "the rerun does only what is left"
    );
    assert!(report.failed.is_empty());
    for schema in &schemas {
        assert_eq!(
            fleet::current_version(&owner, schema).await.unwrap(),
            Some(NEXT)
        );
    }
}

/// `tenantry tenants create --tier database` on PostgreSQL creates and
/// migrates the tenant's database before the tenant is active, and
/// `tenantry migrate status` lists that database as a target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_provisions_a_database_tier_tenant() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let url = pg.url().to_owned();
    let data_dir = std::env::temp_dir().join(format!(
        "tenantry-fleet-cli-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let cleanup = data_dir.clone();
    let cli = move |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--database-url", &url]);
        let output = common::tenantry_cli(&data_dir, &all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let cli = std::sync::Arc::new(cli);
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || cli(args))
    };
    let created = run(&["tenants", "create", "--slug", "vault", "--tier", "database"])
        .await
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(record["state"], "active", "{created}");
    assert_eq!(record["tier"], "database");
    let id: tenantry::context::TenantId = record["id"].as_str().unwrap().parse().unwrap();
    let database = tenantry::data::postgres::database_for(pg.name(), id);

    // Its database holds the app's tables at the latest version.
    let own = migrate::connect_to(pg.url(), Some(&database))
        .await
        .unwrap();
    let version = fleet::current_version(&own, "public").await.unwrap();
    assert_eq!(version, PG_APP_MIGRATIONS.last().map(|m| m.version));

    let status = run(&["migrate", "status"]).await.unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("vault\t"))
        .unwrap_or_else(|| panic!("no vault in {status}"));
    assert!(
        line.starts_with(&format!("vault\t{database}\t{CURRENT}\t")),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(cleanup);
}
