//! [`TenantLimitsLayer`]: rate, concurrency and timeout per tenant.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use moka::sync::Cache;
use tokio::sync::Semaphore;
use tower::{Layer, Service};

use super::gcra::{self, Decision};
use super::{Limits, LimitsConfig};
use crate::context::{TenantContext, TenantId};

/// Per-tenant state is dropped after this long without requests, so the
/// maps stay as small as the set of active tenants.
const IDLE_STATE: Duration = Duration::from_secs(600);

/// Applies [`LimitsConfig`] per tenant; see the [module docs](super).
#[derive(Clone)]
pub struct TenantLimitsLayer {
    state: Arc<State>,
}

struct State {
    config: LimitsConfig,
    // The GCRA timestamp per tenant; a `Mutex` per entry because a check is
    // a read-modify-write that must not interleave for one tenant.
    rates: Cache<TenantId, Arc<Mutex<Option<tokio::time::Instant>>>>,
    // In-flight slots per tenant.
    slots: Cache<TenantId, Arc<Semaphore>>,
}

impl TenantLimitsLayer {
    /// Limits sized by `config`.
    pub fn new(config: LimitsConfig) -> Self {
        let rates = Cache::builder().time_to_idle(IDLE_STATE).build();
        let slots = Cache::builder().time_to_idle(IDLE_STATE).build();
        Self {
            state: Arc::new(State {
                config,
                rates,
                slots,
            }),
        }
    }
}

impl<S> Layer<S> for TenantLimitsLayer {
    type Service = TenantLimitsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantLimitsService {
            inner,
            state: self.state.clone(),
        }
    }
}

/// The service made by [`TenantLimitsLayer`].
#[derive(Clone)]
pub struct TenantLimitsService<S> {
    inner: S,
    state: Arc<State>,
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
        let state = self.state.clone();
        Box::pin(async move {
            // Outside the tenant edge there is nothing to budget by; that is
            // a wiring mistake the edge's own checks already refuse.
            let Some(ctx) = req.extensions().get::<TenantContext>().cloned() else {
                return inner.call(req).await;
            };
            let limits = state.config.for_context(&ctx);
            let tenant = ctx.tenant_id();

            let rate = state.rates.get_with(tenant, || Arc::new(Mutex::new(None)));
            let decision = {
                let mut tat = rate.lock().unwrap_or_else(|p| p.into_inner());
                gcra::check(
                    &mut tat,
                    tokio::time::Instant::now(),
                    limits.per_second,
                    limits.burst,
                )
            };
            let remaining = match decision {
                Decision::Deny { retry_after } => return Ok(rate_limited(&limits, retry_after)),
                Decision::Allow { remaining } => remaining,
            };

            let slots = state.slots.get_with(tenant, || {
                Arc::new(Semaphore::new(limits.concurrent as usize))
            });
            let Ok(_slot) = slots.try_acquire_owned() else {
                return Ok(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many concurrent requests for this tenant",
                    Some(1),
                ));
            };

            let mut response = match tokio::time::timeout(limits.timeout, inner.call(req)).await {
                Ok(response) => response?,
                Err(_) => {
                    tracing::warn!(
                        timeout_ms = limits.timeout.as_millis() as u64,
                        "request exceeded the tenant's timeout"
                    );
                    refuse(
                        StatusCode::GATEWAY_TIMEOUT,
                        "the request took longer than this tenant's time budget",
                        None,
                    )
                }
            };
            let headers = response.headers_mut();
            headers.insert("ratelimit-limit", HeaderValue::from(limits.burst + 1));
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
