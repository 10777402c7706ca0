//! [`SettingsLimits`]: plan limits, tightened by the tenant's own settings.

use std::time::Duration;

use super::{Limits, LimitsPolicy};
use crate::config::{LimitOverrides, Settings, TenantConfig};
use crate::context::TenantContext;
use crate::registry::BoxFuture;

/// A policy (by default a [`LimitsConfig`](super::LimitsConfig)) whose
/// per-tenant values the tenant's settings
/// ([`Settings::limit_overrides`]) can lower but never raise: settings are edited by
/// the tenant's own admins, and a tenant that could raise its budget would
/// have none. Operators raise a tenant's limits in the base policy
/// ([`LimitsConfig::overrides`](super::LimitsConfig::overrides)).
///
/// The settings come from [`TenantConfig`]'s cache; when they cannot be
/// read, the configured limits apply.
///
/// ```
/// use tenantry::config::LimitOverrides;
/// use tenantry::limits::{LimitsConfig, tighten};
/// let plan = LimitsConfig::default().fallback;
/// let limits = tighten(plan, LimitOverrides { concurrent_requests: Some(3), ..LimitOverrides::default() });
/// assert_eq!(limits.concurrent, 3);
/// let greedy = LimitOverrides { concurrent_requests: Some(100_000), ..LimitOverrides::default() };
/// assert_eq!(tighten(plan, greedy).concurrent, plan.concurrent);
/// ```
pub struct SettingsLimits<S: Settings, P = super::LimitsConfig> {
    base: P,
    config: TenantConfig<S>,
}

impl<S: Settings, P: LimitsPolicy> SettingsLimits<S, P> {
    /// `base`, tightened by each tenant's settings in `config`.
    pub fn new(base: P, config: TenantConfig<S>) -> Self {
        Self { base, config }
    }
}

/// `limits`, each value lowered to the override where one is set.
pub fn tighten(limits: Limits, overrides: LimitOverrides) -> Limits {
    let lower = |current: u32, setting: Option<u32>| setting.map_or(current, |s| s.min(current));
    Limits {
        per_second: lower(limits.per_second, overrides.requests_per_second),
        burst: lower(limits.burst, overrides.burst),
        concurrent: lower(limits.concurrent, overrides.concurrent_requests),
        timeout: overrides.request_timeout_ms.map_or(limits.timeout, |ms| {
            limits.timeout.min(Duration::from_millis(u64::from(ms)))
        }),
    }
}

impl<S: Settings, P: LimitsPolicy> LimitsPolicy for SettingsLimits<S, P> {
    fn limits<'a>(&'a self, ctx: &'a TenantContext) -> BoxFuture<'a, Limits> {
        Box::pin(async move {
            let limits = self.base.limits(ctx).await;
            if ctx.is_system() {
                return limits;
            }
            match self.config.settings().await {
                Ok(settings) => tighten(limits, settings.limit_overrides()),
                Err(e) => {
                    tracing::debug!(error = %e, "tenant settings unreadable; plan limits apply");
                    limits
                }
            }
        })
    }
}
