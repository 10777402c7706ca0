//! Per-tenant connection quotas for the shared and schema tiers.
//!
//! Tenants on those tiers draw from the same pools, so without a quota one
//! tenant running long queries (or a flood of them) holds every connection
//! and every other tenant waits behind it. Each tenant may hold at most its
//! quota of connections at once; its next request waits for one of *its
//! own* to come back, up to the acquire timeout, while other tenants'
//! requests go straight to the pool. (Database-tier tenants have their own
//! pools, capped per tenant already. The system tenant has no scoped
//! connections: its cross-tenant work runs in each tenant's context and
//! counts against that tenant.)

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::{TenantContext, TenantId};
use crate::data::DataError;

/// A tenant with no request this long forgets its quota state.
const IDLE: Duration = Duration::from_secs(600);

pub(crate) struct TenantQuotas {
    per_tenant: usize,
    held: Cache<TenantId, Arc<Semaphore>>,
}

impl TenantQuotas {
    pub(crate) fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant,
            held: Cache::builder().time_to_idle(IDLE).build(),
        }
    }

    /// One of `ctx`'s connection slots, waiting up to `wait` for one.
    pub(crate) async fn acquire(
        &self,
        ctx: &TenantContext,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, DataError> {
        let quota = self.per_tenant;
        let slots = self
            .held
            .get_with(ctx.tenant_id(), || Arc::new(Semaphore::new(quota)));
        let permit =
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => tokio::time::timeout(wait, slots.acquire_owned())
                    .await
                    .map_err(|_| {
                        DataError::Unavailable(format!(
                        "this tenant's {quota} database connections stayed in use for {wait:?}"
                    ).into())
                    })?
                    .map_err(|_| DataError::Unavailable("connection quota closed".into()))?,
            };
        Ok(permit)
    }
}
