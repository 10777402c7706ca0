//! Per-tenant storage quotas: [`StorageQuota`] decides each tenant's
//! bytes; [`TenantStorage`] counts its usage and refuses a write that does
//! not fit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ObjectKey, StorageError, TenantStorage, tenant};
use crate::context::{TenantContext, TenantId};

/// How many bytes each tenant may keep, decided by the app (by plan, by
/// contract); `None` for no limit.
///
/// The quota is checked before each write against the tenant's usage,
/// counted by listing its objects at most every [`USAGE_TTL`] and kept up to
/// date by this process's own writes. Writes racing each other, or from
/// other processes within that window, can overshoot it by their own size:
/// it bounds what a tenant can take, not the last byte.
#[derive(Clone)]
pub struct StorageQuota(Arc<QuotaOf>);

/// A tenant's quota in bytes, or `None` for no limit.
type QuotaOf = dyn Fn(&TenantContext) -> Option<u64> + Send + Sync;

impl StorageQuota {
    /// The quota `of` gives each tenant.
    pub fn new(of: impl Fn(&TenantContext) -> Option<u64> + Send + Sync + 'static) -> Self {
        Self(Arc::new(of))
    }
}

impl std::fmt::Debug for StorageQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageQuota(..)")
    }
}

/// How long a tenant's counted usage is trusted before it is listed again.
pub const USAGE_TTL: Duration = Duration::from_secs(30);

impl TenantStorage {
    /// The bytes the current tenant's objects take (listed now).
    pub async fn usage(&self) -> Result<u64, StorageError> {
        let ctx = tenant()?;
        let used = self.list(None).await?.iter().map(|o| o.size).sum();
        self.remember_usage(ctx.tenant_id(), used);
        Ok(used)
    }

    /// The current tenant's quota, if it has one.
    pub fn quota(&self) -> Result<Option<u64>, StorageError> {
        let ctx = tenant()?;
        Ok(self.inner.quota.as_ref().and_then(|q| (q.0)(&ctx)))
    }

    fn remember_usage(&self, tenant: TenantId, used: u64) {
        let mut usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        if usage.len() >= 10_000 {
            usage.retain(|_, (_, at)| at.elapsed() < USAGE_TTL);
        }
        usage.insert(tenant, (used, Instant::now()));
    }

    /// Refuses a write of `size` bytes at `key` that the tenant's quota has
    /// no room for (what `key` holds now is replaced, so it does not count).
    ///
    /// The tenant's lifecycle work (an offboarding's export) is not
    /// charged: a tenant near its quota cannot stop its own deletion.
    pub(super) async fn admit(&self, key: &ObjectKey, size: u64) -> Result<(), StorageError> {
        if tenant()?.is_lifecycle() {
            return Ok(());
        }
        let Some(quota) = self.quota()? else {
            return Ok(());
        };
        let tenant = tenant()?.tenant_id();
        let counted = {
            let usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
            usage
                .get(&tenant)
                .filter(|(_, at)| at.elapsed() < USAGE_TTL)
                .map(|(used, _)| *used)
        };
        let used = match counted {
            Some(used) => used,
            None => self.usage().await?,
        };
        if used.saturating_add(size) <= quota {
            return Ok(());
        }
        let replaced = match self.head(key).await {
            Ok(existing) => existing.size,
            Err(StorageError::NotFound(_)) => 0,
            Err(e) => return Err(e),
        };
        if used.saturating_sub(replaced).saturating_add(size) <= quota {
            Ok(())
        } else {
            Err(StorageError::QuotaExceeded {
                quota,
                used,
                wanted: size,
            })
        }
    }

    /// Counts a write of `size` bytes (replacing `replaced`) into the
    /// tenant's remembered usage, while that is fresh.
    pub(super) fn count_write(&self, size: u64, replaced: u64) {
        let Ok(ctx) = tenant() else { return };
        let mut usage = self.inner.usage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((used, _)) = usage.get_mut(&ctx.tenant_id()) {
            *used = used.saturating_sub(replaced).saturating_add(size);
        }
    }
}
