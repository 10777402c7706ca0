//! [`LimitMetrics`]: refused requests per tenant and reason.

use super::tenant_counters::TenantCounters;
use crate::context::TenantContext;
use crate::limits::{LimitsObserver, Rejection};

/// Counts the limit layer's refusals; the tenants refused most are named
/// (top K by refusals), the rest are `other`.
///
/// ```
/// use tenantry::limits::{LimitsObserver, Rejection};
/// use tenantry::metrics::LimitMetrics;
/// # tokio_test_block(async {
/// let metrics = LimitMetrics::new(10);
/// let ctx = tenantry::context::run_as_system("doc", async { tenantry::context::require().unwrap() }).await;
/// metrics.rejected(&ctx, Rejection::Rate);
/// assert!(metrics.render().contains(r#"reason="rate"} 1"#));
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct LimitMetrics {
    refused: TenantCounters,
}

impl LimitMetrics {
    /// Ends `tenant`'s series (it was deleted): its counts fold into
    /// `other`, so its id leaves `/metrics`. (A `metrics` facade recorder
    /// keeps what it was given.)
    pub fn forget_tenant(&self, tenant: crate::context::TenantId) {
        self.refused.forget(tenant);
    }

    /// Metrics that name at most `top_k` tenants.
    pub fn new(top_k: usize) -> Self {
        Self {
            refused: TenantCounters::new(top_k),
        }
    }

    /// The Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.refused.render(
            &mut out,
            "tenant_limit_rejections_total",
            "Requests refused by the tenant limits, per tenant (the most refused by id, the rest as \"other\") and reason (rate, concurrency, timeout).",
            "reason",
        );
        out
    }
}

impl LimitsObserver for LimitMetrics {
    fn rejected(&self, ctx: &TenantContext, why: Rejection) {
        let tenant = self.refused.add(ctx.tenant_id(), why.as_str());
        #[cfg(feature = "metrics-facade")]
        super::facade::counter(
            "tenant_limit_rejections_total",
            &[("tenant", &tenant), ("reason", why.as_str())],
            1,
        );
        #[cfg(not(feature = "metrics-facade"))]
        let _ = tenant;
    }
}
