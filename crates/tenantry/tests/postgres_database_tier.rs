//! The database tier on a real PostgreSQL: each tenant in its own database,
//! every pool under one connection budget, and dual-write routes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use tenantry::context::{Route, TenantContext, TenantId, Tier};
use tenantry::data::postgres::{PgDatabase, PgPoolOptions, migrate};
use tenantry::data::{DataError, Database};
use tenantry_testkit::PgTestDb;
use tokio::sync::oneshot;

mod pg_notes;

use pg_notes::{APP_ROLE, insert_note};

struct Fixture {
    test_db: PgTestDb,
    owner: tokio_postgres::Client,
    pg: PgDatabase,
    db: Database,
}

/// A migrated shared database and an app-role `PgDatabase` with `options`.
async fn setup(options: PgPoolOptions) -> Option<Fixture> {
    let (test_db, owner, app_url) = pg_notes::notes_database().await?;
    let pg = PgDatabase::connect_with(&app_url, options).unwrap();
    Some(Fixture {
        test_db,
        owner,
        db: Database::Postgres(pg.clone()),
        pg,
    })
}

impl Fixture {
    /// A database-tier tenant with its database created and migrated.
    async fn database_tenant(&self, slug: &str) -> TenantContext {
        let id = TenantId::new_v4();
        let name = self.pg.tenant_database(id);
        pg_notes::notes_tenant_database(&self.owner, &self.test_db, &name).await;
        TenantContext::builder(id, slug)
            .tier(Tier::Database)
            .build()
            .unwrap()
    }

    /// `(tenant_id, body)` of every note in `database` (the shared one when
    /// `None`), read as the owner — past row-level security.
    async fn notes_in(&self, database: Option<&str>) -> Vec<(TenantId, String)> {
        let client = migrate::connect_to(self.test_db.url(), database)
            .await
            .unwrap();
        client
            .query("SELECT tenant_id, body FROM notes ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| (TenantId::from_uuid(row.get::<_, uuid::Uuid>(0)), row.get(1)))
            .collect()
    }

    /// Waits for PostgreSQL's count of app sessions to drop to `limit`: a
    /// closed connection's backend leaves `pg_stat_activity` only once it
    /// has exited, a moment after the client hung up.
    async fn app_sessions_settle_at_most(&self, limit: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let sessions = self.app_sessions().await;
            if sessions <= limit {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{sessions} app sessions, budget {limit}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// App-role sessions open on this test's databases, as PostgreSQL counts them.
    async fn app_sessions(&self) -> i64 {
        let prefix = tenantry::data::postgres::tenant_database_prefix(self.test_db.name());
        self.owner
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE usename = $1 AND (datname = $2 OR starts_with(datname, $3))",
                &[&APP_ROLE, &self.test_db.name(), &prefix],
            )
            .await
            .unwrap()
            .get(0)
    }
}

async fn count_notes(db: &Database, tenant: &TenantContext) -> Result<i64, DataError> {
    tenant
        .clone()
        .scope(async {
            let row = db
                .tenant()?
                .fetch_optional("SELECT count(*) FROM notes", &[])
                .await?;
            row.unwrap().get::<i64>(0)
        })
        .await
}

#[tokio::test]
async fn database_tier_rows_live_in_the_tenants_own_database() {
    let Some(f) = setup(PgPoolOptions::new(4)).await else {
        return;
    };
    let umbrella = f.database_tenant("umbrella").await;
    let acme = TenantContext::builder(TenantId::new_v4(), "acme")
        .build()
        .unwrap();
    insert_note(&f.db, &umbrella, "umbrella 1").await.unwrap();
    insert_note(&f.db, &acme, "acme 1").await.unwrap();

    let own = f.pg.tenant_database(umbrella.tenant_id());
    assert_eq!(
        f.notes_in(Some(&own)).await,
        [(umbrella.tenant_id(), "umbrella 1".to_owned())],
        "tenant_id is kept on database-tier rows too"
    );
    assert_eq!(
        f.notes_in(None).await,
        [(acme.tenant_id(), "acme 1".to_owned())]
    );
    assert_eq!(count_notes(&f.db, &umbrella).await.unwrap(), 1);
    assert_eq!(count_notes(&f.db, &acme).await.unwrap(), 1);
}

/// Holds a transaction of `tenant` open until `release` fires.
fn hold_transaction(
    db: &Database,
    tenant: &TenantContext,
) -> (
    oneshot::Receiver<()>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (opened_tx, opened) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    let (db, tenant) = (db.clone(), tenant.clone());
    let task = tokio::spawn(tenant.scope(async move {
        db.tenant()
            .unwrap()
            .transaction(async |tx| {
                tx.fetch_all("SELECT count(*) FROM notes", &[]).await?;
                opened_tx.send(()).unwrap();
                released.await.unwrap();
                Ok::<_, DataError>(())
            })
            .await
            .unwrap();
    }));
    (opened, release, task)
}

#[tokio::test]
async fn database_tier_connections_never_exceed_the_budget() {
    let mut options = PgPoolOptions::new(2);
    options.acquire_timeout = Duration::from_millis(300);
    let Some(f) = setup(options).await else {
        return;
    };
    let tenants = [
        f.database_tenant("a").await,
        f.database_tenant("b").await,
        f.database_tenant("c").await,
    ];
    // A and B each hold a connection in an open transaction: the budget is spent.
    let (a_opened, a_release, a_task) = hold_transaction(&f.db, &tenants[0]);
    let (b_opened, b_release, b_task) = hold_transaction(&f.db, &tenants[1]);
    a_opened.await.unwrap();
    b_opened.await.unwrap();
    assert_eq!(f.pg.open_connections(), 2);

    // C waits, then gets a clear "unavailable", not a PostgreSQL error.
    let err = insert_note(&f.db, &tenants[2], "c").await.unwrap_err();
    assert!(
        matches!(&err, DataError::Unavailable(m) if m.message().contains("budget")),
        "{err}"
    );
    assert_eq!(f.app_sessions().await, 2);

    // A finishes; its now idle connection is closed to make room for C.
    a_release.send(()).unwrap();
    a_task.await.unwrap();
    insert_note(&f.db, &tenants[2], "c").await.unwrap();
    assert_eq!(f.pg.open_connections(), 2);
    f.app_sessions_settle_at_most(2).await;
    assert_eq!(f.pg.open_tenant_pools(), 3);

    b_release.send(()).unwrap();
    b_task.await.unwrap();
    // Every tenant still reaches its own rows through the shared budget.
    for (tenant, expected) in tenants.iter().zip([0, 0, 1]) {
        assert_eq!(count_notes(&f.db, tenant).await.unwrap(), expected);
    }
    f.app_sessions_settle_at_most(2).await;
}

#[tokio::test]
async fn a_dual_write_route_writes_every_tier_and_reads_the_primary() {
    let Some(f) = setup(PgPoolOptions::new(4)).await else {
        return;
    };
    let settled = f.database_tenant("moving").await;
    let moving = TenantContext::builder(settled.tenant_id(), "moving")
        .route(Route::dual_write(Tier::Shared, Tier::Database))
        .build()
        .unwrap();
    insert_note(&f.db, &moving, "single statement")
        .await
        .unwrap();
    let returned: i64 = moving
        .clone()
        .scope(async {
            f.db.tenant()?
                .transaction(async |tx| {
                    let row = tx
                        .fetch_optional(
                            "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), 'in a transaction') RETURNING id",
                            &[],
                        )
                        .await?;
                    row.unwrap().get::<i64>(0)
                })
                .await
        })
        .await
        .unwrap();
    assert!(returned > 0);

    let bodies = |notes: Vec<(TenantId, String)>| -> Vec<String> {
        notes.into_iter().map(|(_, body)| body).collect()
    };
    let both = ["single statement", "in a transaction"];
    let own = f.pg.tenant_database(moving.tenant_id());
    assert_eq!(bodies(f.notes_in(None).await), both);
    assert_eq!(bodies(f.notes_in(Some(&own)).await), both);

    // Reads come from the primary alone: emptying the mirror changes nothing.
    migrate::connect_to(f.test_db.url(), Some(&own))
        .await
        .unwrap()
        .batch_execute("DELETE FROM notes")
        .await
        .unwrap();
    assert_eq!(count_notes(&f.db, &moving).await.unwrap(), 2);
    assert_eq!(count_notes(&f.db, &settled).await.unwrap(), 0);
}
