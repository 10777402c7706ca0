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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::context::{TenantContext, TenantId};
use crate::data::DataError;
use crate::plans::Plan;

/// A tenant with no request this long forgets its quota state.
const IDLE: Duration = Duration::from_secs(600);

pub(crate) struct TenantQuotas {
    per_tenant: usize,
    by_plan: HashMap<Plan, usize>,
    // Keyed by the quota too: a plan change opens a semaphore of the new
    // size at once (the old one drains as its connections come back).
    held: Cache<(TenantId, usize), Arc<Semaphore>>,
}

impl TenantQuotas {
    pub(crate) fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant,
            by_plan: HashMap::new(),
            held: Cache::builder().time_to_idle(IDLE).build(),
        }
    }

    /// The quota of a tenant whose plan has none of its own.
    pub(crate) fn default(&self) -> usize {
        self.per_tenant
    }

    /// Quotas by plan (at least 2 each: a transaction during a tier move
    /// writes to two tiers); other plans keep the default.
    pub(crate) fn with_plans(mut self, by_plan: HashMap<Plan, usize>) -> Self {
        self.by_plan = by_plan.into_iter().map(|(p, n)| (p, n.max(2))).collect();
        self
    }

    /// One of `ctx`'s connection slots, waiting up to `wait` for one.
    pub(crate) async fn acquire(
        &self,
        ctx: &TenantContext,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, DataError> {
        let quota = self
            .by_plan
            .get(ctx.plan())
            .copied()
            .unwrap_or(self.per_tenant);
        let slots = self
            .held
            .get_with((ctx.tenant_id(), quota), || Arc::new(Semaphore::new(quota)));
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
