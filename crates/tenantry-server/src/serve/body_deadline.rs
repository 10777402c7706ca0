//! [`BodyDeadline`]: a request body that must have arrived by a deadline.
//!
//! hyper bounds the time to read a request's head, not its body: a client
//! that sends a head and then a byte now and then holds the connection
//! (and one of the capped connection slots) for as long as it likes. Past
//! the deadline this body fails, the handler's read of it fails with it,
//! and [`serve`](super::serve) answers 408 and closes the connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `inner`, failing once `deadline` has passed before its end.
pub(crate) struct BodyDeadline<B> {
    inner: Pin<Box<B>>,
    deadline: Instant,
    // Armed on the first read that has to wait: a body read at once (or
    // never) costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl<B> BodyDeadline<B> {
    /// `inner`, to be read within `within` from now; `expired` is set if it
    /// was not.
    pub(crate) fn new(inner: B, within: Duration, expired: Arc<AtomicBool>) -> Self {
        Self {
            inner: Box::pin(inner),
            deadline: Instant::now() + within,
            timer: None,
            expired,
        }
    }
}

impl<B> Body for BodyDeadline<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err("the request body did not arrive in time".into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
