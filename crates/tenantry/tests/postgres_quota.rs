//! Per-tenant connection quotas on a real PostgreSQL: a tenant holding
//! connections (long transactions) waits for its own, and another tenant is
//! served — where, without the quota, the same load locks it out.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use tenantry::context::{TenantContext, TenantId};
use tenantry::data::postgres::{PgDatabase, PgPoolOptions};
use tenantry::data::{DataError, Database};
use tokio::sync::{mpsc, watch};

mod pg_notes;

fn shared_tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

/// Opens `count` transactions as `tenant` and keeps them open until the
/// returned sender is dropped; returns once every one has begun.
async fn hold_transactions(
    db: &Database,
    tenant: &TenantContext,
    count: usize,
) -> watch::Sender<()> {
    let (release, released) = watch::channel(());
    let (began, mut begun) = mpsc::channel(count);
    for _ in 0..count {
        let (db, tenant, began, mut released) =
            (db.clone(), tenant.clone(), began.clone(), released.clone());
        tokio::spawn(tenant.scope(async move {
            db.tenant()?
                .transaction(async |tx| {
                    tx.execute("SELECT 1", &[]).await?;
                    began.send(()).await.unwrap();
                    // Held until the test drops the sender.
                    let _ = released.changed().await;
                    Ok::<_, DataError>(())
                })
                .await
        }));
    }
    for _ in 0..count {
        begun.recv().await.unwrap();
    }
    release
}

async fn one_query(db: &Database, tenant: &TenantContext) -> Result<(), DataError> {
    tenant
        .clone()
        .scope(async {
            db.tenant()?.fetch_optional("SELECT 1", &[]).await?;
            Ok(())
        })
        .await
}

fn options(per_tenant_shared: usize) -> PgPoolOptions {
    let mut options = PgPoolOptions::new(4);
    options.per_tier = 4;
    options.per_tenant_shared = per_tenant_shared;
    options.acquire_timeout = Duration::from_millis(300);
    options
}

#[tokio::test]
async fn a_tenant_holding_its_quota_waits_for_its_own_and_others_are_served() {
    let Some((_test_db, _owner, app_url)) = pg_notes::notes_database().await else {
        return;
    };
    let (noisy, quiet) = (shared_tenant("noisy"), shared_tenant("quiet"));

    // The control: with a quota as large as the pool, noisy takes it all.
    let unguarded = Database::Postgres(PgDatabase::connect_with(&app_url, options(4)).unwrap());
    let release = hold_transactions(&unguarded, &noisy, 4).await;
    let locked_out = one_query(&unguarded, &quiet).await;
    assert!(
        matches!(locked_out, Err(DataError::Unavailable(_))),
        "without a quota quiet waits behind noisy: {locked_out:?}"
    );
    drop(release);

    // With a quota of 2, noisy's third connection waits for one of its own…
    let guarded = Database::Postgres(PgDatabase::connect_with(&app_url, options(2)).unwrap());
    let release = hold_transactions(&guarded, &noisy, 2).await;
    match one_query(&guarded, &noisy).await {
        Err(DataError::Unavailable(message)) => assert!(
            message
                .message()
                .contains("this tenant's 2 database connections"),
            "{message}"
        ),
        other => panic!("noisy is over its quota: {other:?}"),
    }
    // …while quiet is served.
    one_query(&guarded, &quiet).await.unwrap();
    // Noisy's connections back, noisy is served again.
    drop(release);
    one_query(&guarded, &noisy).await.unwrap();
}

/// A plan's `db_connections` sizes its tenants' quota; plans without one
/// keep the pool's default.
#[tokio::test]
async fn a_plan_sizes_its_tenants_connection_quota() {
    use tenantry::plans::{Plan, PlanCatalog, PlanSpec};
    let Some((_test_db, _owner, app_url)) = pg_notes::notes_database().await else {
        return;
    };
    let (starter, scale) = (Plan::from_static("starter"), Plan::from_static("scale"));
    let catalog = PlanCatalog::new(
        starter.clone(),
        [
            (
                starter.clone(),
                PlanSpec {
                    db_connections: Some(2),
                    ..PlanSpec::default()
                },
            ),
            (scale.clone(), PlanSpec::default()),
        ],
    )
    .unwrap();
    let db = Database::Postgres(
        PgDatabase::connect_with(&app_url, options(4))
            .unwrap()
            .with_plan_connections(&catalog),
    );
    let on = |slug: &str, plan: &Plan| {
        TenantContext::builder(TenantId::new_v4(), slug)
            .plan(plan.clone())
            .build()
            .unwrap()
    };
    let (small, big) = (on("small", &starter), on("big", &scale));

    let release = hold_transactions(&db, &small, 2).await;
    assert!(
        matches!(one_query(&db, &small).await, Err(DataError::Unavailable(_))),
        "the starter plan's quota is 2"
    );
    drop(release);

    let release = hold_transactions(&db, &big, 3).await;
    one_query(&db, &big).await.unwrap();
    drop(release);

    // A plan change applies at once: the same tenant, moved up while its
    // small quota is in use, gets the bigger plan's room.
    let release = hold_transactions(&db, &small, 2).await;
    let moved_up = TenantContext::builder(small.tenant_id(), "small")
        .plan(scale.clone())
        .build()
        .unwrap();
    one_query(&db, &moved_up).await.unwrap();
    drop(release);
}
