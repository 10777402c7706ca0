//! The per-tenant invoice summary, read through the tenant cache.
//!
//! A summary is one grouped scan of the tenant's invoices; dashboards ask
//! for it far more often than invoices change. It is cached under the
//! tenant's own key (`t:<tenant id>:invoice-summary`, built by
//! [`TenantCache`], so one tenant can never read another's), deleted when
//! an invoice is created or paid, and kept at most [`TTL`].
//!
//! With Redis configured the cache *is* Redis, with no local copy in
//! front: the delete that follows a write in one process is seen by the
//! next read in every process — no window in which another process serves
//! the old totals. Without Redis (one process, the embedded default) it is
//! an in-process cache.
//!
//! A reader that computed the totals just before a concurrent write may
//! store them just after that write's delete; [`TTL`] bounds how long such
//! a summary can be stale.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tenantry::cache::{CacheError, LocalCache, RedisCache, TenantCache};
use tenantry::data::{DataError, Database};

use crate::store::invoices::{self, Totals};

/// The longest a summary is kept.
pub(crate) const TTL: Duration = Duration::from_secs(30);

const KEY: &str = "invoice-summary";

/// Invoice summaries behind the tenant cache, with hit and miss counts.
pub(crate) struct InvoiceSummaries {
    cache: TenantCache,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl InvoiceSummaries {
    /// Summaries cached in this process only.
    pub(crate) fn local() -> Self {
        Self::new(TenantCache::new(LocalCache::new(10_000)))
    }

    /// Summaries cached in Redis at `url`, shared by every process.
    pub(crate) async fn redis(url: &str) -> Result<Self, CacheError> {
        Ok(Self::new(TenantCache::new(RedisCache::connect(url).await?)))
    }

    fn new(cache: TenantCache) -> Self {
        Self {
            cache,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The current tenant's totals: from the cache, or computed and cached.
    /// A cache that fails is logged and bypassed — the database answers.
    pub(crate) async fn get(&self, db: &Database) -> Result<Totals, DataError> {
        match self.cache.get_json::<Totals>(KEY).await {
            Ok(Some(totals)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(totals);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "invoice summary cache unavailable"),
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let totals = invoices::totals(db).await?;
        if let Err(e) = self.cache.set_json(KEY, &totals, TTL).await {
            tracing::warn!(error = %e, "could not cache the invoice summary");
        }
        Ok(totals)
    }

    /// Drops the current tenant's summary: call after its invoices change
    /// (after the change commits).
    pub(crate) async fn invalidate(&self) {
        if let Err(e) = self.cache.delete(KEY).await {
            // The TTL still bounds how long the old totals live.
            tracing::warn!(error = %e, "could not drop the cached invoice summary");
        }
    }

    /// Drops every cached entry of the current tenant (offboarding); how many.
    pub(crate) async fn forget_tenant(&self) -> Result<u64, CacheError> {
        self.cache.invalidate_tenant().await
    }

    /// How many entries the current tenant has cached (a residue scan).
    pub(crate) async fn tenant_entries(&self) -> Result<u64, CacheError> {
        self.cache.tenant_keys().await
    }

    /// Lookups answered from the cache, and computed.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}
