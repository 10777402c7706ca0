//! Limit sizes: by plan, overridable per tenant.

use std::collections::HashMap;
use std::time::Duration;

use crate::context::{TenantContext, TenantId};
use crate::plans::{Plan, PlanCatalog, PlanSpec};
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

impl Limits {
    /// The request limits a plan of `spec` gets.
    pub fn of_plan(spec: &PlanSpec) -> Limits {
        Limits {
            per_second: spec.requests_per_second,
            burst: spec.burst,
            concurrent: spec.concurrent_requests,
            timeout: Duration::from_millis(spec.request_timeout_ms),
        }
    }
}

/// Limits for every tenant: plan sizes, per-tenant overrides, and the
/// system tenant's own quota.
///
/// ```
/// use tenantry::limits::LimitsConfig;
/// use tenantry::plans::{Plan, PlanCatalog, PlanSpec};
///
/// let team = Plan::from_static("team");
/// let spec = PlanSpec { requests_per_second: 80, ..PlanSpec::default() };
/// let catalog = PlanCatalog::new(team.clone(), [(team.clone(), spec)]).unwrap();
/// let limits = LimitsConfig::from_plans(&catalog);
/// assert_eq!(limits.by_plan[&team].per_second, 80);
/// ```
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Sizes by plan.
    pub by_plan: HashMap<Plan, Limits>,
    /// Sizes for a tenant whose plan is not in `by_plan`.
    pub fallback: Limits,
    /// Tenants with their own limits (set by the operator; may exceed the plan).
    pub overrides: HashMap<TenantId, Limits>,
    /// The system tenant's quota.
    pub system: Limits,
}

/// The system tenant's default quota: its cross-tenant work is real work,
/// but one process's worth, not the fleet's.
const SYSTEM: Limits = Limits {
    per_second: 100,
    burst: 200,
    concurrent: 32,
    timeout: Duration::from_secs(60),
};

impl Default for LimitsConfig {
    /// No plans: every tenant gets [`PlanSpec::default`]'s sizes.
    fn default() -> Self {
        Self {
            by_plan: HashMap::new(),
            fallback: Limits::of_plan(&PlanSpec::default()),
            overrides: HashMap::new(),
            system: SYSTEM,
        }
    }
}

impl LimitsConfig {
    /// Each plan of `catalog` with its sizes; unlisted plans get the
    /// default plan's.
    pub fn from_plans(catalog: &PlanCatalog) -> Self {
        Self {
            by_plan: catalog
                .iter()
                .map(|(plan, spec)| (plan.clone(), Limits::of_plan(spec)))
                .collect(),
            fallback: Limits::of_plan(catalog.spec(catalog.default_plan())),
            overrides: HashMap::new(),
            system: SYSTEM,
        }
    }

    /// The limits that apply to `ctx`.
    pub fn for_context(&self, ctx: &TenantContext) -> Limits {
        if ctx.is_system() {
            return self.system;
        }
        if let Some(limits) = self.overrides.get(&ctx.tenant_id()) {
            return *limits;
        }
        self.by_plan
            .get(ctx.plan())
            .copied()
            .unwrap_or(self.fallback)
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
