//! The accept loop: HTTP/1.1 with the limits `axum::serve` does not have.
//!
//! - **A header-read timeout.** A client that opens a connection and sends
//!   its request head a byte at a time (slow-loris) would otherwise hold the
//!   connection, and a task, for as long as it likes; here the head must be
//!   complete within [`ServeLimits::header_read_timeout`], or the
//!   connection is closed.
//! - **A body-read timeout.** The body must have arrived within
//!   [`ServeLimits::body_read_timeout`] of the head (see
//!   [`body_deadline`]); past it the request is answered 408 and the
//!   connection closed. Between requests, an idle keep-alive connection is
//!   closed by the header-read timeout, which runs from the end of one
//!   request to the head of the next.
//! - **A connection cap.** Past [`ServeLimits::max_connections`] open
//!   connections, a new one is closed at once instead of queuing work the
//!   process cannot do; the ones already open keep being served.
//!
//! On shutdown the listener stops accepting and every open connection
//! finishes its in-flight request, then closes.

mod body_deadline;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Bounds on what clients can hold open.
#[derive(Clone, Copy, Debug)]
pub struct ServeLimits {
    /// The longest a request head may take to arrive (and a kept-alive
    /// connection may wait for its next request).
    pub header_read_timeout: Duration,
    /// The longest a request body may take to arrive, from its head.
    pub body_read_timeout: Duration,
    /// Connections open at once; more are closed on arrival.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// `app` as each request of the connection from `peer` meets it: with the
/// peer's address (handlers that limit per client, sign-up), and its body
/// held to the body-read timeout (a late body is answered 408, and the
/// connection closed).
fn per_request(
    app: Router,
    peer: std::net::SocketAddr,
    limits: ServeLimits,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<axum::response::Response, std::convert::Infallible>> + Send,
> + Clone {
    tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let expired = Arc::new(AtomicBool::new(false));
        let mut request = request.map(|body| {
            axum::body::Body::new(body_deadline::BodyDeadline::new(
                body,
                limits.body_read_timeout,
                expired.clone(),
            ))
        });
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let call = tower::ServiceExt::oneshot(app.clone(), request);
        async move {
            let response = call.await?;
            if !expired.load(Ordering::Relaxed) {
                return Ok(response);
            }
            tracing::info!(%peer, "request body not received in time: connection closed");
            Ok(axum::response::IntoResponse::into_response((
                http::StatusCode::REQUEST_TIMEOUT,
                [(http::header::CONNECTION, "close")],
                axum::Json(serde_json::json!({
                    "error": "the request body did not arrive in time"
                })),
            )))
        }
    })
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then lets open connections finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Some(limits.header_read_timeout));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the listener is
                // fine, this one connection is not.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                max = limits.max_connections,
                "connection refused: too many open connections"
            );
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(per_request(app.clone(), peer, limits));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
