//! Through PgBouncer in transaction mode: consecutive transactions of one
//! connection run on different server connections, so nothing may depend
//! on a statement prepared earlier. With `Statements::Unnamed` every tier,
//! every parameter kind, transactions and the job queue work through one
//! small pool under load from many tenants, and no tenant sees another's
//! rows.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tenantry::context::{TenantContext, TenantId, Tier};
use tenantry::data::postgres::{PgDatabase, PgPoolOptions, Statements, migrate, schema_for};
use tenantry::data::{Database, Migration, Value};
use tenantry::jobs::{JobEnvelope, Lane, PgQueue};
use tenantry::params;
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;
use tenantry_testkit::PgTestDb;
use tenantry_testkit::jobs::{JobFixture, conformance, create_tenant, pg_forge_row};
use tenantry_testkit::pgbouncer::PgBouncer;

mod pg_notes;

use pg_notes::{APP_ROLE, NOTES};

/// Server connections PgBouncer keeps per database and user: far fewer
/// than the clients, so transactions keep changing connections.
const POOLER_CONNECTIONS: usize = 3;

/// One column of every kind a `Value` binds to, in the shared tier.
const KINDS: &[Migration] = &[Migration {
    version: 2,
    name: "kinds",
    sql: "CREATE TABLE kinds (
              tenant_id uuid NOT NULL DEFAULT tenantry_current_tenant(),
              ref uuid NOT NULL, small int4 NOT NULL, amount numeric(12, 2) NOT NULL,
              ratio float8, flag bool NOT NULL, at timestamptz NOT NULL, data bytea NOT NULL,
              note text);
          ALTER TABLE kinds ENABLE ROW LEVEL SECURITY;
          ALTER TABLE kinds FORCE ROW LEVEL SECURITY;
          CREATE POLICY tenant_isolation ON kinds
              USING (tenant_id = tenantry_current_tenant())
              WITH CHECK (tenant_id = tenantry_current_tenant());",
}];

struct Fixture {
    test_db: PgTestDb,
    owner: tokio_postgres::Client,
    pooler: PgBouncer,
    pg: PgDatabase,
}

async fn setup() -> Option<Fixture> {
    let (test_db, mut owner, _) = pg_notes::notes_database().await?;
    migrate::apply(&mut owner, "public", KINDS, APP_ROLE)
        .await
        .unwrap();
    let pooler = PgBouncer::start(test_db.url(), &["postgres", APP_ROLE], POOLER_CONNECTIONS)?;
    let mut options = PgPoolOptions::new(24);
    options.statements = Statements::Unnamed;
    let pg = PgDatabase::connect_with(&pooler.url(APP_ROLE, test_db.name()), options).unwrap();
    Some(Fixture {
        test_db,
        owner,
        pooler,
        pg,
    })
}

impl Fixture {
    /// A tenant on `tier`, its schema or database created and migrated.
    async fn tenant(&mut self, slug: &str, tier: Tier) -> TenantContext {
        let id = TenantId::new_v4();
        match tier {
            Tier::Shared => {}
            Tier::Schema => {
                migrate::apply(&mut self.owner, &schema_for(id), NOTES, APP_ROLE)
                    .await
                    .unwrap();
            }
            Tier::Database => {
                let name = self.pg.tenant_database(id);
                pg_notes::notes_tenant_database(&self.owner, &self.test_db, &name).await;
            }
        }
        TenantContext::builder(id, slug).tier(tier).build().unwrap()
    }
}

/// The precondition the rest stands on: this PgBouncer really moves a
/// client between server connections, so a statement prepared in one
/// transaction is gone in the next.
#[tokio::test]
async fn the_pooler_loses_statements_prepared_in_an_earlier_transaction() {
    let Some(fx) = setup().await else {
        return;
    };
    let url = fx.pooler.url("postgres", fx.test_db.name());
    let connect = async || {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    };
    let (mut first, mut second) = (connect().await, connect().await);
    let statement = first.prepare("SELECT 1").await.unwrap();
    // The second client holds the only server connection there is so far,
    // so the first one's next transaction gets a new one.
    let holding = second.transaction().await.unwrap();
    holding.execute("SELECT 1", &[]).await.unwrap();
    let err = first.query(&statement, &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME),
        "{err}"
    );
    holding.rollback().await.unwrap();
    let _ = first.transaction().await.unwrap();
}

#[tokio::test]
async fn many_tenants_on_every_tier_stay_isolated_through_transaction_pooling() {
    let Some(mut fx) = setup().await else {
        return;
    };
    let mut tenants = Vec::new();
    for i in 0..18 {
        let tier = [Tier::Shared, Tier::Schema, Tier::Database][i % 3];
        tenants.push(fx.tenant(&format!("t{i}"), tier).await);
    }
    let db = Database::Postgres(fx.pg.clone());
    const ROUNDS: usize = 15;
    let mut tasks = tokio::task::JoinSet::new();
    for tenant in tenants.clone() {
        let db = db.clone();
        tasks.spawn(tenant.clone().scope(async move {
            for round in 0..ROUNDS {
                let body = format!("{}-{round}", tenant.slug());
                db.tenant()?
                    .execute(
                        "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)",
                        params![body],
                    )
                    .await?;
                let rows = db
                    .tenant()?
                    .fetch_all("SELECT body FROM notes ORDER BY id", &[])
                    .await?;
                let bodies: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
                assert_eq!(bodies.len(), round + 1, "{}: {bodies:?}", tenant.slug());
                assert!(
                    bodies
                        .iter()
                        .all(|b| b.starts_with(&format!("{}-", tenant.slug()))),
                    "{} sees another tenant's rows: {bodies:?}",
                    tenant.slug()
                );
            }
            Ok::<_, tenantry::data::DataError>(())
        }));
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    // Multi-statement transactions: both writes or neither.
    let first = tenants[0].clone();
    let counted = first
        .clone()
        .scope(async {
            let tenant = db.tenant()?;
            let result: Result<(), _> = tenant
                .transaction(async |tx| {
                    tx.execute(
                        "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)",
                        params!["kept?"],
                    )
                    .await?;
                    tx.execute("SELECT 1 / 0", &[]).await.map(drop)
                })
                .await;
            assert!(result.is_err());
            tenant
                .transaction(async |tx| {
                    tx.execute(
                        "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)",
                        params![format!("{}-tx", first.slug())],
                    )
                    .await?;
                    let rows = tx.fetch_all("SELECT count(*) FROM notes", &[]).await?;
                    rows[0].get::<i64>(0)
                })
                .await
        })
        .await
        .unwrap();
    assert_eq!(counted, ROUNDS as i64 + 1);
}

/// Parameters go in text with their types inferred by the server, as a
/// prepared statement's are: text into `uuid`, integers into `int4` and
/// `numeric`; timestamps and bytes in binary.
#[tokio::test]
async fn every_parameter_kind_binds_through_the_pooler() {
    let Some(mut fx) = setup().await else {
        return;
    };
    let tenant = fx.tenant("kinds", Tier::Shared).await;
    let db = Database::Postgres(fx.pg.clone());
    let reference = uuid::Uuid::new_v4();
    let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_000_000_123_456);
    let row = tenant
        .scope(async {
            db.tenant()?
                .execute(
                    "INSERT INTO kinds (ref, small, amount, ratio, flag, at, data, note)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        // Text into a uuid column, as the prepared path converts it.
                        Value::Text(reference.to_string()),
                        Value::Int(-7),
                        Value::Int(1234),
                        Value::Float(f64::INFINITY),
                        Value::Bool(true),
                        Value::Timestamp(at),
                        Value::Blob(vec![0, 255, 10]),
                        Value::Null,
                    ],
                )
                .await?;
            let row = db
                .tenant()?
                .fetch_optional(
                    "SELECT ref, small, amount::text, ratio, flag, at, encode(data, 'hex'), note FROM kinds
                     WHERE ref = $1 AND small = $2 AND at = $3",
                    &[Value::Uuid(reference), Value::Int(-7), Value::Timestamp(at)],
                )
                .await?;
            Ok::<_, tenantry::data::DataError>(row.unwrap())
        })
        .await
        .unwrap();
    assert_eq!(row.get::<uuid::Uuid>(0).unwrap(), reference);
    assert_eq!(row.get::<i32>(1).unwrap(), -7);
    assert_eq!(row.get::<String>(2).unwrap(), "1234.00");
    assert_eq!(row.get::<f64>(3).unwrap(), f64::INFINITY);
    assert!(row.get::<bool>(4).unwrap());
    assert_eq!(row.get::<SystemTime>(5).unwrap(), at);
    assert_eq!(row.get::<String>(6).unwrap(), "00ff0a");
    assert_eq!(row.get::<Option<String>>(7).unwrap(), None);
}

async fn pooled_queue_fixture() -> Option<JobFixture> {
    let (test_db, owner) = pg_notes::control_database().await?;
    let pooler = PgBouncer::start(test_db.url(), &[APP_ROLE], POOLER_CONNECTIONS)?;
    let mut options = PgPoolOptions::new(8);
    options.statements = Statements::Unnamed;
    let app = PgDatabase::connect_with(&pooler.url(APP_ROLE, test_db.name()), options).unwrap();
    // LISTEN is session state: wake-ups need a direct connection.
    let queue = PgQueue::new(app.clone())
        .with_plan_weights(tenantry_testkit::jobs::plan_weights())
        .with_wakeups(&pg_notes::app_url(&test_db))
        .unwrap();
    let forge_row = pg_forge_row(owner);
    Some(JobFixture {
        queue: Arc::new(queue),
        tenants: Tenants::new(Arc::new(SqlTenantStore::new(app))),
        forge_row,
        wakes_workers: true,
        guard: Box::new((pooler, test_db)),
    })
}

/// The whole job-queue conformance suite (fair claiming across tenants,
/// leases, retries, caps, the registry) through the pooler.
#[tokio::test]
async fn the_job_queue_conformance_suite_passes_through_transaction_pooling() {
    // Once to learn whether PostgreSQL and PgBouncer are here (a loud skip
    // otherwise), then a fresh queue per check.
    if pooled_queue_fixture().await.is_none() {
        return;
    }
    conformance(|| async { pooled_queue_fixture().await.unwrap() }).await;
}

/// Enqueues from many tenants at once while three claimers take and
/// complete jobs, all through the pooler: every job runs exactly once.
#[tokio::test]
async fn jobs_from_many_tenants_run_once_each_under_concurrent_load() {
    let Some(fixture) = pooled_queue_fixture().await else {
        return;
    };
    let queue = fixture.queue.clone();
    const TENANTS: usize = 20;
    const PER_TENANT: usize = 15;
    let mut enqueuers = tokio::task::JoinSet::new();
    for i in 0..TENANTS {
        let tenant = create_tenant(&fixture.tenants, &format!("load{i}")).await;
        let queue = queue.clone();
        enqueuers.spawn(async move {
            let mut ids = Vec::new();
            for n in 0..PER_TENANT {
                let job = tenant
                    .clone()
                    .sync_scope(|| JobEnvelope::new("work", &n))
                    .unwrap();
                ids.push(queue.enqueue(&job).await.unwrap());
            }
            ids
        });
    }
    let completed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut claimers = tokio::task::JoinSet::new();
    for worker in 0..3 {
        let (queue, completed) = (queue.clone(), completed.clone());
        claimers.spawn(async move {
            while completed.lock().unwrap().len() < TENANTS * PER_TENANT {
                let jobs = queue
                    .claim(
                        Lane::Batch,
                        &format!("w{worker}"),
                        Duration::from_secs(30),
                        4,
                    )
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    tokio::task::yield_now().await;
                    continue;
                }
                let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
                queue.complete(&ids).await.unwrap();
                completed.lock().unwrap().extend(ids);
            }
        });
    }
    let mut enqueued = Vec::new();
    while let Some(ids) = enqueuers.join_next().await {
        enqueued.extend(ids.unwrap());
    }
    // A lost job would leave the claimers looking forever.
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(claimer) = claimers.join_next().await {
            claimer.unwrap();
        }
    })
    .await
    .expect("every enqueued job is claimed");
    let mut completed = completed.lock().unwrap().clone();
    completed.sort_unstable();
    enqueued.sort_unstable();
    assert_eq!(enqueued.len(), TENANTS * PER_TENANT);
    assert_eq!(completed, enqueued, "each job completed exactly once");
}
