//! A tier move whose server process is killed (SIGKILL) inside every step
//! — before the step's effect, and after it but before it is recorded
//! done — and carried on by a fresh process: every move ends cut over,
//! with every row there once, and the cut-off step run again.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::ServerProcess;
use tenantry::context::Tier;
use tenantry::registry::TenantKey;
use tenantry::workflow::{StepState, WorkflowState};
use tenantry_server::lifecycle::tier_move;

const STEPS: [&str; 6] = [
    "provision",
    "copy",
    "dual_write",
    "verify",
    "cutover",
    "retire",
];

/// The tenant's rows per table, counted on the shared tier or in its own
/// database, as the owner scoped to it.
async fn rows(url: &str, tenant: tenantry::TenantId, tier: Tier, db_name: &str) -> (i64, i64) {
    let url = match tier {
        Tier::Database => url.replace(&url[url.rfind('/').unwrap() + 1..], db_name),
        _ => url.to_owned(),
    };
    let owner = tenantry::data::postgres::migrate::connect(&url)
        .await
        .unwrap();
    // The test's owner may bypass row-level security: filter by hand too.
    owner
        .batch_execute(&format!("SET app.tenant_id = '{tenant}'"))
        .await
        .unwrap();
    let count = async |table: &str| -> i64 {
        owner
            .query_one(
                &format!("SELECT count(*) FROM {table} WHERE tenant_id = '{tenant}'"),
                &[],
            )
            .await
            .unwrap()
            .get(0)
    };
    (count("orders").await, count("invoices").await)
}

#[tokio::test]
async fn a_move_killed_at_every_step_resumes_and_completes() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!(
        "tenantry-move-crash-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let url = pg.url().to_owned();
    let secret = "move-crash-test-secret-0123456789abcdef";
    let args = ["--database-url", url.as_str(), "--jwt-secret", secret];
    let mut first = Some(ServerProcess::start(
        &dir,
        &[&args[..], &["--demo"]].concat(),
    ));
    let settings = tenantry_server::settings::Settings {
        database_url: Some(url.clone()),
        data_dir: Some(dir.clone()),
        jwt_secret: Some(secret.into()),
        ..tenantry_server::settings::Settings::default()
    };
    let services = tenantry_server::app::connect(&settings.resolve().unwrap())
        .await
        .unwrap();
    let lifecycle = tenantry_server::lifecycle::Lifecycle::new(&services);
    let acme = services
        .tenants
        .find(&TenantKey::Slug("acme".into()))
        .await
        .unwrap()
        .unwrap();
    let database = match &services.db {
        tenantry::data::Database::Postgres(db) => db.tenant_database(acme.id),
        _ => unreachable!("a PostgreSQL server"),
    };
    let expected = rows(&url, acme.id, Tier::Shared, &database).await;
    assert!(expected.0 > 0, "the demo seeds orders");
    drop(first.take());

    let mut tier = Tier::Shared;
    for step in STEPS {
        for phase in ["before", "after"] {
            let to = if tier == Tier::Shared {
                Tier::Database
            } else {
                Tier::Shared
            };
            let marker = dir.join(format!("crashed-{step}-{phase}"));
            let marker_path = marker.to_str().unwrap().to_owned();
            let crash_at = format!("{step}:{phase}");
            let mut doomed = ServerProcess::start_with_env(
                &dir,
                &args,
                &[
                    ("TENANTRY_TEST_CRASH_AT", crash_at.as_str()),
                    ("TENANTRY_TEST_CRASH_FILE", marker_path.as_str()),
                ],
            );
            // Moved by the other processes: not this one's cached record.
            services.tenants.forget_all();
            let record = services
                .tenants
                .find(&TenantKey::Id(acme.id))
                .await
                .unwrap()
                .unwrap();
            let id = tier_move::start(&lifecycle, &record, to, None, Duration::ZERO, false, "test")
                .await
                .unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            while !marker.exists() {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{crash_at} never reached: {:#?}",
                    services.workflow_store.get(id).await.unwrap()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            doomed.kill(); // SIGKILL: nothing recorded after this point

            let heir = ServerProcess::start(&dir, &args);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
            let end = loop {
                let record = services.workflow_store.get(id).await.unwrap().unwrap();
                if !record.state.is_live() {
                    break record;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{crash_at}: the move is still {} after the restart: {record:#?}",
                    record.state
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            drop(heir);
            assert_eq!(end.state, WorkflowState::Succeeded, "{crash_at}: {end:#?}");
            let cut_off = end.steps.iter().find(|s| s.name == step).unwrap();
            assert_eq!(cut_off.state, StepState::Done);
            assert!(
                cut_off.attempts >= 2,
                "{crash_at}: the cut-off step ran again ({} attempts)",
                cut_off.attempts
            );
            tier = to;
            assert_eq!(
                rows(&url, acme.id, tier, &database).await,
                expected,
                "{crash_at}: every row there, once"
            );
            let other = if tier == Tier::Shared {
                Tier::Database
            } else {
                Tier::Shared
            };
            if other == Tier::Shared {
                assert_eq!(rows(&url, acme.id, Tier::Shared, &database).await, (0, 0));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
