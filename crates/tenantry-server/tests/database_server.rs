//! A database-tier tenant whose database lives on another PostgreSQL server
//! than the default: the server URL is stored with the tenant and every
//! path — provisioning, requests, fleet migrations — goes there.
//!
//! The machine has one PostgreSQL, so "another server" is the same cluster
//! reached another way: through its Unix socket instead of TCP. PostgreSQL
//! reports no client address for socket sessions, which tells the two apart.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::context::Tier;
use tenantry::data::Database;
use tenantry::data::postgres::migrate;
use tenantry::registry::{NewTenant, TenantState};

const SOCKET_DIR: &str = "/var/run/postgresql";

#[tokio::test]
async fn a_tenant_database_on_another_server_is_reached_there() {
    if !std::path::Path::new(SOCKET_DIR)
        .join(".s.PGSQL.5432")
        .exists()
    {
        tenantry_testkit::require_service(
            "PostgreSQL's Unix socket",
            &format!("{SOCKET_DIR}/.s.PGSQL.5432 is missing"),
        );
        return;
    }
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    let server = "postgres://%2Fvar%2Frun%2Fpostgresql:5432";
    let record = tenantry_server::provision::create_tenant(
        &s.services,
        NewTenant {
            id: None,
            slug: "faraway".into(),
            name: "Far Away".into(),
            plan: tenantry_server::plans::ENTERPRISE,
            tier: Tier::Database,
            state: TenantState::Active,
            domains: vec![],
            database_server: Some(server.into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(record.database_server.as_deref(), Some(server));
    assert_eq!(record.state, TenantState::Active);
    s.add_member(&record, "faraway", "admin").await;

    let (status, created) = status_and_json(
        s.as_tenant("faraway", Method::POST, "/api/orders")
            .json(&json!({"customer": "Zoe", "total_cents": 1200})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(s.ids("faraway", "/api/orders", "orders").await.len(), 1);

    // The app's connections to the tenant's database came through the socket.
    let Database::Postgres(pg) = &s.services.db else {
        unreachable!()
    };
    let database = pg.tenant_database(record.id);
    let owner = migrate::connect(s.pg.as_ref().unwrap().url())
        .await
        .unwrap();
    let (socket, tcp): (i64, i64) = {
        let row = owner
            .query_one(
                "SELECT count(*) FILTER (WHERE client_addr IS NULL), count(*) FILTER (WHERE client_addr IS NOT NULL)
                   FROM pg_stat_activity WHERE datname = $1 AND usename = 'tenantry_app'",
                &[&database],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert!(socket >= 1 && tcp == 0, "socket {socket}, tcp {tcp}");

    // Fleet migrations find the tenant's database on its server.
    let targets = tenantry_server::fleet::targets(&s.services, Some(&["faraway".into()]), &[])
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].server.as_deref(), Some(server));
    let url = s.pg.as_ref().unwrap().url().to_owned();
    let report = tenantry::data::postgres::fleet::run(
        &url,
        "tenantry_app",
        tenantry_server::migrations::PG_APP_MIGRATIONS,
        targets,
        tenantry::data::postgres::fleet::FleetOptions {
            concurrency: 1,
            max_failures: 0,
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.up_to_date, ["faraway"], "{report:?}");
}

#[tokio::test]
async fn a_database_server_with_credentials_or_a_name_is_refused() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    for (server, tier, expected) in [
        (
            "postgres://admin:hunter2@db-2:5432",
            Tier::Database,
            "credentials",
        ),
        ("postgres://db-2:5432/acme", Tier::Database, "database name"),
        ("db-2:5432", Tier::Database, "postgres://"),
        ("postgres://db-2:5432", Tier::Shared, "database tier"),
    ] {
        let err = tenantry_server::provision::create_tenant(
            &s.services,
            NewTenant {
                id: None,
                slug: "refused".into(),
                name: "Refused".into(),
                plan: tenantry_server::plans::PRO,
                tier,
                state: TenantState::Active,
                domains: vec![],
                database_server: Some(server.into()),
            },
        )
        .await
        .unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{server}: {err:#}");
    }
    // Nothing was registered.
    assert!(
        s.services
            .tenants
            .find(&tenantry::registry::TenantKey::Slug("refused".into()))
            .await
            .unwrap()
            .is_none()
    );
}
