//! Per-tenant limits on paused time: rate (429 + headers), concurrency
//! (429), timeout (504) — and one tenant's exhaustion leaves another alone.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use tenantry::context::{Plan, TenantContext, TenantId};
use tenantry::limits::{Limits, LimitsConfig, TenantLimitsLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

fn tenant(slug: &str) -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), slug)
        .plan(Plan::from_static("free"))
        .build()
        .unwrap()
}

fn request(ctx: &TenantContext) -> Request<Body> {
    let mut req = Request::get("/").body(Body::empty()).unwrap();
    req.extensions_mut().insert(ctx.clone());
    req
}

fn config(free: Limits) -> LimitsConfig {
    LimitsConfig {
        by_plan: HashMap::from([(Plan::from_static("free"), free)]),
        ..LimitsConfig::default()
    }
}

const GENEROUS: Limits = Limits {
    per_second: 1_000,
    burst: 1_000,
    concurrent: 1_000,
    timeout: Duration::from_secs(60),
};

async fn ok(_: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

#[tokio::test(start_paused = true)]
async fn rate_limit_per_tenant_with_headers() {
    let layer = TenantLimitsLayer::new(config(Limits {
        per_second: 10,
        burst: 2,
        ..GENEROUS
    }));
    let svc = layer.layer(service_fn(ok));
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    for _ in 0..3 {
        assert_eq!(
            svc.clone().oneshot(request(&acme)).await.unwrap().status(),
            StatusCode::OK
        );
    }
    let refused = svc.clone().oneshot(request(&acme)).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["ratelimit-limit"], "3");
    // Another tenant is untouched.
    let other = svc.clone().oneshot(request(&globex)).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(other.headers()["ratelimit-remaining"], "2");
    // One interval later, acme gets one more.
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(
        svc.clone().oneshot(request(&acme)).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        svc.clone().oneshot(request(&acme)).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_budget_per_tenant() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let inner = {
        let gate = gate.clone();
        service_fn(move |_req: Request<Body>| {
            let gate = gate.clone();
            async move {
                let _pass = gate.acquire().await.unwrap();
                Ok::<_, Infallible>(Response::new(Body::empty()))
            }
        })
    };
    let svc = TenantLimitsLayer::new(config(Limits {
        concurrent: 2,
        ..GENEROUS
    }))
    .layer(inner);
    let (acme, globex) = (tenant("acme"), tenant("globex"));
    // Two requests occupy acme's two slots.
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(svc.clone().oneshot(request(&acme))))
        .collect();
    tokio::task::yield_now().await;
    let third = svc.clone().oneshot(request(&acme)).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    // globex has slots of its own.
    let other = tokio::spawn(svc.clone().oneshot(request(&globex)));
    gate.add_permits(3);
    assert_eq!(other.await.unwrap().unwrap().status(), StatusCode::OK);
    for h in held {
        assert_eq!(h.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    gate.add_permits(1);
    assert_eq!(
        svc.clone().oneshot(request(&acme)).await.unwrap().status(),
        StatusCode::OK,
        "slots come back"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_requests_time_out_with_504() {
    let slow = service_fn(|_req: Request<Body>| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let mut svc = TenantLimitsLayer::new(config(Limits {
        timeout: Duration::from_secs(1),
        ..GENEROUS
    }))
    .layer(slow);
    let response = svc
        .ready()
        .await
        .unwrap()
        .call(request(&tenant("acme")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("time budget"));
}

#[tokio::test]
async fn plans_overrides_and_the_system_tenant() {
    use tenantry::plans::{PlanCatalog, PlanSpec};
    let (starter, scale) = (Plan::from_static("starter"), Plan::from_static("scale"));
    let sized = |requests_per_second| PlanSpec {
        requests_per_second,
        ..PlanSpec::default()
    };
    let catalog = PlanCatalog::new(
        starter.clone(),
        [(starter, sized(20)), (scale.clone(), sized(900))],
    )
    .unwrap();
    let mut config = LimitsConfig::from_plans(&catalog);
    let on = |plan: &str| {
        TenantContext::builder(TenantId::new_v4(), "acme")
            .plan(plan.parse().unwrap())
            .build()
            .unwrap()
    };
    assert_eq!(config.for_context(&on("scale")).per_second, 900);
    assert_eq!(config.for_context(&on("starter")).per_second, 20);
    assert_eq!(
        config.for_context(&on("retired")).per_second,
        20,
        "an unlisted plan gets the default plan's sizes"
    );
    let vip = on("starter");
    let custom = Limits {
        per_second: 7,
        ..GENEROUS
    };
    config.overrides.insert(vip.tenant_id(), custom);
    assert_eq!(config.for_context(&vip), custom);
    let system =
        tenantry::context::run_as_system("test", async { tenantry::context::require().unwrap() })
            .await;
    assert_eq!(config.for_context(&system), config.system);
}
