//! What the edge costs per request, in process (no network, no database).
//!
//! Run with `cargo bench -p tenantry --features edge --bench edge`.
//! The JSON log subscriber is installed (writing to a sink), as in the
//! server, so span creation costs what it costs in production.

#![allow(clippy::unwrap_used)] // bench set-up: a failed unwrap is a broken bench

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use tenantry::context::{Plan, TenantContext, TenantId, Tier};
use tenantry::edge::{
    Claims, FromCustomDomain, FromHeader, FromPathPrefix, FromSubdomain, RequestIdLayer,
    TenantLayer, TokenVerifier, issue_hs256,
};
use tenantry::registry::{MemoryTenantStore, NewTenant, TenantKey, TenantState, Tenants};
use tower::{Layer, Service, ServiceExt, service_fn};

const SECRET: &[u8] = b"bench-secret-change-me-0123456789abcdef";

mod common;

use common::runtime;

fn main() {
    tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_writer(std::io::sink)
        .init();
    divan::main();
}

/// The registry with tenant `t042`, in memory.
fn tenants() -> Tenants {
    let tenants = Tenants::new(Arc::new(MemoryTenantStore::default()));
    let new = NewTenant {
        id: None,
        slug: "t042".into(),
        name: "t042".into(),
        plan: Plan::from_static("free"),
        tier: Tier::Shared,
        state: TenantState::Active,
        domains: vec![],
        database_server: None,
    };
    runtime().block_on(tenants.create(new)).unwrap();
    tenants
}

fn token() -> String {
    let claims = Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        tenant: "t042".into(),
        role: None,
        exp: jsonwebtoken::get_current_timestamp() + 3600,
        ..Claims::default()
    };
    issue_hs256(SECRET, &claims).unwrap()
}

fn request(token: &str) -> Request<Body> {
    Request::get("/api/orders/5b1ae6a4-7f3a-4c4e-9b7e-1c2d3e4f5a6b")
        .header("host", "t042.app.localhost:3002")
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", "v1-12345")
        .body(Body::empty())
        .unwrap()
}

async fn ok(_: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::from("{}")))
}

#[divan::bench]
fn handler_alone(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let token = token();
    bencher.bench_local(|| {
        rt.block_on(service_fn(ok).oneshot(request(&token)))
            .unwrap()
    });
}

#[divan::bench]
fn request_id_layer(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let token = token();
    let svc = RequestIdLayer.layer(service_fn(ok));
    bencher.bench_local(|| rt.block_on(svc.clone().oneshot(request(&token))).unwrap());
}

/// The whole edge as the reference server configures it.
#[divan::bench]
fn full_edge(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let token = token();
    let edge = TenantLayer::new(tenants(), TokenVerifier::hs256(SECRET))
        .resolver(FromPathPrefix::new("/t"))
        .resolver(FromSubdomain::new("app.localhost"))
        .resolver(FromCustomDomain::new("app.localhost"))
        .resolver(FromHeader::new());
    let mut svc = RequestIdLayer.layer(edge.layer(tower::service_fn(ok)));
    bencher.bench_local(|| {
        rt.block_on(async {
            let ready = svc.ready().await.unwrap();
            let response = ready.call(request(&token)).await.unwrap();
            assert_eq!(response.status(), 200);
        })
    });
}

#[divan::bench]
fn verify_hs256(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let token = token();
    let verifier = TokenVerifier::hs256(SECRET);
    bencher.bench_local(|| rt.block_on(verifier.verify(&token)).unwrap());
}

#[divan::bench]
fn cached_tenant_lookup(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let tenants = tenants();
    let key = TenantKey::Slug("t042".into());
    rt.block_on(tenants.find(&key)).unwrap();
    bencher.bench_local(|| rt.block_on(tenants.find(&key)).unwrap());
}

#[divan::bench]
fn context_scope_with_span(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    bencher.bench_local(|| {
        let ctx = TenantContext::builder(TenantId::new_v4(), "t042")
            .build()
            .unwrap();
        rt.block_on(ctx.scope(async { tenantry::context::require().is_ok() }))
    });
}

#[divan::bench]
fn one_json_log_line_in_scope(bencher: divan::Bencher<'_, '_>) {
    let rt = runtime();
    let ctx = TenantContext::builder(TenantId::new_v4(), "t042")
        .build()
        .unwrap();
    bencher.bench_local(|| {
        rt.block_on(ctx.clone().scope(async {
            tracing::info!(target: "tenantry::access", method = "GET", route = "/api/orders/{id}", status = 200u16, micros = 42u64, "request");
        }))
    });
}
