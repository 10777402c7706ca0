//! tenantry in an sqlx app: the app keeps its own `PgPool` and its own SQL;
//! tenantry hands out transactions with the tenant already set (row-level
//! security on), and a job enqueued in the same transaction as the write it
//! belongs to — both commit, or neither.
//!
//! `POST /notes` stores a note and enqueues `count_words` with it; the
//! worker runs the job in the note's tenant's context and writes the count,
//! through the same tenant-scoped sqlx transactions.
//!
//! ```text
//! OWNER_URL=postgres://postgres@127.0.0.1/notes APP_URL=postgres://notes_app@127.0.0.1/notes \
//! JWT_SECRET=$(openssl rand -hex 32) \
//! cargo run -p tenantry --example sqlx_notes --features edge,postgres,jobs,sqlx
//! ```
//!
//! (sqlx's core and PostgreSQL crates are named here directly; in an app
//! that depends on the `sqlx` facade they are `sqlx::…`.)

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, http::StatusCode, routing::get};
use sqlx_core::{query::query, query_as::query_as, query_scalar::query_scalar};
use sqlx_postgres::PgPoolOptions;
use tenantry::data::postgres::{PgDatabase, prepare};
use tenantry::data::sqlx::SqlxTenantPool;
use tenantry::data::{DataError, Migration};
use tenantry::edge::{FromSubdomain, TenantLayer, TokenVerifier};
use tenantry::jobs::{JobEnvelope, JobError, Lane, PgQueue, Worker, WorkerOptions};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::Tenants;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "notes",
    sql: concat!(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL, words int,
                             tenant_id uuid NOT NULL DEFAULT tenantry_current_tenant());",
        tenantry::rls_policy!("notes"),
    ),
}];

#[derive(Clone)]
struct Notes {
    db: SqlxTenantPool,
    queue: PgQueue,
}

/// A data or a queue error, as a response.
enum AppError {
    Data(DataError),
    Job(JobError),
}

impl From<DataError> for AppError {
    fn from(e: DataError) -> Self {
        AppError::Data(e)
    }
}
impl From<sqlx_core::error::Error> for AppError {
    fn from(e: sqlx_core::error::Error) -> Self {
        AppError::Data(e.into())
    }
}
impl From<JobError> for AppError {
    fn from(e: JobError) -> Self {
        AppError::Job(e)
    }
}
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Data(e) => e.into_response(),
            AppError::Job(e) => e.into_response(),
        }
    }
}

/// The service and the worker that counts words.
pub(crate) async fn app(
    owner_url: &str,
    app_url: &str,
    tokens: TokenVerifier,
) -> Result<(Router, Worker), Box<dyn std::error::Error>> {
    // tenantry's control plane (registry, queue) on its own small pool…
    let control = PgDatabase::connect(app_url, 4)?;
    prepare(owner_url, "notes_app", MIGRATIONS, &control).await?;
    // …and the app's sqlx pool for its own SQL, connected as the app role.
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(app_url)
        .await?;
    let notes = Notes {
        db: SqlxTenantPool::new(pool),
        queue: PgQueue::new(control.clone()),
    };
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(control)));
    let worker = Worker::new(
        Arc::new(notes.queue.clone()),
        tenants.clone(),
        WorkerOptions::new(Lane::Batch, "words"),
    )
    .handle_json("count_words", {
        let db = notes.db.clone();
        move |_job, note: i64| count_words(db.clone(), note)
    });
    let edge = TenantLayer::new(tenants, tokens).resolver(FromSubdomain::new("notes.localhost"));
    let router = Router::new()
        .route("/notes", get(list).post(add))
        .layer(edge)
        .with_state(notes);
    Ok((router, worker))
}

async fn add(State(notes): State<Notes>, body: String) -> Result<StatusCode, AppError> {
    let mut tx = notes.db.begin().await?;
    let id: i64 = query_scalar("INSERT INTO notes (body) VALUES ($1) RETURNING id")
        .bind(body)
        .fetch_one(&mut *tx)
        .await?;
    let job = JobEnvelope::new("count_words", &id)?;
    notes.queue.enqueue_in_sqlx(&mut tx, &job).await?;
    tx.commit().await?;
    Ok(StatusCode::CREATED)
}

async fn list(
    State(notes): State<Notes>,
) -> Result<Json<Vec<(i64, String, Option<i32>)>>, AppError> {
    let mut tx = notes.db.begin().await?;
    let rows = query_as("SELECT id, body, words FROM notes ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    Ok(Json(rows))
}

/// Runs in the tenant's context (the worker sets it from the job), so the
/// transaction is scoped like a request's.
async fn count_words(db: SqlxTenantPool, note: i64) -> Result<(), DataError> {
    let mut tx = db.begin().await?;
    query(
        "UPDATE notes SET words = coalesce(array_length(regexp_split_to_array(trim(body), '\\s+'), 1), 0)
         WHERE id = $1",
    )
    .bind(note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let secret = env("JWT_SECRET")?;
    if secret.len() < 32 {
        return Err("JWT_SECRET must be at least 32 characters".into());
    }
    let (app, worker) = app(
        &env("OWNER_URL")?,
        &env("APP_URL")?,
        TokenVerifier::hs256(secret.as_bytes()),
    )
    .await?;
    tokio::spawn(worker.run(std::future::pending()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
