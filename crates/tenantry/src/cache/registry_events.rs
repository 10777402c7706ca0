//! [`RedisRegistryEvents`]: tenant-record (and tenant-configuration) changes announced between
//! processes over Redis pub/sub.
//!
//! Suspending a tenant in one process must stop its requests in every
//! process now, not when each process's 60 s record cache expires. Every
//! change made through [`Tenants`] publishes the changed record's keys; each
//! listening process drops them from its own cache. A process also hears
//! its own announcements, which only drops keys it has already dropped.

use futures_util::StreamExt;

use super::CacheError;
use crate::registry::{BoxFuture, ChangedKeys, RegistryEvents, TenantRecord, Tenants};

const CHANNEL: &str = "tenantry:registry";

/// Publishes and receives registry changes through Redis.
pub struct RedisRegistryEvents {
    client: redis::Client,
    publisher: redis::aio::ConnectionManager,
}

impl RedisRegistryEvents {
    /// Connects to `url` (`redis://127.0.0.1:6379`).
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let backend = |e: redis::RedisError| CacheError::Backend(Box::new(e));
        let client = redis::Client::open(url).map_err(backend)?;
        let publisher = redis::aio::ConnectionManager::new(client.clone())
            .await
            .map_err(backend)?;
        Ok(Self { client, publisher })
    }

    /// Starts dropping other processes' changes from `tenants`' cache; the
    /// subscription is in place when this returns.
    pub async fn listen(
        &self,
        tenants: Tenants,
    ) -> Result<tokio::task::JoinHandle<()>, CacheError> {
        self.listen_then(tenants, || {}).await
    }

    /// [`listen`](Self::listen), calling `then` after each change is
    /// applied (and after a gap): e.g. to start the process's
    /// acknowledgement round at once (see `tenantry::fence`).
    pub async fn listen_then(
        &self,
        tenants: Tenants,
        then: impl Fn() + Send + Sync + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, CacheError> {
        let on_gap = tenants.clone();
        let then = std::sync::Arc::new(then);
        let after_gap = then.clone();
        self.subscribe(
            CHANNEL,
            "registry",
            move |payload| {
                let keys = serde_json::from_str::<ChangedKeys>(payload).ok()?;
                tenants.forget(&keys);
                then();
                Some(())
            },
            move || {
                on_gap.forget_all();
                after_gap();
            },
        )
        .await
    }

    /// Subscribes to `channel` and hands each message to `apply` (which
    /// says `None` for a message it cannot read) on a background task.
    ///
    /// When Redis goes away the task subscribes again, with a capped
    /// backoff, for as long as the process runs. Messages published while
    /// it was away are lost, so on every resubscription `gap` drops all
    /// that the cache holds: after an outage nothing is served from before
    /// it, and invalidation is exact again from then on.
    async fn subscribe(
        &self,
        channel: &'static str,
        what: &'static str,
        apply: impl Fn(&str) -> Option<()> + Send + 'static,
        gap: impl Fn() + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<()>, CacheError> {
        let backend = |e: redis::RedisError| CacheError::Backend(Box::new(e));
        let mut pubsub = self.client.get_async_pubsub().await.map_err(backend)?;
        pubsub.subscribe(channel).await.map_err(backend)?;
        let client = self.client.clone();
        Ok(tokio::spawn(async move {
            let mut pubsub = Some(pubsub);
            let mut backoff = std::time::Duration::from_millis(100);
            loop {
                if let Some(subscribed) = pubsub.take() {
                    let mut messages = subscribed.into_on_message();
                    while let Some(message) = messages.next().await {
                        let applied = message
                            .get_payload::<String>()
                            .ok()
                            .and_then(|payload| apply(&payload));
                        if applied.is_none() {
                            tracing::warn!(what, "ignoring a malformed change message");
                        }
                    }
                    tracing::warn!(
                        what,
                        "change subscription lost; caches refresh by TTL until it is back"
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                let again = async {
                    let mut fresh = client.get_async_pubsub().await?;
                    fresh.subscribe(channel).await?;
                    Ok::<_, redis::RedisError>(fresh)
                };
                match again.await {
                    Ok(fresh) => {
                        gap();
                        tracing::info!(what, "change subscription back; cache emptied");
                        backoff = std::time::Duration::from_millis(100);
                        pubsub = Some(fresh);
                    }
                    Err(e) => tracing::debug!(what, error = %e, "resubscribing failed"),
                }
            }
        }))
    }
}

impl RegistryEvents for RedisRegistryEvents {
    fn changed(&self, record: &TenantRecord) -> BoxFuture<'_, ()> {
        let message = serde_json::to_string(&ChangedKeys::of(record)).unwrap_or_default();
        let mut conn = self.publisher.clone();
        Box::pin(async move {
            let sent = redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(message)
                .query_async::<i64>(&mut conn)
                .await;
            if let Err(e) = sent {
                // The change itself is committed; other processes catch up by TTL.
                tracing::warn!(error = %e, "could not announce a registry change");
            }
        })
    }
}

/// Tenant settings and flags changes travel on their own channel: one
/// message, the tenant id.
#[cfg(feature = "config")]
const CONFIG_CHANNEL: &str = "tenantry:config";

#[cfg(feature = "config")]
impl RedisRegistryEvents {
    /// Starts dropping other processes' configuration changes from
    /// `config`'s cache; the subscription is in place when this returns.
    pub async fn listen_config<S: crate::config::Settings>(
        &self,
        config: crate::config::TenantConfig<S>,
    ) -> Result<tokio::task::JoinHandle<()>, CacheError> {
        let on_gap = config.clone();
        self.subscribe(
            CONFIG_CHANNEL,
            "configuration",
            move |payload| {
                config.forget(payload.parse().ok()?);
                Some(())
            },
            move || on_gap.forget_all(),
        )
        .await
    }
}

#[cfg(feature = "config")]
impl crate::config::ConfigEvents for RedisRegistryEvents {
    fn changed(&self, tenant: crate::context::TenantId) -> BoxFuture<'_, ()> {
        let mut conn = self.publisher.clone();
        Box::pin(async move {
            let sent = redis::cmd("PUBLISH")
                .arg(CONFIG_CHANNEL)
                .arg(tenant.to_string())
                .query_async::<i64>(&mut conn)
                .await;
            if let Err(e) = sent {
                // The change is committed; other processes catch up by TTL.
                tracing::warn!(error = %e, "could not announce a configuration change");
            }
        })
    }
}
