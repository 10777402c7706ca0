//! `X-Request-Id`: kept when well-formed, taken from an inbound
//! `traceparent`'s trace id when absent (so the request id and the trace id
//! stay one), generated otherwise; echoed always.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

use crate::context::{RequestId, TraceParent};

/// The request-id header.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: its well-formed `X-Request-Id`, else its
/// `traceparent`'s trace id as a UUID, else a new one.
pub(crate) fn request_id_of(headers: &HeaderMap) -> RequestId {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header(REQUEST_ID_HEADER.as_str())
        .and_then(RequestId::parse)
        .or_else(|| {
            let parent = TraceParent::parse(header("traceparent")?)?;
            RequestId::parse(&uuid::Uuid::from_u128(parent.trace_id).to_string())
        })
        .unwrap_or_else(RequestId::generate)
}

/// The inbound `traceparent` when it belongs to `request`'s trace.
pub(crate) fn trace_parent_of(headers: &HeaderMap, request: &RequestId) -> Option<TraceParent> {
    let parent = TraceParent::parse(headers.get("traceparent")?.to_str().ok()?)?;
    (parent.trace_id == crate::context::trace_id_of(request.as_str())).then_some(parent)
}

/// Ensures every request carries a well-formed `X-Request-Id` (replacing a
/// malformed one, so nothing downstream logs attacker-chosen text) and
/// copies it onto the response. Put it outermost.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

/// The service made by [`RequestIdLayer`].
#[derive(Clone, Debug)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = request_id_of(req.headers());
        // `RequestId` admits only header-safe ASCII, so this cannot fail.
        let value = HeaderValue::from_str(id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        req.headers_mut().insert(REQUEST_ID_HEADER, value.clone());
        let future = self.inner.call(req);
        Box::pin(async move {
            let mut response = future.await?;
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
            Ok(response)
        })
    }
}
