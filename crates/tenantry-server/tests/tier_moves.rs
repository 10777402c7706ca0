//! Tier moves, the server's part so far: every serving process heartbeats
//! and acknowledges the route version it serves once a tenant's route
//! changes, so a move can wait for all of them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::context::Tier;
use tenantry::registry::RouteChange;
use tenantry_server::lifecycle::tier_move;

/// Waits (bounded) until some live process lags behind `version` of
/// `tenant`'s route (`some` true), or none does (`some` false).
async fn until_lagging(s: &TestServer, tenant: tenantry::TenantId, version: i64, some: bool) {
    let alive = Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let lagging = s
            .services
            .route_acks
            .lagging(tenant, version, alive)
            .await
            .unwrap();
        if lagging.is_empty() != some {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lagging on version {version}: {lagging:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serving_process_acknowledges_a_new_route() {
    let s = TestServer::sqlite().await;
    let acme = s.record("acme").await;
    // The process is alive and has not served a route it was never given.
    until_lagging(&s, acme.id, i64::MAX, true).await;
    let moving = s
        .services
        .tenants
        .set_route(
            acme.id,
            RouteChange::mirrored(Tier::Shared, Tier::Database, false, None),
        )
        .await
        .unwrap();
    assert_eq!(moving.route_version, 1);
    // It serves the new route, and says so.
    until_lagging(&s, acme.id, moving.route_version, false).await;
    let back = s
        .services
        .tenants
        .set_route(acme.id, RouteChange::settled(Tier::Shared, None))
        .await
        .unwrap();
    until_lagging(&s, acme.id, back.route_version, false).await;
}

/// Keeps writing for `slug` (an order, then its invoice) until told to
/// stop; every write the server acknowledged, as (order id, invoice id),
/// and every failed request.
/// Every acknowledged (order id, invoice id), and every failed request.
type Written = (Vec<(String, String)>, Vec<String>);

fn writer(
    s: &TestServer,
    slug: &'static str,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<Written>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let orders = s.as_tenant(slug, Method::POST, "/api/orders");
    let invoices = s.as_tenant(slug, Method::POST, "/api/invoices");
    let task = tokio::spawn(async move {
        let (mut acked, mut failed) = (Vec::new(), Vec::new());
        let mut n = 0;
        // About a hundred requests a second: well inside the plan's rate.
        let mut pace = tokio::time::interval(Duration::from_millis(20));
        while !*stopped.borrow() {
            pace.tick().await;
            n += 1;
            let order = orders
                .try_clone()
                .unwrap()
                .json(&json!({ "customer": format!("mover {n}"), "total_cents": n }));
            let (status, order) = status_and_json(order).await;
            if status != StatusCode::CREATED {
                failed.push(format!("order {n}: {status} {order}"));
                continue;
            }
            let order_id = order["id"].as_str().unwrap().to_owned();
            let invoice = invoices
                .try_clone()
                .unwrap()
                .json(&json!({ "order_id": order_id }));
            let (status, invoice) = status_and_json(invoice).await;
            if status != StatusCode::CREATED {
                failed.push(format!("invoice {n}: {status} {invoice}"));
                continue;
            }
            acked.push((order_id, invoice["id"].as_str().unwrap().to_owned()));
        }
        (acked, failed)
    });
    (stop, task)
}

/// Moves `slug` to `to` (retention 0, so the source is retired at once)
/// while a writer writes for it; checks that every acknowledged write is
/// there afterwards, read through the API from the new tier.
async fn move_while_writing(s: &TestServer, slug: &'static str, to: Tier) {
    move_while_writing_on(s, slug, to, None).await;
}

/// [`move_while_writing`], the database tier on `server` when given.
async fn move_while_writing_on(s: &TestServer, slug: &'static str, to: Tier, server: Option<&str>) {
    let before = s.record(slug).await;
    let (stop, task) = writer(s, slug);
    // Let the writer get going before the move starts (bounded).
    let (_, first) = status_and_json(s.as_tenant(slug, Method::GET, "/api/orders")).await;
    assert!(first["orders"].is_array(), "{first}");
    let id = tier_move::start(
        &s.lifecycle,
        &before,
        to,
        server.map(str::to_owned),
        Duration::ZERO,
        false,
        "test",
    )
    .await
    .unwrap();
    let finished = tenantry_server::lifecycle::finished(&s.lifecycle, id);
    let Ok(done) = tokio::time::timeout(Duration::from_secs(180), finished).await else {
        let workflows = s.services.workflow_store.get(id).await.unwrap();
        panic!("the move to {to} did not end: {workflows:#?}");
    };
    let done = done.unwrap();
    stop.send(true).unwrap();
    let (acked, failed) = task.await.unwrap();
    assert_eq!(
        done.state,
        tenantry::workflow::WorkflowState::Succeeded,
        "{:?} {:#?}",
        done.error,
        done.steps
    );
    assert!(
        failed.is_empty(),
        "{} failed writes during the move, the first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(!acked.is_empty(), "the writer wrote nothing");
    let after = s.record(slug).await;
    assert_eq!((after.tier, after.moving_to), (to, None));
    assert!(after.route_version > before.route_version);
    // Every acknowledged write is there, read from the new tier alone.
    let ctx = tenantry_server::demo::context_for(&after).unwrap();
    let db = s.services.db.clone();
    let missing = ctx
        .scope(async move {
            let mut missing = Vec::new();
            for (order, invoice) in &acked {
                let sql = "SELECT COUNT(*) FROM orders o JOIN invoices i ON i.order_id = o.id \
                           WHERE o.id = $1 AND i.id = $2 AND o.tenant_id = tenantry_current_tenant()";
                let row = db
                    .tenant()
                    .unwrap()
                    .fetch_one(sql, tenantry::params![uuid(order), uuid(invoice)])
                    .await
                    .unwrap();
                if row.get::<i64>(0).unwrap() != 1 {
                    missing.push(order.clone());
                }
            }
            missing
        })
        .await;
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
}

fn uuid(text: &str) -> uuid::Uuid {
    text.parse().unwrap()
}

/// Rows of `slug` per tenant table, counted on `tier` alone.
async fn rows_on(s: &TestServer, slug: &str, tier: Tier) -> u64 {
    let record = s.record(slug).await;
    let ctx = tenantry::context::TenantContext::builder(record.id, slug)
        .route(tenantry::context::Route::single(tier))
        .build()
        .unwrap();
    let db = s.services.db.clone();
    ctx.scope(async move {
        let mut total = 0;
        for table in ["orders", "invoices", "users", "counters"] {
            let sql: &'static str = match table {
                "orders" => {
                    "SELECT COUNT(*) FROM orders WHERE tenant_id = tenantry_current_tenant()"
                }
                "invoices" => {
                    "SELECT COUNT(*) FROM invoices WHERE tenant_id = tenantry_current_tenant()"
                }
                "users" => "SELECT COUNT(*) FROM users WHERE tenant_id = tenantry_current_tenant()",
                _ => "SELECT COUNT(*) FROM counters WHERE tenant_id = tenantry_current_tenant()",
            };
            let row = db.tenant().unwrap().fetch_one(sql, &[]).await.unwrap();
            total += row.get::<i64>(0).unwrap().unsigned_abs();
        }
        total
    })
    .await
}

/// The server on PostgreSQL with a tight connection budget (8): a move's
/// transactions take a connection on each tier, one after the other, and
/// must not end up holding the whole budget waiting for their second.
async fn postgres_server() -> Option<TestServer> {
    TestServer::postgres_with(|settings| settings.pool_size = Some(8)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_shared_to_database_and_back_on_sqlite_while_it_writes() {
    let s = TestServer::sqlite().await;
    let globex_before = rows_on(&s, "globex", Tier::Shared).await;
    move_while_writing(&s, "acme", Tier::Database).await;
    // The shared tier no longer holds acme's rows; the file does.
    assert_eq!(rows_on(&s, "acme", Tier::Shared).await, 0);
    assert!(rows_on(&s, "acme", Tier::Database).await > 0);
    move_while_writing(&s, "acme", Tier::Shared).await;
    assert!(rows_on(&s, "acme", Tier::Shared).await > 0);
    let file = s.data_dir.join("tenants");
    let left: Vec<_> = std::fs::read_dir(&file)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let acme = s.record("acme").await.id.to_string();
    assert!(
        !left.iter().any(|f| f.to_string_lossy().contains(&acme)),
        "the retired file is gone: {left:?}"
    );
    // The neighbour was never touched.
    assert_eq!(rows_on(&s, "globex", Tier::Shared).await, globex_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_through_every_tier_on_postgres_while_it_writes() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let Some(s) = postgres_server().await else {
        return;
    };
    let globex_before = rows_on(&s, "globex", Tier::Shared).await;
    move_while_writing(&s, "acme", Tier::Schema).await;
    assert_eq!(rows_on(&s, "acme", Tier::Shared).await, 0);
    move_while_writing(&s, "acme", Tier::Database).await;
    move_while_writing(&s, "acme", Tier::Shared).await;
    assert!(rows_on(&s, "acme", Tier::Shared).await > 0);
    move_while_writing(&s, "acme", Tier::Database).await;
    move_while_writing(&s, "acme", Tier::Schema).await;
    move_while_writing(&s, "acme", Tier::Shared).await;
    assert_eq!(rows_on(&s, "globex", Tier::Shared).await, globex_before);
}

/// Waits (bounded) until move `id`'s record satisfies `ready`; the record.
async fn until_move(
    s: &TestServer,
    id: tenantry::workflow::WorkflowId,
    what: &str,
    ready: impl Fn(&tenantry::workflow::WorkflowRecord) -> bool,
) -> tenantry::workflow::WorkflowRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let record = s.services.workflow_store.get(id).await.unwrap().unwrap();
        if ready(&record) {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {record:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn step_done(record: &tenantry::workflow::WorkflowRecord, name: &str) -> bool {
    record
        .steps
        .iter()
        .any(|s| s.name == name && s.state == tenantry::workflow::StepState::Done)
}

/// Runs `sql` as `slug` on `tier` alone: behind a move's back.
async fn on_tier_alone(s: &TestServer, slug: &str, tier: Tier, sql: &'static str, id: &str) -> u64 {
    let record = s.record(slug).await;
    let ctx = tenantry::context::TenantContext::builder(record.id, slug)
        .route(tenantry::context::Route::single(tier))
        .build()
        .unwrap();
    let db = s.services.db.clone();
    let id = uuid(id);
    ctx.scope(async move {
        db.tenant()
            .unwrap()
            .execute(sql, tenantry::params![id])
            .await
            .unwrap()
    })
    .await
}

/// A row changed in the target behind the move's back (not through the
/// dual-write) is caught by verify: the move stops before the cutover with
/// the row's key in its report, the tenant still served from the source;
/// `--resume` repairs the target from the source and the move completes.
async fn a_mismatch_stops_the_move_until_resumed(s: &TestServer) {
    let acme = s.record("acme").await;
    let order = s.ids("acme", "/api/orders", "orders").await.remove(0);
    let id = tier_move::start(
        &s.lifecycle,
        &acme,
        Tier::Database,
        None,
        Duration::ZERO,
        true,
        "test",
    )
    .await
    .unwrap();
    until_move(s, id, "the move to reach the hold", |r| {
        step_done(r, "dual_write")
    })
    .await;
    let changed = on_tier_alone(
        s,
        "acme",
        Tier::Database,
        "UPDATE orders SET customer = 'tampered' WHERE id = $1",
        &order,
    )
    .await;
    assert_eq!(changed, 1);
    tier_move::order(&s.lifecycle, &acme, tier_move::MoveOrder::Cutover, "test")
        .await
        .unwrap();
    let stopped = until_move(s, id, "verify to stop the move", |r| {
        tier_move::stopped(r).is_some()
    })
    .await;
    let report = tier_move::stopped(&stopped).unwrap();
    assert!(
        report.contains("orders") && report.contains(&order),
        "{report}"
    );
    assert!(!step_done(&stopped, "cutover"));
    let still = s.record("acme").await;
    assert_eq!(
        (still.tier, still.moving_to),
        (Tier::Shared, Some(Tier::Database))
    );
    let (_, body) =
        status_and_json(s.as_tenant("acme", Method::GET, &format!("/api/orders/{order}"))).await;
    assert_ne!(
        body["customer"], "tampered",
        "reads come from the source: {body}"
    );

    tier_move::order(&s.lifecycle, &acme, tier_move::MoveOrder::Resume, "test")
        .await
        .unwrap();
    let done = until_move(s, id, "the resumed move to end", |r| !r.state.is_live()).await;
    assert_eq!(
        done.state,
        tenantry::workflow::WorkflowState::Succeeded,
        "{done:#?}"
    );
    let moved = s.record("acme").await;
    assert_eq!((moved.tier, moved.moving_to), (Tier::Database, None));
    let (_, body) =
        status_and_json(s.as_tenant("acme", Method::GET, &format!("/api/orders/{order}"))).await;
    assert!(
        body["customer"].is_string() && body["customer"] != "tampered",
        "{body}"
    );
}

/// `--rollback` after the cutover (the source kept for its retention
/// period): the source is caught up with what was written on the target
/// since, the tenant is routed back, the target is dropped, and nothing
/// written at any point is lost.
async fn a_rollback_after_the_cutover_keeps_every_write(s: &TestServer) {
    let acme = s.record("acme").await;
    let week = Duration::from_secs(7 * 24 * 3600);
    let id = tier_move::start(
        &s.lifecycle,
        &acme,
        Tier::Database,
        None,
        week,
        false,
        "test",
    )
    .await
    .unwrap();
    until_move(s, id, "the cutover", |r| step_done(r, "cutover")).await;
    assert_eq!(s.record("acme").await.tier, Tier::Database);
    // Written on the target alone, after the cutover.
    let (status, order) = status_and_json(
        s.as_tenant("acme", Method::POST, "/api/orders")
            .json(&json!({ "customer": "after the cutover", "total_cents": 7 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order = order["id"].as_str().unwrap().to_owned();
    let target_exists = |s: &TestServer| {
        let services = s.services.clone();
        async move {
            let record = services
                .tenants
                .find(&tenantry::registry::TenantKey::Slug("acme".into()))
                .await
                .unwrap()
                .unwrap();
            let mut on = (*record).clone();
            on.tier = Tier::Database;
            tenantry_server::provision::target_exists(&services, &on)
                .await
                .unwrap()
        }
    };
    assert!(target_exists(s).await);

    tier_move::order(&s.lifecycle, &acme, tier_move::MoveOrder::Rollback, "test")
        .await
        .unwrap();
    let done = until_move(s, id, "the rollback", |r| !r.state.is_live()).await;
    assert_ne!(
        done.state,
        tenantry::workflow::WorkflowState::Succeeded,
        "{done:#?}"
    );
    let back = s.record("acme").await;
    assert_eq!((back.tier, back.moving_to), (Tier::Shared, None));
    let (status, body) =
        status_and_json(s.as_tenant("acme", Method::GET, &format!("/api/orders/{order}"))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the post-cutover write came back: {body}"
    );
    assert_eq!(body["customer"], "after the cutover");
    assert!(!target_exists(s).await, "the target is dropped");
    // The tenant moves again from scratch afterwards.
    move_while_writing(s, "acme", Tier::Database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_rollback_on_sqlite() {
    let s = TestServer::sqlite().await;
    a_mismatch_stops_the_move_until_resumed(&s).await;
    let s = TestServer::sqlite().await;
    a_rollback_after_the_cutover_keeps_every_write(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_rollback_on_postgres() {
    let Some(s) = postgres_server().await else {
        return;
    };
    a_mismatch_stops_the_move_until_resumed(&s).await;
    drop(s);
    let Some(s) = postgres_server().await else {
        return;
    };
    a_rollback_after_the_cutover_keeps_every_write(&s).await;
}

/// To a database on another server and back: the tenant's record names
/// the server while its database is there, and not after it has left.
/// (The machine has one PostgreSQL; "another server" is the same cluster
/// through its Unix socket, as in `database_server.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_to_a_database_on_another_server_and_back() {
    let socket = std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432");
    if !socket.exists() {
        tenantry_testkit::require_service("PostgreSQL's Unix socket", "it is missing");
        return;
    }
    let Some(s) = postgres_server().await else {
        return;
    };
    let server = "postgres://%2Fvar%2Frun%2Fpostgresql:5432";
    move_while_writing_on(&s, "acme", Tier::Database, Some(server)).await;
    assert_eq!(
        s.record("acme").await.database_server.as_deref(),
        Some(server)
    );
    assert_eq!(rows_on(&s, "acme", Tier::Shared).await, 0);
    move_while_writing(&s, "acme", Tier::Shared).await;
    assert_eq!(s.record("acme").await.database_server, None);
    assert!(rows_on(&s, "acme", Tier::Shared).await > 0);
}

/// The operator's commands, in the embedded set-up (SQLite, no server
/// running): `tenants move` runs the move here and prints where it stands;
/// asked again, it says what it is; bad requests are refused with a reason.
#[test]
fn the_move_command_moves_and_reports() {
    let dir = std::env::temp_dir().join(format!(
        "tenantry-move-cli-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let run = |args: &[&str]| common::tenantry_cli_text(&dir, args);
    let (ok, _, err) = run(&["tenants", "create", "--slug", "acme"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&[
        "tenants",
        "move",
        "acme",
        "--to",
        "database",
        "--retention",
        "0",
    ]);
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["tier"], "database", "{shown}");
    assert_eq!(shown["state"], "succeeded", "{shown}");
    assert!(
        shown["move"]
            .as_str()
            .unwrap()
            .contains("shared → database"),
        "{shown}"
    );
    let (ok, out, _) = run(&["tenants", "move", "acme"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["tier"],
        "database"
    );
    // Refusals name their reason.
    let (ok, _, err) = run(&["tenants", "move", "acme", "--to", "database"]);
    assert!(!ok && err.contains("on the database tier already"), "{err}");
    let (ok, _, err) = run(&["tenants", "move", "acme", "--to", "schema"]);
    assert!(
        !ok && err.contains("does not serve the schema tier"),
        "{err}"
    );
    let (ok, _, err) = run(&["tenants", "move", "acme", "--rollback"]);
    assert!(!ok && err.contains("no tier move running"), "{err}");
    let (ok, _, err) = run(&[
        "tenants",
        "move",
        "acme",
        "--to",
        "shared",
        "--database-server",
        "postgres://x:5432",
    ]);
    assert!(
        !ok && err.contains("--database-server is for a move to the database tier"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
