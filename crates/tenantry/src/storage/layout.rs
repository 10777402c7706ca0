//! [`LayoutPolicy`]: which bucket and prefix hold a tenant's objects.

use crate::context::{Plan, TenantContext};

/// How a tenant's objects are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// One bucket for many tenants; each tenant's objects under
    /// `tenants/<tenant id>/`.
    SharedPrefix,
    /// A bucket of the tenant's own, `<bucket prefix>-<tenant id>`.
    BucketPerTenant,
}

/// Chooses each tenant's [`Layout`] from its plan (which comes from its
/// registry record): plans listed as dedicated get their own bucket, the
/// rest share one.
///
/// ```
/// use tenantry::context::{Plan, TenantContext, TenantId};
/// use tenantry::storage::{Layout, LayoutPolicy};
///
/// let policy = LayoutPolicy::new("tenantry").dedicated_for(Plan::from_static("scale"));
/// let ctx = |plan| TenantContext::builder(TenantId::new_v4(), "acme").plan(Plan::from_static(plan)).build().unwrap();
/// assert_eq!(policy.layout(&ctx("team")), Layout::SharedPrefix);
/// let big = ctx("scale");
/// let (bucket, prefix) = policy.place(&big);
/// assert_eq!(bucket, format!("tenantry-{}", big.tenant_id().as_uuid().simple()));
/// assert_eq!(prefix, "");
/// ```
#[derive(Clone, Debug)]
pub struct LayoutPolicy {
    bucket: String,
    dedicated: Vec<Plan>,
}

impl LayoutPolicy {
    /// Every tenant in bucket `bucket` under its own prefix; dedicated
    /// buckets are named `<bucket>-<tenant id>`.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            dedicated: Vec::new(),
        }
    }

    /// Bucket `bucket`, with a bucket of their own for the plans of
    /// `catalog` that have [`dedicated_bucket`](crate::plans::PlanSpec::dedicated_bucket).
    pub fn from_plans(bucket: impl Into<String>, catalog: &crate::plans::PlanCatalog) -> Self {
        catalog
            .iter()
            .filter(|(_, spec)| spec.dedicated_bucket)
            .fold(Self::new(bucket), |policy, (plan, _)| {
                policy.dedicated_for(plan.clone())
            })
    }

    /// Tenants on `plan` get a bucket of their own.
    pub fn dedicated_for(mut self, plan: Plan) -> Self {
        if !self.dedicated.contains(&plan) {
            self.dedicated.push(plan);
        }
        self
    }

    /// The shared bucket's name.
    pub fn shared_bucket(&self) -> &str {
        &self.bucket
    }

    /// `ctx`'s layout.
    pub fn layout(&self, ctx: &TenantContext) -> Layout {
        if self.dedicated.contains(ctx.plan()) {
            Layout::BucketPerTenant
        } else {
            Layout::SharedPrefix
        }
    }

    /// `ctx`'s bucket and the prefix its keys are joined to.
    pub fn place(&self, ctx: &TenantContext) -> (String, String) {
        self.place_in(ctx, self.layout(ctx))
    }

    /// Where `ctx`'s objects would be under `layout`, whatever its plan
    /// says now (offboarding clears both places).
    pub fn place_in(&self, ctx: &TenantContext, layout: Layout) -> (String, String) {
        let id = ctx.tenant_id().as_uuid().simple();
        match layout {
            Layout::SharedPrefix => (self.bucket.clone(), format!("tenants/{id}/")),
            Layout::BucketPerTenant => (format!("{}-{id}", self.bucket), String::new()),
        }
    }
}
