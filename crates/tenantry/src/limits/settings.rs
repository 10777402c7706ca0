//! [`SettingsLimits`]: plan limits, tightened by the tenant's own settings.

use std::time::Duration;

use super::{Limits, LimitsPolicy};
use crate::config::{TenantConfig, TenantSettings};
use crate::context::TenantContext;
use crate::registry::BoxFuture;

/// A policy (by default a [`LimitsConfig`](super::LimitsConfig)) whose per-tenant values the tenant's settings
/// (`rate_limit_per_second`, `rate_limit_burst`, `max_concurrent_requests`,
/// `request_timeout_ms`) can lower but never raise: settings are edited by
/// the tenant's own admins, and a tenant that could raise its budget would
/// have none. Operators raise a tenant's limits in the base policy
/// ([`LimitsConfig::overrides`](super::LimitsConfig::overrides)).
///
/// The settings come from [`TenantConfig`]'s cache; when they cannot be
/// read, the configured limits apply.
///
/// ```
/// use tenantry::config::TenantSettings;
/// use tenantry::limits::{LimitsConfig, SettingsLimits};
/// let settings = TenantSettings { max_concurrent_requests: Some(3), ..TenantSettings::default() };
/// let plan = LimitsConfig::default().by_plan[&tenantry::context::Plan::Free];
/// let limits = SettingsLimits::tighten(plan, &settings);
/// assert_eq!(limits.concurrent, 3);
/// let greedy = TenantSettings { max_concurrent_requests: Some(100_000), ..TenantSettings::default() };
/// assert_eq!(SettingsLimits::tighten(plan, &greedy).concurrent, plan.concurrent);
/// ```
pub struct SettingsLimits<P = super::LimitsConfig> {
    base: P,
    config: TenantConfig,
}

impl<P: LimitsPolicy> SettingsLimits<P> {
    /// `base`, tightened by each tenant's settings in `config`.
    pub fn new(base: P, config: TenantConfig) -> Self {
        Self { base, config }
    }
}

impl SettingsLimits {
    /// `limits`, each value lowered to the setting where one is set.
    pub fn tighten(limits: Limits, settings: &TenantSettings) -> Limits {
        let lower =
            |current: u32, setting: Option<u32>| setting.map_or(current, |s| s.min(current));
        Limits {
            per_second: lower(limits.per_second, settings.rate_limit_per_second),
            burst: lower(limits.burst, settings.rate_limit_burst),
            concurrent: lower(limits.concurrent, settings.max_concurrent_requests),
            timeout: settings.request_timeout_ms.map_or(limits.timeout, |ms| {
                limits.timeout.min(Duration::from_millis(u64::from(ms)))
            }),
        }
    }
}

impl<P: LimitsPolicy> LimitsPolicy for SettingsLimits<P> {
    fn limits<'a>(&'a self, ctx: &'a TenantContext) -> BoxFuture<'a, Limits> {
        Box::pin(async move {
            let limits = self.base.limits(ctx).await;
            if ctx.is_system() {
                return limits;
            }
            match self.config.settings().await {
                Ok(settings) => SettingsLimits::tighten(limits, &settings),
                Err(e) => {
                    tracing::debug!(error = %e, "tenant settings unreadable; plan limits apply");
                    limits
                }
            }
        })
    }
}
