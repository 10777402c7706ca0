//! [`TwoLevelCache`]: in-process entries in front of Redis, kept coherent
//! across processes by Redis pub/sub.
//!
//! Reads hit the local copy first (no network), fall back to Redis and keep
//! a local copy for at most `local_ttl` — and never longer than the key has
//! left in Redis. Every write, delete and tenant flush goes to Redis, then to
//! the local copy, then out on a channel; the other processes drop their
//! local copies when the message arrives, instead of serving them until a
//! TTL runs out.

use crate::cache::CacheFuture;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::{CacheBackend, CacheError, LocalCache, RedisCache};

/// The pub/sub channel the processes share.
const CHANNEL: &str = "tenantry:cache:invalidate";

/// A local cache in front of a shared Redis cache.
#[derive(Clone)]
pub struct TwoLevelCache {
    local: LocalCache,
    remote: RedisCache,
    publisher: redis::aio::ConnectionManager,
    // Tags this process's messages so it can ignore its own echoes.
    node: Arc<str>,
    local_ttl: Duration,
    // Keeps the listener alive as long as any clone is.
    _listener: Arc<Listener>,
}

struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TwoLevelCache {
    /// Connects to `url`, subscribes to invalidations, and keeps up to
    /// `max_local` local entries for at most `local_ttl` each.
    pub async fn connect(
        url: &str,
        max_local: u64,
        local_ttl: Duration,
    ) -> Result<Self, CacheError> {
        let backend = |e: redis::RedisError| CacheError::Backend(Box::new(e));
        let client = redis::Client::open(url).map_err(backend)?;
        let remote = RedisCache::connect(url).await?;
        let publisher = redis::aio::ConnectionManager::new(client.clone())
            .await
            .map_err(backend)?;
        let local = LocalCache::new(max_local);
        let node: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();

        let mut pubsub = client.get_async_pubsub().await.map_err(backend)?;
        pubsub.subscribe(CHANNEL).await.map_err(backend)?;
        let (listener_local, me) = (local.clone(), node.clone());
        let task = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                apply_invalidation(&listener_local, &me, &payload).await;
            }
        });
        Ok(Self {
            local,
            remote,
            publisher,
            node,
            local_ttl,
            _listener: Arc::new(Listener(task)),
        })
    }

    async fn publish(&self, kind: char, key: &str) -> Result<(), CacheError> {
        let mut conn = self.publisher.clone();
        let message = format!("{}|{kind}|{key}", self.node);
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(message)
            .query_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| CacheError::Backend(Box::new(e)))
    }
}

/// `node|k|key` drops one key, `node|p|prefix` a prefix; own messages are skipped.
async fn apply_invalidation(local: &LocalCache, me: &str, payload: &str) {
    let mut parts = payload.splitn(3, '|');
    let (Some(node), Some(kind), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    if node == me {
        return;
    }
    let _ = match kind {
        "k" => local.delete(key).await.map(drop),
        "p" => local.delete_prefix(key).await.map(drop),
        _ => Ok(()),
    };
}

impl CacheBackend for TwoLevelCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            if let Some(hit) = self.local.get(key).await? {
                return Ok(Some(hit));
            }
            let Some((value, left)) = self.remote.get_with_ttl(key).await? else {
                return Ok(None);
            };
            let keep = left.map_or(self.local_ttl, |left| left.min(self.local_ttl));
            if !keep.is_zero() {
                self.local.set(key, value.clone(), keep).await?;
            }
            Ok(Some(value))
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> CacheFuture<'a, ()> {
        Box::pin(async move {
            self.remote.set(key, value.clone(), ttl).await?;
            self.local.set(key, value, ttl.min(self.local_ttl)).await?;
            self.publish('k', key).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool> {
        Box::pin(async move {
            let removed = self.remote.delete(key).await?;
            self.local.delete(key).await?;
            self.publish('k', key).await?;
            Ok(removed)
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        Box::pin(async move {
            let removed = self.remote.delete_prefix(prefix).await?;
            self.local.delete_prefix(prefix).await?;
            self.publish('p', prefix).await?;
            Ok(removed)
        })
    }

    fn count_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        Box::pin(async move {
            let remote = self.remote.count_prefix(prefix).await?;
            Ok(remote.max(self.local.count_prefix(prefix).await?))
        })
    }
}
