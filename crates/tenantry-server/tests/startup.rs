//! The server refuses to start on PostgreSQL when the isolation audit
//! finds a tenant table that row-level security does not protect.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tenantry_server::config::Config;
use tenantry_server::settings::Settings;

/// The server's configuration on database `url`, with a data directory of
/// its own (returned for clean-up).
fn config_on(url: &str) -> (std::path::PathBuf, Config) {
    let data_dir = std::env::temp_dir().join(format!(
        "tenantry-startup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let settings = Settings {
        data_dir: Some(data_dir.clone()),
        database_url: Some(url.to_owned()),
        jwt_secret: Some("startup-test-secret-0123456789abcdef".into()),
        ..Settings::default()
    };
    (data_dir, settings.resolve().unwrap())
}

#[tokio::test]
async fn an_unprotected_tenant_table_stops_the_server() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let (data_dir, config) = config_on(pg.url());
    tenantry_server::app::open(&config)
        .await
        .expect("a freshly migrated database passes the audit");

    let owner = tenantry::data::postgres::migrate::connect(pg.url())
        .await
        .unwrap();
    owner
        .batch_execute("CREATE TABLE audit_log (id bigint, tenant_id uuid, line text); GRANT SELECT ON audit_log TO tenantry_app;")
        .await
        .unwrap();
    let refused = tenantry_server::app::open(&config)
        .await
        .err()
        .expect("the server must refuse to start");
    let message = format!("{refused:#}");
    assert!(
        message.contains("public.audit_log") && message.contains("row-level security is disabled"),
        "{message}"
    );

    owner
        .batch_execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
        .await
        .unwrap();
    let message = format!(
        "{:#}",
        tenantry_server::app::open(&config).await.err().unwrap()
    );
    assert!(
        message.contains("without FORCE") && message.contains("no policy"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test]
async fn a_missing_database_is_created_and_a_bad_role_is_not_mistaken_for_one() {
    // Only checks PostgreSQL's availability; the databases below are our own.
    let Some(_probe) = tenantry_testkit::postgres().await else {
        return;
    };
    let base = tenantry_testkit::postgres_base_url();
    let name = format!("tenantry_fresh_{}", uuid::Uuid::new_v4().simple());
    let data_dir = std::env::temp_dir().join(format!(
        "tenantry-startup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let settings = |url: String| Settings {
        data_dir: Some(data_dir.clone()),
        database_url: Some(url),
        jwt_secret: Some("startup-test-secret-0123456789abcdef".into()),
        ..Settings::default()
    };
    let admin = tenantry::data::postgres::migrate::connect(&format!("{base}/postgres"))
        .await
        .unwrap();
    let exists = |name: String| {
        let admin = &admin;
        async move {
            let row = admin
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE datname = $1",
                    &[&name],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0) == 1
        }
    };

    let bad_role = base.replacen("postgres@", "no_such_role@", 1);
    let err =
        tenantry_server::app::open(&settings(format!("{bad_role}/{name}")).resolve().unwrap())
            .await
            .err()
            .unwrap();
    assert!(
        format!("{err:#}").contains("connecting as the owner role"),
        "{err:#}"
    );
    assert!(
        !exists(name.clone()).await,
        "a failed login must not create a database"
    );

    tenantry_server::app::open(&settings(format!("{base}/{name}")).resolve().unwrap())
        .await
        .unwrap();
    assert!(
        exists(name.clone()).await,
        "a missing database is created on first start"
    );
    admin
        .batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test]
async fn an_unprotected_table_in_a_tenant_database_stops_the_server() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let (data_dir, config) = config_on(pg.url());
    let opened = tenantry_server::app::open(&config).await.unwrap();
    let tenant = tenantry_server::provision::create_tenant(
        &opened,
        tenantry::registry::NewTenant {
            id: None,
            slug: "vault".into(),
            name: "Vault".into(),
            plan: tenantry_server::plans::ENTERPRISE,
            tier: tenantry::context::Tier::Database,
            state: tenantry::registry::TenantState::Active,
            domains: vec![],
            database_server: None,
        },
    )
    .await
    .unwrap();
    let tenantry::data::Database::Postgres(db) = &opened.db else {
        unreachable!()
    };
    let database = db.tenant_database(tenant.id);
    drop(opened);
    tenantry_server::app::open(&config)
        .await
        .expect("a freshly provisioned tenant database passes");

    // A table added by hand in the tenant's own database, readable by the app.
    let (base, _) = pg.url().rsplit_once('/').unwrap();
    let owner = tenantry::data::postgres::migrate::connect(&format!("{base}/{database}"))
        .await
        .unwrap();
    owner
        .batch_execute("CREATE TABLE exports (id bigint, tenant_id uuid); GRANT SELECT ON exports TO tenantry_app;")
        .await
        .unwrap();
    let message = format!(
        "{:#}",
        tenantry_server::app::open(&config).await.err().unwrap()
    );
    assert!(
        message.contains("vault's database") && message.contains("public.exports"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(data_dir);
}
