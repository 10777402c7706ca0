//! Feature flags: defined in code, defaulted by plan, rolled out by a
//! percentage with sticky per-tenant bucketing, overridden per tenant.

use std::collections::BTreeMap;

use crate::context::{Plan, TenantId};

/// One flag.
///
/// ```
/// use tenantry::config::Flag;
/// use tenantry::context::{Plan, TenantId};
///
/// const STARTER: Plan = Plan::from_static("starter");
/// const SCALE: Plan = Plan::from_static("scale");
/// let flag = Flag::new("new_invoice_ui", "The redesigned invoice page").on_for(SCALE).rollout(50);
/// let tenant = TenantId::new_v4();
/// // Sticky: one tenant always lands in the same bucket.
/// assert_eq!(flag.evaluate(tenant, &STARTER, None), flag.evaluate(tenant, &STARTER, None));
/// assert!(flag.evaluate(tenant, &SCALE, None));
/// assert!(!flag.evaluate(tenant, &SCALE, Some(false))); // an override wins
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// Key (`new_invoice_ui`).
    pub key: &'static str,
    /// What it turns on.
    pub description: &'static str,
    /// Plans it is on for, whatever the rollout.
    pub plans: Vec<Plan>,
    /// Percentage of the other tenants it is on for (0–100).
    pub rollout_percent: u8,
}

/// Where a flag's value came from, for admins and the OpenFeature reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagSource {
    /// The tenant's own override.
    Override,
    /// The tenant's plan.
    Plan,
    /// The percentage rollout.
    Rollout,
}

impl Flag {
    /// A flag that is off for everyone until configured.
    pub fn new(key: &'static str, description: &'static str) -> Self {
        Self {
            key,
            description,
            plans: Vec::new(),
            rollout_percent: 0,
        }
    }

    /// On for every tenant on `plan`.
    pub fn on_for(mut self, plan: Plan) -> Self {
        self.plans.push(plan);
        self
    }

    /// On for `percent` of the other tenants (capped at 100).
    pub fn rollout(mut self, percent: u8) -> Self {
        self.rollout_percent = percent.min(100);
        self
    }

    /// The flag's value for `tenant` on `plan`, with the tenant's override.
    pub fn evaluate(&self, tenant: TenantId, plan: &Plan, overridden: Option<bool>) -> bool {
        self.explain(tenant, plan, overridden).0
    }

    /// [`evaluate`](Self::evaluate), and why.
    pub fn explain(
        &self,
        tenant: TenantId,
        plan: &Plan,
        overridden: Option<bool>,
    ) -> (bool, FlagSource) {
        if let Some(value) = overridden {
            return (value, FlagSource::Override);
        }
        if self.plans.contains(plan) {
            return (true, FlagSource::Plan);
        }
        (
            bucket(self.key, tenant) < u32::from(self.rollout_percent),
            FlagSource::Rollout,
        )
    }
}

/// The tenant's bucket for `flag`, 0–99: a stable hash of the flag and the
/// tenant id, so raising a rollout only adds tenants and each flag samples
/// a different set.
pub fn bucket(flag: &str, tenant: TenantId) -> u32 {
    let hash = flag
        .bytes()
        .chain([b':'])
        .chain(tenant.as_uuid().as_bytes().iter().copied())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    u32::try_from(hash % 100).unwrap_or(0)
}

/// The flags an application defines.
#[derive(Clone, Debug, Default)]
pub struct FlagSet {
    flags: BTreeMap<&'static str, Flag>,
}

impl FlagSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `flag`.
    pub fn with(mut self, flag: Flag) -> Self {
        self.flags.insert(flag.key, flag);
        self
    }

    /// The flag named `key`.
    pub fn get(&self, key: &str) -> Option<&Flag> {
        self.flags.get(key)
    }

    /// Every flag, by key.
    pub fn iter(&self) -> impl Iterator<Item = &Flag> {
        self.flags.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FREE: Plan = Plan::from_static("free");

    #[test]
    fn rollouts_hit_about_their_percentage_and_only_grow() {
        let tenants: Vec<TenantId> = (0..10_000).map(|_| TenantId::new_v4()).collect();
        let on = |percent| {
            let flag = Flag::new("f", "").rollout(percent);
            tenants
                .iter()
                .filter(|t| flag.evaluate(**t, &FREE, None))
                .count()
        };
        let (ten, fifty) = (on(10), on(50));
        assert!((800..1200).contains(&ten), "{ten}");
        assert!((4_600..5_400).contains(&fifty), "{fifty}");
        assert_eq!(on(0), 0);
        assert_eq!(on(100), tenants.len());
        // Everyone in at 10% is still in at 50%.
        let (f10, f50) = (
            Flag::new("f", "").rollout(10),
            Flag::new("f", "").rollout(50),
        );
        assert!(
            tenants
                .iter()
                .all(|t| !f10.evaluate(*t, &FREE, None) || f50.evaluate(*t, &FREE, None))
        );
    }
}
