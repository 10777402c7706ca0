//! Limit sizes: by plan, overridable per tenant.

use std::collections::HashMap;
use std::time::Duration;

use crate::context::{Plan, TenantContext, TenantId};
use crate::registry::BoxFuture;

/// One tenant's budgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
    /// Requests in flight at once.
    pub concurrent: u32,
    /// Longest a request may take.
    pub timeout: Duration,
}

/// Limits for every tenant: plan defaults, per-tenant overrides, and the
/// system tenant's own quota.
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Defaults by plan.
    pub by_plan: HashMap<Plan, Limits>,
    /// Tenants with their own limits (set by the operator; may exceed the plan).
    pub overrides: HashMap<TenantId, Limits>,
    /// The system tenant's quota.
    pub system: Limits,
}

impl Default for LimitsConfig {
    /// Sizes for a small deployment: enough for real use, low enough that a
    /// free tenant cannot take the server.
    fn default() -> Self {
        let limits = |per_second, burst, concurrent, secs| Limits {
            per_second,
            burst,
            concurrent,
            timeout: Duration::from_secs(secs),
        };
        Self {
            by_plan: HashMap::from([
                (Plan::Free, limits(50, 100, 16, 10)),
                (Plan::Pro, limits(200, 400, 64, 30)),
                (Plan::Enterprise, limits(1_000, 2_000, 256, 60)),
            ]),
            overrides: HashMap::new(),
            system: limits(100, 200, 32, 60),
        }
    }
}

impl LimitsConfig {
    /// The limits that apply to `ctx`.
    pub fn for_context(&self, ctx: &TenantContext) -> Limits {
        if ctx.is_system() {
            return self.system;
        }
        if let Some(limits) = self.overrides.get(&ctx.tenant_id()) {
            return *limits;
        }
        self.by_plan
            .get(&ctx.plan())
            .copied()
            .unwrap_or(self.system)
    }
}

/// Where [`TenantLimitsLayer`](super::TenantLimitsLayer) gets a request's
/// limits. Called once per request, inside the tenant's scope, so it can
/// read the tenant's settings; keep it cheap (cached).
pub trait LimitsPolicy: Send + Sync + 'static {
    /// The limits for a request of `ctx`'s.
    fn limits<'a>(&'a self, ctx: &'a TenantContext) -> BoxFuture<'a, Limits>;
}

impl LimitsPolicy for LimitsConfig {
    fn limits<'a>(&'a self, ctx: &'a TenantContext) -> BoxFuture<'a, Limits> {
        Box::pin(std::future::ready(self.for_context(ctx)))
    }
}
