//! Run with `cargo run --release --example bare_orders -- DATABASE_URL [LISTEN]`.
//!
//! The benchmark's **stripped** baseline: `GET /api/orders/{id}` as a bare
//! axum handler running the same primary-key query as tenantry, with no
//! tenancy layers — no token check, no tenant lookup, no RLS (it connects
//! as a superuser, which bypasses row-level security), no per-transaction
//! tenant setting, no logging. It still echoes `X-Request-Id` so the
//! loader can check every response. Its figures measure what the tenancy
//! layers cost; they are not a configuration anyone should run.

use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::json;
use tokio_postgres::NoTls;

const SQL: &str = "SELECT id, number, customer, total_cents, status FROM orders WHERE id = $1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bare_orders DATABASE_URL [LISTEN]"))?;
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3003".to_owned());
    let manager = Manager::from_config(
        tokio_postgres::Config::from_str(&url)?,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager).max_size(16).build()?;
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/orders/{id}", get(order))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("bare_orders on http://{listen}");
    axum::serve(listener, app).await?;
    Ok(())
}

async fn order(State(pool): State<Pool>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let echo = headers
        .get("x-request-id")
        .cloned()
        .unwrap_or(HeaderValue::from_static("none"));
    let mut response = match answer(&pool, &id).await {
        Ok(Some(body)) => Json(body).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    response.headers_mut().insert("x-request-id", echo);
    response
}

async fn answer(pool: &Pool, id: &str) -> anyhow::Result<Option<serde_json::Value>> {
    let Ok(id) = uuid::Uuid::parse_str(id) else {
        return Ok(None);
    };
    let client = pool.get().await?;
    let statement = client.prepare_cached(SQL).await?;
    let row = client.query_opt(&statement, &[&id]).await?;
    Ok(row.map(|r| {
        json!({
            "id": r.get::<_, uuid::Uuid>(0),
            "number": r.get::<_, i64>(1),
            "customer": r.get::<_, String>(2),
            "total_cents": r.get::<_, i64>(3),
            "status": r.get::<_, String>(4),
        })
    }))
}
