//! The driver's own transaction, tenant already set: tokio-postgres and
//! sqlx transactions under row-level security, typed errors that name the
//! constraint, and jobs enqueued in the transaction of the write they
//! belong to (committed or rolled back together) in every API.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod pg_notes;

use tenantry::context::{TenantContext, TenantId, Tier};
use tenantry::data::postgres::{PgDatabase, migrate};
use tenantry::data::sqlx::{SqlxTenantPool, data_error};
use tenantry::data::{ConstraintKind, DataError, Database, ErrorKind, Migration};
use tenantry::jobs::{JobEnvelope, JobQueue, Lane, PgQueue};
use tenantry_testkit::PgTestDb;

/// Tags of notes: a unique name per tenant and a foreign key to notes,
/// under the same RLS policy as `notes`.
const TAGS: &[Migration] = &[
    pg_notes::NOTES[0],
    Migration {
        version: 2,
        name: "tags",
        sql: "CREATE TABLE tags (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL,
                                  note_id bigint NOT NULL REFERENCES notes (id),
                                  name text NOT NULL, labels jsonb NOT NULL DEFAULT '[]',
                                  CONSTRAINT tags_name_per_tenant UNIQUE (tenant_id, name));
              ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
              ALTER TABLE tags FORCE ROW LEVEL SECURITY;
              CREATE POLICY tenant_isolation ON tags
                  USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
                  WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);",
    },
];

struct Fixture {
    _db: PgTestDb,
    app_url: String,
    pg: PgDatabase,
    queue: PgQueue,
}

async fn fixture() -> Option<Fixture> {
    let (db, _) = pg_notes::control_database().await?;
    let mut owner = migrate::connect(db.url()).await.unwrap();
    migrate::apply(&mut owner, "public", TAGS, pg_notes::APP_ROLE)
        .await
        .unwrap();
    let app_url = pg_notes::app_url(&db);
    let pg = PgDatabase::connect(&app_url, 8).unwrap();
    let queue = PgQueue::new(pg.clone());
    Some(Fixture {
        _db: db,
        app_url,
        pg,
        queue,
    })
}

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

const INSERT_NOTE: &str = "INSERT INTO notes (tenant_id, body)
     VALUES (current_setting('app.tenant_id')::uuid, $1) RETURNING id";

/// How many jobs `ctx` has waiting.
async fn queued(queue: &PgQueue, ctx: &TenantContext) -> i64 {
    let stats = ctx.clone().scope(queue.stats(Lane::Batch)).await.unwrap();
    stats.iter().map(|s| s.queued).sum()
}

async fn notes_seen(pg: &PgDatabase, ctx: &TenantContext) -> Vec<String> {
    ctx.clone()
        .scope(pg.tenant_transaction(async |tx| {
            let rows = tx.query("SELECT body FROM notes ORDER BY id", &[]).await?;
            Ok::<_, DataError>(rows.iter().map(|r| r.get(0)).collect())
        }))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_tokio_postgres_transaction_is_the_tenant_s_own() {
    let Some(f) = fixture().await else { return };
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    for (ctx, body) in [(&acme, "acme's"), (&globex, "globex's")] {
        ctx.clone()
            .scope(f.pg.tenant_transaction(async |tx| {
                // The driver's own types: jsonb in, arrays out.
                let note: i64 = tx.query_one(INSERT_NOTE, &[&body]).await.unwrap().get(0);
                let labels = serde_json::json!(["a", "b"]);
                tx.execute(
                    "INSERT INTO tags (tenant_id, note_id, name, labels)
                     VALUES (current_setting('app.tenant_id')::uuid, $1, 'first', $2)",
                    &[&note, &labels],
                )
                .await
                .unwrap();
                let ids: Vec<i64> = tx
                    .query_one("SELECT array_agg(id) FROM notes", &[])
                    .await
                    .unwrap()
                    .get(0);
                assert_eq!(ids, [note], "one note visible: this tenant's");
                Ok::<_, DataError>(())
            }))
            .await
            .unwrap();
    }
    assert_eq!(notes_seen(&f.pg, &acme).await, ["acme's"]);
    assert_eq!(notes_seen(&f.pg, &globex).await, ["globex's"]);

    // Writing another tenant's row: row-level security refuses it, typed.
    let foreign = globex.tenant_id();
    let refused = acme
        .clone()
        .scope(f.pg.tenant_transaction(async |tx| {
            tx.execute(
                "INSERT INTO notes (tenant_id, body) VALUES ($1, 'sneaky')",
                &[foreign.as_uuid()],
            )
            .await?;
            Ok::<_, DataError>(())
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");
    assert_eq!(notes_seen(&f.pg, &globex).await, ["globex's"]);

    // No context, no transaction.
    let outside =
        f.pg.tenant_transaction(async |_| Ok::<_, DataError>(()))
            .await;
    assert!(matches!(outside, Err(DataError::NoTenantContext(_))));
}

#[tokio::test]
async fn errors_say_which_constraint_refused_the_write() {
    let Some(f) = fixture().await else { return };
    let db = Database::Postgres(f.pg.clone());
    let acme = tenant("acme");
    let note = acme
        .clone()
        .scope(async {
            let row = db
                .tenant()?
                .fetch_optional(INSERT_NOTE, tenantry::params!["n"])
                .await?
                .unwrap();
            row.get::<i64>(0)
        })
        .await
        .unwrap();
    let tag = |note_id: i64, name: &'static str| {
        let db = db.clone();
        acme.clone().scope(async move {
            db.tenant()?
                .execute(
                    "INSERT INTO tags (tenant_id, note_id, name)
                     VALUES (tenantry_current_tenant(), $1, $2)",
                    tenantry::params![note_id, name],
                )
                .await
        })
    };
    tag(note, "urgent").await.unwrap();

    let duplicate = tag(note, "urgent").await.unwrap_err();
    assert_eq!(duplicate.kind(), ErrorKind::Conflict);
    assert_eq!(duplicate.constraint_kind(), Some(ConstraintKind::Unique));
    assert_eq!(duplicate.constraint(), Some("tags_name_per_tenant"));
    assert_eq!(duplicate.sqlstate(), Some("23505"));
    assert!(
        std::error::Error::source(&duplicate).is_some(),
        "the driver's error is kept"
    );

    let dangling = tag(note + 1_000, "later").await.unwrap_err();
    assert_eq!(dangling.constraint_kind(), Some(ConstraintKind::ForeignKey));
    assert_eq!(dangling.constraint(), Some("tags_note_id_fkey"));

    // Another tenant's row by id: not found, the same as no row at all.
    let by_id = |ctx: TenantContext, id: i64| {
        let db = db.clone();
        ctx.scope(async move {
            db.tenant()?
                .fetch_one(
                    "SELECT body FROM notes WHERE id = $1",
                    tenantry::params![id],
                )
                .await
        })
    };
    assert!(by_id(acme.clone(), note).await.is_ok());
    for missing in [
        by_id(tenant("globex"), note).await,
        by_id(acme.clone(), note + 1_000).await,
    ] {
        let err = missing.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        #[cfg(feature = "edge")]
        assert_eq!(err.status(), http::StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_job_enqueued_in_a_transaction_lives_and_dies_with_it() {
    let Some(f) = fixture().await else { return };
    let acme = tenant("acme");

    // tokio-postgres: rolled back, then committed.
    let rolled_back = acme
        .clone()
        .scope(f.pg.tenant_transaction(async |tx| {
            tx.query_one(INSERT_NOTE, &[&"draft"]).await.unwrap();
            let job = JobEnvelope::new("index_note", &"draft").unwrap();
            f.queue.enqueue_in(tx, &job).await.unwrap();
            Err::<(), _>(DataError::Database("the handler failed".into()))
        }))
        .await;
    assert!(rolled_back.is_err());
    assert_eq!(
        queued(&f.queue, &acme).await,
        0,
        "the job went with the rollback"
    );
    assert!(notes_seen(&f.pg, &acme).await.is_empty());

    acme.clone()
        .scope(f.pg.tenant_transaction(async |tx| {
            tx.query_one(INSERT_NOTE, &[&"kept"]).await.unwrap();
            let job = JobEnvelope::new("index_note", &"kept").unwrap();
            f.queue.enqueue_in(tx, &job).await.unwrap();
            Ok::<_, DataError>(())
        }))
        .await
        .unwrap();
    assert_eq!(queued(&f.queue, &acme).await, 1);

    // TenantDb's transaction.
    let db = Database::Postgres(f.pg.clone());
    for commit in [false, true] {
        let result = acme
            .clone()
            .scope(async {
                db.tenant()?
                    .transaction(async |tx| {
                        tx.execute(
                    "INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)",
                    tenantry::params!["via TenantDb"],
                )
                .await?;
                        let job = JobEnvelope::new("index_note", &"tenantdb").unwrap();
                        f.queue.enqueue_in_tx(tx, &job).await.unwrap();
                        if commit {
                            Ok(())
                        } else {
                            Err(DataError::Database("changed my mind".into()))
                        }
                    })
                    .await
            })
            .await;
        assert_eq!(result.is_ok(), commit);
    }
    assert_eq!(queued(&f.queue, &acme).await, 2);

    // sqlx.
    let pool = sqlx_postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&f.app_url)
        .await
        .unwrap();
    let tenants = SqlxTenantPool::new(pool);
    for commit in [false, true] {
        acme.clone()
            .scope(async {
                let mut tx = tenants.begin().await.unwrap();
                sqlx_core::query::query(
                    "INSERT INTO notes (tenant_id, body) VALUES (current_setting('app.tenant_id')::uuid, 'via sqlx')",
                )
                .execute(&mut *tx)
                .await
                .unwrap();
                let job = JobEnvelope::new("index_note", &"sqlx").unwrap();
                f.queue.enqueue_in_sqlx(&mut tx, &job).await.unwrap();
                if commit {
                    tx.commit().await.unwrap();
                } else {
                    tx.rollback().await.unwrap();
                }
            })
            .await;
    }
    assert_eq!(queued(&f.queue, &acme).await, 3);
    assert_eq!(
        notes_seen(&f.pg, &acme).await,
        ["kept", "via TenantDb", "via sqlx"]
    );
}

#[tokio::test]
async fn an_sqlx_transaction_is_the_tenant_s_own() {
    let Some(f) = fixture().await else { return };
    let pool = sqlx_postgres::PgPoolOptions::new()
        .max_connections(1) // one connection: the tenant must not linger on it
        .connect(&f.app_url)
        .await
        .unwrap();
    let tenants = SqlxTenantPool::new(pool);
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    for (ctx, body) in [(&acme, "acme's"), (&globex, "globex's")] {
        ctx.clone()
            .scope(async {
                let mut tx = tenants.begin().await.unwrap();
                sqlx_core::query::query(
                    "INSERT INTO notes (tenant_id, body) VALUES (current_setting('app.tenant_id')::uuid, $1)",
                )
                .bind(body)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            })
            .await;
    }
    let bodies = |ctx: &TenantContext| {
        ctx.clone().scope(async {
            let mut tx = tenants.begin().await.unwrap();
            let bodies: Vec<String> =
                sqlx_core::query_scalar::query_scalar("SELECT body FROM notes ORDER BY id")
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
            bodies
        })
    };
    assert_eq!(bodies(&acme).await, ["acme's"]);
    assert_eq!(bodies(&globex).await, ["globex's"]);

    // Outside a transaction the connection carries no tenant: nothing is visible.
    let bare: Vec<String> = sqlx_core::query_scalar::query_scalar("SELECT body FROM notes")
        .fetch_all(tenants.pool())
        .await
        .unwrap();
    assert!(bare.is_empty(), "the setting ended with the transaction");

    // Another tenant's row: refused by RLS, classified.
    let foreign = globex.tenant_id();
    let err = acme
        .clone()
        .scope(async {
            let mut tx = tenants.begin().await.unwrap();
            sqlx_core::query::query("INSERT INTO notes (tenant_id, body) VALUES ($1, 'sneaky')")
                .bind(*foreign.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(data_error)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");

    let database_tier = TenantContext::builder(TenantId::new_v4(), "big")
        .tier(Tier::Database)
        .build()
        .unwrap();
    assert!(matches!(
        database_tier.scope(tenants.begin()).await,
        Err(DataError::TierUnavailable(Tier::Database))
    ));
    assert!(matches!(
        tenants.begin().await,
        Err(DataError::NoTenantContext(_))
    ));
}
