//! Spawning that keeps the tenant: the only way context crosses a task boundary.

use std::future::Future;

use tokio::task::JoinHandle;
use tracing::Instrument;

use super::scope::current;

/// Like [`tokio::spawn`], but the task runs in the caller's tenant context
/// (if any) and inside the caller's current tracing span.
///
/// Outside a context the task runs without one, exactly like `tokio::spawn`:
/// helpers inside it then fail with `NoTenantContext` rather than guessing.
pub fn spawn<F>(work: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let span = tracing::Span::current();
    match current() {
        // The parent span already carries the tenant fields, so re-scope
        // without opening a second `tenant` span.
        Some(ctx) => tokio::spawn(super::scope::scope_without_span(ctx, work.instrument(span))),
        None => tokio::spawn(work.instrument(span)),
    }
}

/// Like [`tokio::task::spawn_blocking`], carrying the context and span.
pub fn spawn_blocking<F, R>(work: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    let ctx = current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        match ctx {
            Some(ctx) => super::scope::sync_scope_without_span(ctx, work),
            None => work(),
        }
    })
}
