//! Tenant isolation on a real PostgreSQL: RLS, transaction-scoped settings,
//! cancellation safety, and the boot-time audit.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tenantry::context::{TenantContext, TenantId};
use tenantry::data::postgres::{PgDatabase, audit::Finding, migrate};
use tenantry::data::{DataError, Database};
use tenantry::params;
use tenantry_testkit::PgTestDb;

mod pg_notes;

use pg_notes::{APP_ROLE, NOTES};

/// A migrated database with one RLS table, and the app-role pool over it.
async fn setup(pool_size: usize) -> Option<(PgTestDb, tokio_postgres::Client, Database)> {
    let (test_db, owner, app_url) = pg_notes::notes_database().await?;
    let db = Database::Postgres(PgDatabase::connect(&app_url, pool_size).unwrap());
    Some((test_db, owner, db))
}

/// The bodies `tenant` sees with `sql`.
async fn bodies(db: &Database, tenant: &TenantContext, sql: &'static str) -> Vec<String> {
    let rows = tenant
        .clone()
        .scope(async { db.tenant()?.fetch_all(sql, &[]).await })
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<String>(0).unwrap()).collect()
}

fn ctx(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .build()
        .unwrap()
}

async fn insert_note(db: &Database, tenant: &TenantContext, body: &str) {
    pg_notes::insert_note(db, tenant, body).await.unwrap();
}

#[tokio::test]
async fn an_unscoped_query_sees_only_the_current_tenant() {
    let Some((_db, _owner, db)) = setup(4).await else {
        return;
    };
    let (acme, globex) = (ctx("acme"), ctx("globex"));
    insert_note(&db, &acme, "acme 1").await;
    insert_note(&db, &acme, "acme 2").await;
    insert_note(&db, &globex, "globex 1").await;

    // No WHERE tenant_id: row-level security alone does the filtering.
    let bodies = bodies(&db, &acme, "SELECT body FROM notes ORDER BY body").await;
    assert_eq!(bodies, ["acme 1", "acme 2"]);

    // A write naming another tenant's id is refused by WITH CHECK.
    let foreign = globex.tenant_id();
    let err = ctx("acme")
        .scope(async {
            db.tenant()?
                .execute(
                    "INSERT INTO notes (tenant_id, body) VALUES ($1, 'sneaky')",
                    params![foreign],
                )
                .await
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, DataError::Forbidden(ref m) if m.message().contains("row-level security") && m.sqlstate() == Some("42501")),
        "{err}"
    );
}

#[tokio::test]
async fn the_tenant_setting_does_not_outlive_its_transaction() {
    let Some((_db, _owner, db)) = setup(1).await else {
        return;
    };
    let acme = ctx("acme");
    let inside = acme
        .clone()
        .scope(async {
            let row = db
                .tenant()?
                .fetch_optional("SELECT current_setting('app.tenant_id', true)", &[])
                .await?;
            row.unwrap().get::<String>(0)
        })
        .await
        .unwrap();
    assert_eq!(inside, acme.tenant_id().to_string());

    // The pool has one connection: this is the same session, after COMMIT.
    let Database::Postgres(pg) = &db else {
        unreachable!()
    };
    let client = pg.client().await.unwrap();
    let after: Option<String> = client
        .query_one("SELECT current_setting('app.tenant_id', true)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        after.as_deref().unwrap_or("").is_empty(),
        "leaked into the session: {after:?}"
    );
}

#[tokio::test]
async fn a_cancelled_transaction_never_returns_its_connection_to_the_pool() {
    let Some((_db, owner, db)) = setup(1).await else {
        return;
    };
    let acme = ctx("acme");
    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel::<i32>();
    let work = acme.clone().scope(async {
        db.tenant()?
            .transaction(async |tx| {
                tx.execute("INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), 'half done')", &[])
                    .await?;
                let pid: i32 = tx.fetch_optional("SELECT pg_backend_pid()", &[]).await?.unwrap().get(0)?;
                let _ = pid_tx.send(pid);
                tx.execute("SELECT pg_sleep(30)", &[]).await
            })
            .await
    });
    // Cancel the work once it is parked in pg_sleep (the pid arrives first).
    tokio::select! {
        _ = work => panic!("pg_sleep(30) cannot finish first"),
        pid = pid_rx => {
            let cancelled_pid = pid.unwrap();
            // The dropped transaction's connection must not be reused:
            let next_pid = ctx("globex")
                .scope(async {
                    let row = db.tenant()?.fetch_optional("SELECT pg_backend_pid()", &[]).await?;
                    row.unwrap().get::<i32>(0)
                })
                .await
                .unwrap();
            assert_ne!(next_pid, cancelled_pid, "a connection inside a cancelled transaction was reused");
            // End the abandoned backend; its transaction must roll back.
            owner.execute("SELECT pg_terminate_backend($1)", &[&cancelled_pid]).await.unwrap();
        }
    }
    let count = acme
        .scope(async {
            db.tenant()?
                .fetch_optional("SELECT count(*) FROM notes", &[])
                .await?
                .unwrap()
                .get::<i64>(0)
        })
        .await
        .unwrap();
    assert_eq!(count, 0, "the cancelled transaction's insert was committed");
}

#[tokio::test]
async fn the_audit_names_unsafe_tables_and_roles() {
    let Some((test_db, owner, db)) = setup(2).await else {
        return;
    };
    let Database::Postgres(pg) = &db else {
        unreachable!()
    };
    assert_eq!(
        pg.audit().await.unwrap(),
        Vec::<Finding>::new(),
        "a correctly migrated database passes"
    );

    owner
        .batch_execute(&format!(
            "CREATE TABLE loose (id int, tenant_id uuid);
             CREATE TABLE unforced (id int, tenant_id uuid);
             ALTER TABLE unforced ENABLE ROW LEVEL SECURITY;
             CREATE POLICY p ON unforced USING (true);
             CREATE TABLE no_policy (id int, tenant_id uuid);
             ALTER TABLE no_policy ENABLE ROW LEVEL SECURITY;
             ALTER TABLE no_policy FORCE ROW LEVEL SECURITY;
             GRANT SELECT ON loose, unforced, no_policy TO {APP_ROLE};"
        ))
        .await
        .unwrap();
    let findings = pg.audit().await.unwrap();
    assert!(
        findings.contains(&Finding::RlsDisabled("public.loose".into())),
        "{findings:?}"
    );
    assert!(
        findings.contains(&Finding::RlsNotForced("public.unforced".into())),
        "{findings:?}"
    );
    assert!(
        findings.contains(&Finding::NoPolicy("public.no_policy".into())),
        "{findings:?}"
    );
    assert!(
        findings.contains(&Finding::PolicyNotTenantScoped {
            table: "public.unforced".into(),
            policy: "p".into()
        }),
        "USING (true) scopes nothing: {findings:?}"
    );

    // The side doors around RLS: views and functions that read as their
    // (superuser) owner, a materialized view, and a second, permissive
    // policy that ORs the first one away.
    owner
        .batch_execute(&format!(
            "CREATE VIEW all_notes AS SELECT * FROM notes;
             CREATE VIEW own_notes WITH (security_invoker = true) AS SELECT * FROM notes;
             CREATE MATERIALIZED VIEW note_counts AS SELECT tenant_id, count(*) FROM notes GROUP BY 1;
             CREATE FUNCTION every_note() RETURNS bigint LANGUAGE sql SECURITY DEFINER
                 AS 'SELECT count(*) FROM notes';
             CREATE FUNCTION my_notes() RETURNS bigint LANGUAGE sql
                 AS 'SELECT count(*) FROM notes';
             CREATE POLICY everyone ON notes USING (true);
             GRANT SELECT ON all_notes, own_notes, note_counts TO {APP_ROLE};"
        ))
        .await
        .unwrap();
    let findings = pg.audit().await.unwrap();
    for expected in [
        Finding::ViewBypassesRls("public.all_notes".into()),
        Finding::ViewBypassesRls("public.note_counts".into()),
        Finding::SecurityDefiner("public.every_note()".into()),
        Finding::PolicyNotTenantScoped {
            table: "public.notes".into(),
            policy: "everyone".into(),
        },
    ] {
        assert!(findings.contains(&expected), "{expected:?} in {findings:?}");
    }
    let named = |name: &str| findings.iter().any(|f| f.to_string().contains(name));
    assert!(
        !named("own_notes"),
        "a security_invoker view is safe: {findings:?}"
    );
    assert!(
        !named("my_notes"),
        "an invoker function is safe: {findings:?}"
    );
    assert!(
        !named("tenant_isolation"),
        "the real policy passes: {findings:?}"
    );

    // A role with BYPASSRLS (unique name: roles are cluster-wide).
    let role = format!("bypass_{}", &test_db.name()[14..26]);
    owner
        .batch_execute(&format!("CREATE ROLE {role} LOGIN BYPASSRLS"))
        .await
        .unwrap();
    let bypass = PgDatabase::connect(
        &test_db.url().replacen("postgres@", &format!("{role}@"), 1),
        1,
    )
    .unwrap();
    let findings = bypass.audit().await.unwrap();
    owner
        .batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .await
        .unwrap();
    assert!(
        findings.contains(&Finding::BypassRls(role.clone())),
        "{findings:?}"
    );

    // The owner (a superuser here) is flagged on both counts.
    let as_owner = PgDatabase::connect(test_db.url(), 1).unwrap();
    let findings = as_owner.audit().await.unwrap();
    assert!(
        findings.contains(&Finding::Superuser("postgres".into())),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, Finding::AppRoleOwns { table, .. } if table == "public.notes")),
        "{findings:?}"
    );
}

#[tokio::test]
async fn tenant_db_needs_a_tenant_context() {
    let Some((_db, _owner, db)) = setup(1).await else {
        return;
    };
    assert!(matches!(db.tenant(), Err(DataError::NoTenantContext(_))));
    let system = tenantry::context::run_as_system("test", async { db.tenant().err() }).await;
    assert!(matches!(system, Some(DataError::SystemTenant)));
}

#[tokio::test]
async fn schema_tier_tenants_live_in_their_own_schema() {
    use tenantry::context::Tier;
    use tenantry::data::postgres::schema_for;
    let Some((_db, mut owner, db)) = setup(4).await else {
        return;
    };
    let shared = ctx("acme");
    let schema_tenant = TenantContext::builder(TenantId::new_v4(), "initech")
        .tier(Tier::Schema)
        .build()
        .unwrap();
    let schema = schema_for(schema_tenant.tenant_id());
    migrate::apply(&mut owner, &schema, NOTES, APP_ROLE)
        .await
        .unwrap();

    insert_note(&db, &shared, "shared row").await;
    insert_note(&db, &schema_tenant, "schema row").await;

    let in_schema: i64 = owner
        .query_one(&format!("SELECT count(*) FROM {schema}.notes"), &[])
        .await
        .unwrap()
        .get(0);
    let in_public: i64 = owner
        .query_one("SELECT count(*) FROM public.notes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        (in_schema, in_public),
        (1, 1),
        "each tier's row is in its own place"
    );

    for (tenant, expected) in [(&schema_tenant, "schema row"), (&shared, "shared row")] {
        let bodies = bodies(&db, tenant, "SELECT body FROM notes").await;
        assert_eq!(bodies, [expected]);
    }
    // Reaching for the other tier's table by name still meets RLS.
    let peek = schema_tenant
        .scope(async {
            db.tenant()?
                .fetch_all("SELECT body FROM public.notes", &[])
                .await
        })
        .await
        .unwrap();
    assert!(peek.is_empty());
    let Database::Postgres(pg) = &db else {
        unreachable!()
    };
    assert_eq!(pg.audit().await.unwrap(), Vec::<Finding>::new());
}
