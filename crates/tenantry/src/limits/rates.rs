//! Where the rate limiter keeps each tenant's GCRA timestamp: in this
//! process ([`LocalRates`]) or in Redis ([`RedisRates`], feature
//! `limits-redis`), so that one limit holds across server processes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;

use super::gcra;
pub use super::gcra::Decision;
use crate::context::TenantId;
use crate::registry::BoxFuture;

/// Per-tenant state is dropped after this long without requests, so the
/// maps stay as small as the set of active tenants.
pub(crate) const IDLE_STATE: Duration = Duration::from_secs(600);

/// Applies one request to a tenant's rate.
pub trait RateStore: Send + Sync + 'static {
    /// Admits or refuses one request of `tenant` at `per_second` sustained
    /// with `burst` more at once.
    fn check(&self, tenant: TenantId, per_second: u32, burst: u32) -> BoxFuture<'_, Decision>;
}

/// Rates kept in this process (the default).
pub struct LocalRates {
    // A `Mutex` per tenant: a check is a read-modify-write that must not
    // interleave for one tenant, and tenants must not wait on each other.
    tats: Cache<TenantId, Arc<Mutex<Option<tokio::time::Instant>>>>,
}

impl Default for LocalRates {
    fn default() -> Self {
        Self {
            tats: Cache::builder().time_to_idle(IDLE_STATE).build(),
        }
    }
}

impl RateStore for LocalRates {
    fn check(&self, tenant: TenantId, per_second: u32, burst: u32) -> BoxFuture<'_, Decision> {
        let tat = self.tats.get_with(tenant, || Arc::new(Mutex::new(None)));
        let decision = {
            let mut tat = tat.lock().unwrap_or_else(|p| p.into_inner());
            gcra::check(&mut tat, tokio::time::Instant::now(), per_second, burst)
        };
        Box::pin(std::future::ready(decision))
    }
}

#[cfg(feature = "limits-redis")]
pub use redis_rates::RedisRates;

#[cfg(feature = "limits-redis")]
mod redis_rates {
    use redis::aio::ConnectionManager;

    use super::{BoxFuture, Decision, Duration, RateStore, TenantId};

    /// GCRA in one script, on Redis's clock, so every process sees one TAT
    /// per tenant and no two checks interleave. Microseconds fit a Lua
    /// double exactly for another few hundred years.
    const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_from = tat - interval * burst
if now < allowed_from then
  return {0, allowed_from - now}
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.floor((next - now) / 1000) + 1000)
return {1, burst + 1 - math.ceil((next - now) / interval)}
";

    /// Rates kept in Redis: one limit across every server process.
    ///
    /// If Redis cannot be reached the request is **admitted** (and a
    /// warning logged): an unreachable limiter must not take the whole
    /// service down with it. The concurrency budget and timeout stay local
    /// to each process.
    #[derive(Clone)]
    pub struct RedisRates {
        conn: ConnectionManager,
        script: redis::Script,
        prefix: String,
    }

    impl RedisRates {
        /// Connects to `url` (`redis://127.0.0.1:6379`); keys are
        /// `{prefix}{tenant id}`, so deployments sharing a Redis can keep
        /// their limits apart.
        pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
            let client = redis::Client::open(url)?;
            let conn = ConnectionManager::new(client).await?;
            Ok(Self {
                conn,
                script: redis::Script::new(GCRA),
                prefix: prefix.to_owned(),
            })
        }
    }

    impl RateStore for RedisRates {
        fn check(&self, tenant: TenantId, per_second: u32, burst: u32) -> BoxFuture<'_, Decision> {
            Box::pin(async move {
                let interval_us = (1_000_000 / u64::from(per_second.max(1))).max(1);
                let mut conn = self.conn.clone();
                let answer: Result<(i64, i64), _> = self
                    .script
                    .key(format!("{}{tenant}", self.prefix))
                    .arg(interval_us)
                    .arg(burst)
                    .invoke_async(&mut conn)
                    .await;
                match answer {
                    Ok((1, remaining)) => Decision::Allow {
                        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    },
                    Ok((_, wait_us)) => Decision::Deny {
                        retry_after: Duration::from_micros(wait_us.max(1).unsigned_abs()),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limiter unreachable; request admitted");
                        Decision::Allow { remaining: burst }
                    }
                }
            })
        }
    }
}
