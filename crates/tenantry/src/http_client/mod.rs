//! Outbound HTTP in the tenant's name: [`OutboundClient`].
//!
//! Every call made inside a tenant context says whose it is —
//! `X-Tenant-Id`, `X-Request-Id`, a W3C `traceparent` and `baggage`
//! (`tenant.id`, `tenant.slug`) — so the receiving side's logs and traces
//! join up with ours. Each call is bounded by the *tenant's* outbound
//! timeout ([`TimeoutPolicy`], from its settings), so one tenant's slow
//! endpoint holds a worker no longer than that tenant's budget; and every
//! destination passes the [`DestinationGuard`]: host names are vetted by
//! the client's own resolver at connect time (no second lookup to rebind),
//! literal addresses before the request, redirects are not followed and
//! proxies from the environment are not used.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use tenantry::context::{TenantContext, TenantId};
//! use tenantry::http_client::{OutboundClient, OutboundError};
//! use tenantry::webhooks::DestinationGuard;
//!
//! let client = OutboundClient::new(DestinationGuard::new()).unwrap();
//! // No context, no call.
//! let outside = client.post("http://example.invalid/", "application/json", b"{}".to_vec()).await;
//! assert!(matches!(outside, Err(OutboundError::NoTenantContext(_))));
//! // Internal addresses are refused before anything is sent.
//! let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
//! let metadata = acme.scope(client.post("http://169.254.169.254/latest", "text/plain", vec![])).await;
//! assert!(matches!(metadata, Err(OutboundError::Refused(_))));
//! # }
//! ```

mod resolver;
mod trace;

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use crate::context::{self, NoTenantContext, TenantContext};
use crate::registry::BoxFuture;
use crate::webhooks::{DestinationError, DestinationGuard};

pub use trace::traceparent;

/// Bodies read back from a response, at most.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// How long a tenant's outbound calls may take.
pub trait TimeoutPolicy: Send + Sync {
    /// The budget for one call of `tenant`'s.
    fn timeout<'a>(&'a self, tenant: &'a TenantContext) -> BoxFuture<'a, Duration>;
}

/// The same budget for every tenant.
impl TimeoutPolicy for Duration {
    fn timeout<'a>(&'a self, _tenant: &'a TenantContext) -> BoxFuture<'a, Duration> {
        Box::pin(std::future::ready(*self))
    }
}

/// The budget of a tenant whose settings name none.
#[cfg(feature = "config")]
const DEFAULT_OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);

/// Each tenant's [`outbound_timeout`](crate::config::Settings::outbound_timeout)
/// setting (the context's tenant; 10 s when it has none or its settings
/// cannot be read).
#[cfg(feature = "config")]
impl<S: crate::config::Settings> TimeoutPolicy for crate::config::TenantConfig<S> {
    fn timeout<'a>(&'a self, _tenant: &'a TenantContext) -> BoxFuture<'a, Duration> {
        Box::pin(async move {
            self.settings()
                .await
                .unwrap_or_default()
                .outbound_timeout()
                .unwrap_or(DEFAULT_OUTBOUND_TIMEOUT)
        })
    }
}

/// Why an outbound call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboundError {
    /// Called outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// The destination is internal (or invalid) and not allow-listed.
    #[error("destination refused: {0}")]
    Refused(#[from] DestinationError),
    /// The tenant's budget ran out.
    #[error("no response within the tenant's outbound timeout of {0:?}")]
    Timeout(Duration),
    /// Connection or protocol failure.
    #[error("outbound call failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The HTTPS client could not be set up (the platform's trust store).
    #[error("outbound client: {0}")]
    Client(#[source] crate::https::HttpsError),
}

/// A response, its body cut at 64 KiB.
#[derive(Clone, Debug)]
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// Body (up to 64 KiB).
    pub body: Vec<u8>,
}

/// The tenant-aware outbound client; see the [module docs](self).
#[derive(Clone)]
pub struct OutboundClient {
    client: reqwest::Client,
    guard: Arc<DestinationGuard>,
    timeouts: Arc<dyn TimeoutPolicy>,
}

impl OutboundClient {
    /// A client that calls only what `guard` admits, with a 10 s budget
    /// per call until [`with_timeouts`](Self::with_timeouts) says otherwise.
    pub fn new(guard: DestinationGuard) -> Result<Self, OutboundError> {
        let guard = Arc::new(guard);
        let client = crate::https::client_builder()
            .map_err(OutboundError::Client)?
            .dns_resolver(Arc::new(resolver::GuardedResolver::new(guard.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("tenantry")
            .build()
            .map_err(OutboundError::Http)?;
        Ok(Self {
            client,
            guard,
            timeouts: Arc::new(Duration::from_secs(10)),
        })
    }

    /// Budgets calls per tenant with `policy`.
    pub fn with_timeouts(mut self, policy: Arc<dyn TimeoutPolicy>) -> Self {
        self.timeouts = policy;
        self
    }

    /// POSTs `body` to `url` for the context's tenant, with `headers` added
    /// to the tenant, request and trace headers.
    pub async fn post_with(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<OutboundResponse, OutboundError> {
        let ctx = context::require()?;
        let parsed = url::Url::parse(url).map_err(DestinationError::Unparsable)?;
        // Literal addresses never reach the resolver: vet them here.
        if matches!(parsed.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) {
            self.guard.check(url).await?;
        } else if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DestinationError::Scheme(parsed.scheme().to_owned()).into());
        }
        let budget = self.timeouts.timeout(&ctx).await;
        let span = tracing::info_span!(
            "outbound",
            http.request.method = "POST",
            server.address = parsed.host_str().unwrap_or_default(),
        );
        // Inside the call's span: when traced, the receiver's spans hang off it.
        let trace_header = span.in_scope(|| traceparent(&ctx));
        let mut request = self
            .client
            .post(parsed)
            .header("content-type", content_type)
            .header("x-tenant-id", ctx.tenant_id().to_string())
            .header("traceparent", trace_header)
            .header("baggage", trace::baggage(&ctx))
            .body(body);
        if let Some(request_id) = ctx.request_id() {
            request = request.header("x-request-id", request_id.as_str());
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let call = async {
            let response = request.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            let mut response = response;
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                let room = MAX_RESPONSE_BODY.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_RESPONSE_BODY {
                    break;
                }
            }
            Ok(OutboundResponse { status, body })
        };
        tokio::time::timeout(budget, call)
            .instrument(span)
            .await
            .map_err(|_| OutboundError::Timeout(budget))?
    }

    /// [`post_with`](Self::post_with) without extra headers.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<OutboundResponse, OutboundError> {
        self.post_with(url, content_type, &[], body).await
    }
}

/// A refusal by the resolver surfaces as a connect error; keep it a refusal.
fn classify(e: reqwest::Error) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<DestinationError>() {
            return OutboundError::Refused(refused.clone());
        }
        source = err.source();
    }
    OutboundError::Http(e)
}
