//! Tenant scoping on SQLite: the connection function and the write triggers.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tenantry::context::{TenantContext, TenantId};
use tenantry::data::sqlite::{SqliteDatabase, apply_migrations};
use tenantry::data::{DataError, Database, Migration};
use tenantry::params;

const NOTES: &[Migration] = &[Migration {
    version: 1,
    name: "notes",
    // No triggers here: the migration runner must add them.
    sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, body TEXT NOT NULL) STRICT;",
}];

struct TempDb {
    dir: std::path::PathBuf,
    db: Database,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn open() -> TempDb {
    let dir =
        std::env::temp_dir().join(format!("tenantry-sqlite-{}", uuid::Uuid::new_v4().simple()));
    let lite = SqliteDatabase::open(&dir.join("shared.db"), 4).unwrap();
    apply_migrations(&lite, "shared", NOTES).await.unwrap();
    TempDb {
        dir,
        db: Database::Sqlite(lite),
    }
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

#[tokio::test]
async fn current_tenant_follows_the_context_and_writes_stay_home() {
    let t = open().await;
    let (acme, globex) = (ctx("acme"), ctx("globex"));
    for (tenant, body) in [(&acme, "a"), (&globex, "g")] {
        tenant
            .clone()
            .scope(async {
                t.db.tenant()?
                    .execute("INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)", params![body])
                    .await
            })
            .await
            .unwrap();
    }
    let seen = bodies(
        &t.db,
        &acme,
        "SELECT body FROM notes WHERE tenant_id = tenantry_current_tenant()",
    )
    .await;
    assert_eq!(seen, ["a"]);

    // Forgetting the tenant filter on a write does not reach globex's row.
    let changed = acme
        .clone()
        .scope(async {
            t.db.tenant()?
                .execute("UPDATE notes SET body = 'pwned'", &[])
                .await
        })
        .await;
    assert!(
        matches!(changed, Err(DataError::Constraint(ref m)) if m.message().contains("another tenant")),
        "{changed:?}"
    );
    let foreign_insert = acme
        .clone()
        .scope(async {
            t.db.tenant()?
                .execute(
                    "INSERT INTO notes (tenant_id, body) VALUES ($1, 'x')",
                    params![globex.tenant_id()],
                )
                .await
        })
        .await;
    assert!(foreign_insert.is_err());
    let deleted = acme
        .scope(async { t.db.tenant()?.execute("DELETE FROM notes", &[]).await })
        .await;
    assert!(
        deleted.is_err(),
        "a tenant-blind DELETE is refused as a whole"
    );

    let globex_rows = bodies(
        &t.db,
        &globex,
        "SELECT body FROM notes WHERE tenant_id = tenantry_current_tenant()",
    )
    .await;
    assert_eq!(globex_rows, ["g"], "globex's row is untouched");
}

#[tokio::test]
async fn transactions_roll_back_on_error() {
    let t = open().await;
    let acme = ctx("acme");
    let result: Result<(), DataError> = acme
        .clone()
        .scope(async {
            t.db.tenant()?
                .transaction(async |tx| {
                    tx.execute("INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), 'kept?')", &[]).await?;
                    Err(DataError::Database("boom".into()))
                })
                .await
        })
        .await;
    assert!(result.is_err());
    let count = acme
        .scope(async {
            t.db.tenant()?
                .fetch_optional("SELECT count(*) FROM notes", &[])
                .await?
                .unwrap()
                .get::<i64>(0)
        })
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn no_context_no_access() {
    let t = open().await;
    assert!(matches!(t.db.tenant(), Err(DataError::NoTenantContext(_))));
    let system = tenantry::context::run_as_system("test", async { t.db.tenant().err() }).await;
    assert!(matches!(system, Some(DataError::SystemTenant)));
}

#[tokio::test]
async fn edited_migrations_are_refused() {
    let t = open().await;
    let Database::Sqlite(lite) = &t.db else {
        unreachable!()
    };
    const EDITED: &[Migration] = &[Migration {
        version: 1,
        name: "notes",
        sql: "SELECT 1;",
    }];
    let err = apply_migrations(lite, "shared", EDITED).await.unwrap_err();
    assert!(err.to_string().contains("edited"), "{err}");
    assert_eq!(
        apply_migrations(lite, "shared", NOTES).await.unwrap(),
        0,
        "re-applying is a no-op"
    );
}

#[tokio::test]
async fn database_tier_tenants_get_their_own_file() {
    use tenantry::context::Tier;
    let dir =
        std::env::temp_dir().join(format!("tenantry-sqlite-{}", uuid::Uuid::new_v4().simple()));
    let lite = SqliteDatabase::open(&dir.join("shared.db"), 4)
        .unwrap()
        .with_tenant_files(&dir.join("tenants"), 2);
    apply_migrations(&lite, "shared", NOTES).await.unwrap();
    let t = TempDb {
        dir,
        db: Database::Sqlite(lite.clone()),
    };

    let own = |slug: &str| {
        TenantContext::builder(TenantId::new_v4(), slug)
            .tier(Tier::Database)
            .build()
            .unwrap()
    };
    let (a, b, c) = (own("a"), own("b"), own("c"));
    let unprovisioned = a
        .clone()
        .scope(async {
            t.db.tenant()?
                .fetch_all("SELECT body FROM notes", &[])
                .await
        })
        .await;
    assert!(
        matches!(unprovisioned, Err(DataError::Unavailable(ref m)) if m.message().contains("not provisioned")),
        "{unprovisioned:?}"
    );

    for tenant in [&a, &b, &c] {
        lite.provision_tenant_file(tenant.tenant_id(), NOTES)
            .await
            .unwrap();
        tenant
            .clone()
            .scope(async {
                t.db.tenant()?
                    .execute("INSERT INTO notes (tenant_id, body) VALUES (tenantry_current_tenant(), $1)", params![tenant.slug()])
                    .await
            })
            .await
            .unwrap();
    }
    assert!(
        lite.open_tenant_files() <= 2,
        "at most max_open files stay open"
    );

    // Each tenant's row is in its own file, and the shared file has none.
    for tenant in [&a, &b, &c] {
        let path = lite.tenant_file_path(tenant.tenant_id()).unwrap();
        let file = bodies_in_file(&path);
        assert_eq!(file, vec![tenant.slug().to_owned()], "{}", path.display());
    }
    assert!(bodies_in_file(&t.dir.join("shared.db")).is_empty());
    // A shared-tier tenant does not see them.
    let shared = ctx("acme")
        .scope(async {
            t.db.tenant()?
                .fetch_all("SELECT body FROM notes", &[])
                .await
        })
        .await
        .unwrap();
    assert!(shared.is_empty());
    assert_eq!(
        lite.provision_tenant_file(a.tenant_id(), NOTES)
            .await
            .unwrap(),
        0,
        "provisioning is idempotent"
    );
}

/// The bodies in a SQLite file, read directly (no tenant function: plain SQL).
fn bodies_in_file(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM notes").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The registry's plan-name migration rebuilds `tenants`; the rows that
/// reference it (domains, settings) must survive, and any plan name must
/// then be storable.
#[tokio::test]
async fn the_registry_rebuild_keeps_what_references_tenants() {
    use tenantry::data::sqlite::CONTROL_MIGRATIONS;
    use tenantry::registry::SqlTenantStore;
    use tenantry::registry::{NewTenant, TenantKey, TenantState, TenantStore};

    let dir = std::env::temp_dir().join(format!(
        "tenantry-rebuild-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let lite = SqliteDatabase::open(&dir.join("control.db"), 2).unwrap();
    let before_plan_names = &CONTROL_MIGRATIONS[..8];
    assert_eq!(before_plan_names.last().unwrap().name, "job_trace");
    apply_migrations(&lite, "control", before_plan_names)
        .await
        .unwrap();
    let id = TenantId::new_v4();
    let tenant = id.to_string();
    tenantry::context::run_as_system("test: seed an old registry", {
        let lite = lite.clone();
        async move {
            lite.run_as_system(move |conn| {
                conn.execute_batch(&format!(
                    "INSERT INTO tenants (id, slug, name, plan, tier, state, created_at, updated_at)
                         VALUES ('{tenant}', 'acme', 'Acme', 'pro', 'shared', 'active', 0, 0);
                     INSERT INTO tenant_domains (domain, owner) VALUES ('shop.acme.example', '{tenant}');
                     INSERT INTO tenant_settings (owner, settings, updated_at) VALUES ('{tenant}', '{{}}', 0);"
                ))
                .map_err(|e| DataError::Database(e.to_string().into()))
            })
            .await
        }
    })
    .await
    .unwrap();

    apply_migrations(&lite, "control", CONTROL_MIGRATIONS)
        .await
        .unwrap();
    let store = SqlTenantStore::new(lite.clone());
    let found = store
        .find(&TenantKey::Domain("shop.acme.example".into()))
        .await
        .unwrap()
        .expect("the domain survived the rebuild");
    assert_eq!((found.id, found.plan.as_str()), (id, "pro"));
    let scale = store
        .insert(NewTenant {
            id: None,
            slug: "globex".into(),
            name: "Globex".into(),
            plan: "scale-2".parse().unwrap(),
            tier: tenantry::context::Tier::Shared,
            state: TenantState::Active,
            domains: vec![],
            database_server: None,
        })
        .await
        .unwrap();
    assert_eq!(scale.plan.as_str(), "scale-2");
    let _ = std::fs::remove_dir_all(&dir);
}
