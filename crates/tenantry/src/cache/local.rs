//! [`LocalCache`]: the in-process backend (moka), the embedded default.

use crate::cache::CacheFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::CacheBackend;

/// An in-process cache with per-entry TTLs and a size bound.
#[derive(Clone)]
pub struct LocalCache {
    entries: Cache<String, Arc<Entry>>,
}

struct Entry {
    bytes: Vec<u8>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was stored with.
struct PerEntryTtl;

impl moka::Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _created: Instant,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Arc<Entry>,
        _updated: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl LocalCache {
    /// A cache holding at most `max_entries` entries (least useful evicted first).
    pub fn new(max_entries: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }
}

impl CacheBackend for LocalCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>> {
        let found = self.entries.get(key).map(|e| e.bytes.clone());
        Box::pin(async move { Ok(found) })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> CacheFuture<'a, ()> {
        self.entries
            .insert(key.to_owned(), Arc::new(Entry { bytes: value, ttl }));
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool> {
        let removed = self.entries.remove(key).is_some();
        Box::pin(async move { Ok(removed) })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        // A scan of the local map: fine at in-process sizes, and exact.
        let keys: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k)
            .collect();
        let removed = keys
            .iter()
            .filter(|k| self.entries.remove(k.as_str()).is_some())
            .count() as u64;
        Box::pin(async move { Ok(removed) })
    }

    fn count_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        let found = self
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .count() as u64;
        Box::pin(async move { Ok(found) })
    }
}
