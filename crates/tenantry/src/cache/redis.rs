//! [`RedisCache`]: the shared backend, for several server processes.

use crate::cache::CacheFuture;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{CacheBackend, CacheError};

/// Keys deleted per `UNLINK` while flushing a tenant.
const UNLINK_BATCH: usize = 500;

/// A Redis-backed cache (one multiplexed, self-reconnecting connection).
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
}

impl RedisCache {
    /// Connects to `url` (`redis://127.0.0.1:6379`).
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = ConnectionManager::new(client).await.map_err(backend)?;
        Ok(Self { conn })
    }
}

fn backend(e: redis::RedisError) -> CacheError {
    CacheError::Backend(Box::new(e))
}

/// `prefix` as a `SCAN MATCH` pattern: glob characters escaped, then `*`.
fn pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

impl RedisCache {
    /// The value under `key` and the time it has left (`None` if it never expires).
    pub(crate) async fn get_with_ttl(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<Duration>)>, CacheError> {
        let mut conn = self.conn.clone();
        let (value, millis): (Option<Vec<u8>>, i64) = redis::pipe()
            .cmd("GET")
            .arg(key)
            .cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        // PTTL: -1 no expiry; -2 the key expired between GET and PTTL, so
        // the value has no time left (reading -2 as "no expiry" once let a
        // two-level cache keep an expired value for its whole local TTL).
        let left = match millis {
            -1 => None,
            ms => Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        };
        Ok(value.map(|v| (v, left)))
    }
}

impl CacheBackend for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> CacheFuture<'a, Option<Vec<u8>>> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(backend)
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> CacheFuture<'a, ()> {
        let mut conn = self.conn.clone();
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Box::pin(async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(millis)
                .query_async::<()>(&mut conn)
                .await
                .map_err(backend)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> CacheFuture<'a, bool> {
        let mut conn = self.conn.clone();
        Box::pin(async move {
            let removed: i64 = redis::cmd("UNLINK")
                .arg(key)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            Ok(removed > 0)
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        let mut conn = self.conn.clone();
        let pattern = pattern(prefix);
        Box::pin(async move {
            let mut cursor = Some(0);
            let mut removed = 0u64;
            while let Some(at) = cursor {
                let keys;
                (cursor, keys) = scan(&mut conn, at, &pattern).await?;
                // UNLINK frees the memory in the background.
                for batch in keys.chunks(UNLINK_BATCH) {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(batch)
                        .query_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    removed += n;
                }
            }
            Ok(removed)
        })
    }

    fn count_prefix<'a>(&'a self, prefix: &'a str) -> CacheFuture<'a, u64> {
        let mut conn = self.conn.clone();
        let pattern = pattern(prefix);
        Box::pin(async move {
            let mut cursor = Some(0);
            let mut found = 0u64;
            while let Some(at) = cursor {
                let keys;
                (cursor, keys) = scan(&mut conn, at, &pattern).await?;
                found += keys.len() as u64;
            }
            Ok(found)
        })
    }
}

/// One `SCAN` page of keys matching `pattern` from `cursor`: the keys and
/// the next cursor (`None` at the end). SCAN never blocks the server the
/// way KEYS would.
async fn scan(
    conn: &mut ConnectionManager,
    cursor: u64,
    pattern: &str,
) -> Result<(Option<u64>, Vec<String>), CacheError> {
    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000)
        .query_async(conn)
        .await
        .map_err(backend)?;
    Ok(((next != 0).then_some(next), keys))
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(super::pattern("t:a*b:"), "t:a\\*b:*");
        assert_eq!(super::pattern("t:1:"), "t:1:*");
    }
}
