//! tenantry in one file: an axum service whose `notes` table is under
//! row-level security, the tenant taken from the subdomain
//! (`acme.notes.localhost`), and bearer tokens from an OpenID Connect
//! issuer (discovered from its name) carrying the tenant's slug.
//!
//! ```text
//! OWNER_URL=postgres://postgres@127.0.0.1/notes \
//! APP_URL=postgres://notes_app@127.0.0.1/notes \
//! ISSUER=https://your-tenant.eu.auth0.com/ TENANT_CLAIM=org_name \
//! cargo run -p tenantry --example quickstart --features edge,jwks-http,postgres
//! ```
//!
//! Register tenants in `tenantry.tenants` (or through
//! `tenantry::registry::Tenants::create`); a tenant's users then call
//! `GET/POST http://<slug>.notes.localhost:3000/notes` with their token.

use std::sync::Arc;

use axum::{Router, extract::State, http::StatusCode, routing::get};
use tenantry::data::postgres::{PgDatabase, prepare};
use tenantry::data::{DataError, Database, Migration};
use tenantry::edge::{ClaimMapping, FromSubdomain, OidcIssuer, TenantLayer};
use tenantry::registry::SqlTenantStore;
use tenantry::{params, registry::Tenants};

/// The app's own table: `tenant_id` filled from the transaction's tenant, and the policy.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "notes",
    sql: concat!(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL,
                             tenant_id uuid NOT NULL DEFAULT tenantry_current_tenant());",
        tenantry::rls_policy!("notes"),
    ),
}];

/// The service: migrations and the isolation audit first, then the edge around the routes.
pub(crate) async fn app(
    owner_url: &str,
    app_url: &str,
    issuer: OidcIssuer,
    tenant_claim: &str,
) -> Result<Router, Box<dyn std::error::Error>> {
    let db = PgDatabase::connect(app_url, 16)?;
    prepare(owner_url, "notes_app", MIGRATIONS, &db).await?;
    let tokens = issuer
        .discover()
        .await?
        .claims(ClaimMapping::default().tenant(tenant_claim));
    let edge = TenantLayer::new(
        Tenants::new(Arc::new(SqlTenantStore::new(db.clone()))),
        tokens,
    )
    .resolver(FromSubdomain::new("notes.localhost"));
    let notes = get(list).post(add);
    Ok(Router::new()
        .route("/notes", notes)
        .layer(edge)
        .with_state(Database::Postgres(db)))
}

/// The current tenant's notes: no tenant id in sight, RLS and the context do the scoping.
async fn list(State(db): State<Database>) -> Result<axum::Json<Vec<String>>, DataError> {
    let rows = db
        .tenant()?
        .fetch_all("SELECT body FROM notes ORDER BY id", params![])
        .await?;
    Ok(axum::Json(
        rows.iter()
            .map(|row| row.get(0))
            .collect::<Result<_, _>>()?,
    ))
}

async fn add(State(db): State<Database>, body: String) -> Result<StatusCode, DataError> {
    db.tenant()?
        .execute("INSERT INTO notes (body) VALUES ($1)", params![body])
        .await?;
    Ok(StatusCode::CREATED)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let issuer = OidcIssuer::new(env("ISSUER")?);
    let claim = env("TENANT_CLAIM").unwrap_or_else(|_| "tenant".into());
    let app = app(&env("OWNER_URL")?, &env("APP_URL")?, issuer, &claim).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
