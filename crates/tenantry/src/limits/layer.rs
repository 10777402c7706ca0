//! [`TenantLimitsLayer`]: rate, concurrency and timeout per tenant.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use moka::sync::Cache;
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::rates::{Decision, IDLE_STATE, LocalRates, RateStore};
use super::{Limits, LimitsPolicy};
use crate::context::{TenantContext, TenantId};

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Over the rate (429).
    Rate,
    /// Every concurrent-request slot taken (429).
    Concurrency,
    /// Over the time budget (504).
    Timeout,
}

impl Rejection {
    /// `rate`, `concurrency` or `timeout`: a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
            Self::Timeout => "timeout",
        }
    }
}

/// Told about every refused request (metrics, alerts).
pub trait LimitsObserver: Send + Sync + 'static {
    /// A request of `ctx`'s was refused.
    fn rejected(&self, ctx: &TenantContext, why: Rejection);
}

/// A tenant's in-flight slots, with the size they were made for: a changed
/// limit gets a new semaphore (requests holding the old one finish on it).
type Slots = Arc<(u32, Arc<Semaphore>)>;

/// Applies a [`LimitsPolicy`] per tenant; see the [module docs](super).
///
/// Clones share their state, and so do the services of one layer: axum
/// applies a layer to each route, and a budget per route would be no budget.
#[derive(Clone)]
pub struct TenantLimitsLayer {
    policy: Arc<dyn LimitsPolicy>,
    rates: Arc<dyn RateStore>,
    observer: Option<Arc<dyn LimitsObserver>>,
    slots: Cache<TenantId, Slots>,
}

impl TenantLimitsLayer {
    /// Limits sized by `policy` (a [`LimitsConfig`](super::LimitsConfig),
    /// or one that reads tenants' settings), rates kept in this process.
    pub fn new(policy: impl LimitsPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
            rates: Arc::new(LocalRates::default()),
            observer: None,
            slots: Cache::builder().time_to_idle(IDLE_STATE).build(),
        }
    }

    /// Keeps rates in `rates` instead (Redis, for several processes).
    pub fn with_rates(mut self, rates: impl RateStore) -> Self {
        self.rates = Arc::new(rates);
        self
    }

    /// Tells `observer` about every refusal.
    pub fn observed_by(mut self, observer: Arc<dyn LimitsObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn slots_for(&self, tenant: TenantId, size: u32) -> Arc<Semaphore> {
        let slots = self.slots.get_with(tenant, || {
            Arc::new((size, Arc::new(Semaphore::new(size as usize))))
        });
        if slots.0 == size {
            return slots.1.clone();
        }
        let fresh = Arc::new((size, Arc::new(Semaphore::new(size as usize))));
        self.slots.insert(tenant, fresh.clone());
        fresh.1.clone()
    }

    fn refused(&self, ctx: &TenantContext, why: Rejection) {
        if let Some(observer) = &self.observer {
            observer.rejected(ctx, why);
        }
    }
}

impl<S> Layer<S> for TenantLimitsLayer {
    type Service = TenantLimitsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantLimitsService {
            inner,
            limits: self.clone(),
        }
    }
}

/// The service made by [`TenantLimitsLayer`].
#[derive(Clone)]
pub struct TenantLimitsService<S> {
    inner: S,
    limits: TenantLimitsLayer,
}

impl<S> Service<Request<Body>> for TenantLimitsService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits.clone();
        Box::pin(async move {
            // Outside the tenant edge there is nothing to budget by; that is
            // a wiring mistake the edge's own checks already refuse.
            let Some(ctx) = req.extensions().get::<TenantContext>().cloned() else {
                return inner.call(req).await;
            };
            let budget = limits.policy.limits(&ctx).await;
            let tenant = ctx.tenant_id();

            let decision = limits
                .rates
                .check(tenant, budget.per_second, budget.burst)
                .await;
            let remaining = match decision {
                Decision::Deny { retry_after } => {
                    limits.refused(&ctx, Rejection::Rate);
                    return Ok(rate_limited(&budget, retry_after));
                }
                Decision::Allow { remaining } => remaining,
            };

            let Ok(_slot) = limits
                .slots_for(tenant, budget.concurrent)
                .try_acquire_owned()
            else {
                limits.refused(&ctx, Rejection::Concurrency);
                return Ok(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many concurrent requests for this tenant",
                    Some(1),
                ));
            };

            let mut response = match tokio::time::timeout(budget.timeout, inner.call(req)).await {
                Ok(response) => response?,
                Err(_) => {
                    tracing::warn!(
                        timeout_ms = budget.timeout.as_millis() as u64,
                        "request exceeded the tenant's timeout"
                    );
                    limits.refused(&ctx, Rejection::Timeout);
                    refuse(
                        StatusCode::GATEWAY_TIMEOUT,
                        "the request took longer than this tenant's time budget",
                        None,
                    )
                }
            };
            let headers = response.headers_mut();
            headers.insert("ratelimit-limit", HeaderValue::from(budget.burst + 1));
            headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
            Ok(response)
        })
    }
}

fn rate_limited(limits: &Limits, retry_after: Duration) -> Response<Body> {
    let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = refuse(
        StatusCode::TOO_MANY_REQUESTS,
        "rate limit exceeded for this tenant",
        Some(seconds),
    );
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(limits.burst + 1));
    headers.insert("ratelimit-remaining", HeaderValue::from(0u32));
    headers.insert("ratelimit-reset", HeaderValue::from(seconds));
    response
}

fn refuse(status: StatusCode, message: &'static str, retry_after: Option<u64>) -> Response<Body> {
    let mut response = Response::new(Body::from(
        serde_json::json!({ "error": message }).to_string(),
    ));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
