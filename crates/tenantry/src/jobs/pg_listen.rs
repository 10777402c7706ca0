//! The `LISTEN` side of PostgreSQL wake-ups: one connection per queue,
//! outside the pool (a listening session must stay open), turning
//! notifications into [`Wakeups`].

use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use super::{Lane, Wakeups};

/// The channel enqueues notify on; the payload is the lane.
pub(crate) const WAKE_CHANNEL: &str = "tenantry_jobs";

/// Listens until the queue (the last strong reference to `wakeups`) is
/// dropped; reconnects with a capped backoff when the session is lost.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: crate::data::postgres::PgTls,
    wakeups: Weak<Wakeups>,
) {
    let mut backoff = Duration::from_millis(100);
    while wakeups.strong_count() > 0 {
        match session(&config, &tls, &wakeups).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "job wake-ups lost; workers poll until they return");
                // Lost notifications are covered by polling; wake everyone so
                // nothing waits a whole poll interval for what was missed.
                if let Some(w) = wakeups.upgrade() {
                    for lane in Lane::ALL {
                        w.wake(lane);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// One listening session: `Ok` once the queue is gone, `Err` when the
/// session is lost.
async fn session(
    config: &tokio_postgres::Config,
    tls: &crate::data::postgres::PgTls,
    wakeups: &Weak<Wakeups>,
) -> Result<(), String> {
    let closed = || "connection closed".to_owned();
    let (client, mut connection) = config
        .connect(tls.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {WAKE_CHANNEL}");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    // The connection must be driven while LISTEN runs.
    loop {
        tokio::select! {
            done = &mut listen => { done.map_err(|e| e.to_string())?; break; }
            message = messages.next() => match message {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err(closed()),
            },
        }
    }
    while let Some(message) = messages.next().await {
        let Some(wakeups) = wakeups.upgrade() else {
            return Ok(());
        };
        if let AsyncMessage::Notification(n) = message.map_err(|e| e.to_string())?
            && let Ok(lane) = n.payload().parse::<Lane>()
        {
            wakeups.wake(lane);
        }
    }
    Err(closed())
}
