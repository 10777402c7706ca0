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

    /// Whether this is the first call for `key` in the last `window` —
    /// recorded if so: something done at most once per window (one
    /// e-mail to one address, say), however many ask.
    fn first_in(&self, key: TenantId, window: Duration) -> BoxFuture<'_, bool>;
}

/// Rates kept in this process (the default).
pub struct LocalRates {
    // A `Mutex` per tenant: a check is a read-modify-write that must not
    // interleave for one tenant, and tenants must not wait on each other.
    tats: Cache<TenantId, Arc<Mutex<Option<tokio::time::Instant>>>>,
    // When each key of `first_in` was last let through.
    firsts: Mutex<std::collections::HashMap<TenantId, tokio::time::Instant>>,
}

impl Default for LocalRates {
    fn default() -> Self {
        Self {
            tats: Cache::builder().time_to_idle(IDLE_STATE).build(),
            firsts: Mutex::default(),
        }
    }
}

/// Keys `first_in` remembers at most in one process (older ones go first).
const MAX_FIRSTS: usize = 100_000;

impl RateStore for LocalRates {
    fn check(&self, tenant: TenantId, per_second: u32, burst: u32) -> BoxFuture<'_, Decision> {
        let tat = self.tats.get_with(tenant, || Arc::new(Mutex::new(None)));
        let decision = {
            let mut tat = tat.lock().unwrap_or_else(|p| p.into_inner());
            gcra::check(&mut tat, tokio::time::Instant::now(), per_second, burst)
        };
        Box::pin(std::future::ready(decision))
    }

    fn first_in(&self, key: TenantId, window: Duration) -> BoxFuture<'_, bool> {
        let now = tokio::time::Instant::now();
        let mut firsts = self.firsts.lock().unwrap_or_else(|p| p.into_inner());
        let first = firsts
            .get(&key)
            .is_none_or(|at| now.duration_since(*at) >= window);
        if first {
            if firsts.len() >= MAX_FIRSTS {
                firsts.retain(|_, at| now.duration_since(*at) < window);
            }
            firsts.insert(key, now);
        }
        Box::pin(std::future::ready(first))
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
    /// If Redis does not answer within [`RedisRates::BUDGET`] the request
    /// is judged by a per-process limiter instead (and a warning logged):
    /// an unreachable Redis must neither take the service down nor hold
    /// requests while it reconnects, and tenants stay limited meanwhile —
    /// per process rather than across them. The concurrency budget and
    /// timeout are always local to each process.
    #[derive(Clone)]
    pub struct RedisRates {
        conn: ConnectionManager,
        script: redis::Script,
        prefix: String,
        fallback: std::sync::Arc<super::LocalRates>,
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
                fallback: std::sync::Arc::default(),
            })
        }

        /// How long one rate check may wait for Redis before the
        /// per-process limiter decides.
        pub const BUDGET: Duration = Duration::from_millis(100);

        /// Drops `tenant`'s rate state (offboarding); how many keys there
        /// were (0 or 1).
        pub async fn forget(&self, tenant: TenantId) -> Result<u64, redis::RedisError> {
            let mut conn = self.conn.clone();
            redis::cmd("DEL")
                .arg(format!("{}{tenant}", self.prefix))
                .query_async(&mut conn)
                .await
        }

        /// Whether `tenant` has rate state here (a residue scan).
        pub async fn holds(&self, tenant: TenantId) -> Result<bool, redis::RedisError> {
            let mut conn = self.conn.clone();
            let n: u64 = redis::cmd("EXISTS")
                .arg(format!("{}{tenant}", self.prefix))
                .query_async(&mut conn)
                .await?;
            Ok(n > 0)
        }
    }

    impl RateStore for RedisRates {
        fn check(&self, tenant: TenantId, per_second: u32, burst: u32) -> BoxFuture<'_, Decision> {
            Box::pin(async move {
                let interval_us = (1_000_000 / u64::from(per_second.max(1))).max(1);
                let mut conn = self.conn.clone();
                let key = format!("{}{tenant}", self.prefix);
                let mut invocation = self.script.key(key);
                invocation.arg(interval_us).arg(burst);
                let call = invocation.invoke_async::<(i64, i64)>(&mut conn);
                let answer = match tokio::time::timeout(Self::BUDGET, call).await {
                    Ok(answer) => answer.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {:?}", Self::BUDGET)),
                };
                match answer {
                    Ok((1, remaining)) => Decision::Allow {
                        remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    },
                    Ok((_, wait_us)) => Decision::Deny {
                        retry_after: Duration::from_micros(wait_us.max(1).unsigned_abs()),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "Redis rate limiter unreachable; limiting in this process");
                        self.fallback.check(tenant, per_second, burst).await
                    }
                }
            })
        }

        fn first_in(&self, key: TenantId, window: Duration) -> BoxFuture<'_, bool> {
            Box::pin(async move {
                let mut conn = self.conn.clone();
                let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
                let mut set = redis::cmd("SET");
                set.arg(format!("{}once:{key}", self.prefix))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(window_ms);
                let call = set.query_async::<Option<String>>(&mut conn);
                match tokio::time::timeout(Self::BUDGET, call).await {
                    Ok(Ok(set)) => set.is_some(),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "Redis unreachable; once-per-window kept in this process");
                        self.fallback.first_in(key, window).await
                    }
                    Err(_) => {
                        tracing::warn!(
                            "Redis did not answer; once-per-window kept in this process"
                        );
                        self.fallback.first_in(key, window).await
                    }
                }
            })
        }
    }
}
