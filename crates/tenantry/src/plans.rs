//! Plans: names the app chooses, with sizes from its configuration.
//!
//! tenantry has no plans of its own. A [`Plan`] is a name (`free`,
//! `starter`, `scale`…) stored in the tenant's registry record and carried
//! in its [context](crate::context); a [`PlanCatalog`] — usually read from
//! the app's configuration file — says what each name is worth: request
//! limits, job-queue weight, database connections, object-storage layout
//! and quota. Each mechanism takes its sizes from the catalogue
//! (`limits::LimitsConfig::from_plans`, `storage::LayoutPolicy::from_plans`,
//! `data::postgres::PgDatabase::with_plan_connections`,
//! [`PlanCatalog::queue_weights`], [`PlanCatalog::storage_quota`]), so a
//! new plan is a configuration change, not a code change.
//!
//! ```
//! use tenantry::plans::{Plan, PlanCatalog};
//!
//! let catalog: PlanCatalog = toml_like(r#"{
//!     "default": "starter",
//!     "plans": {
//!         "starter": { "requests_per_second": 20, "burst": 40, "concurrent_requests": 8, "request_timeout_ms": 10000 },
//!         "scale":   { "requests_per_second": 500, "burst": 1000, "concurrent_requests": 128, "request_timeout_ms": 60000,
//!                      "queue_weight": 4, "db_connections": 16, "dedicated_bucket": true, "storage_quota_bytes": 1099511627776 }
//!     }
//! }"#);
//! let scale = Plan::new("scale").unwrap();
//! assert_eq!(catalog.spec(&scale).queue_weight, 4);
//! // A tenant whose plan the catalogue no longer lists gets the default plan's sizes.
//! assert_eq!(catalog.spec(&Plan::new("legacy").unwrap()).requests_per_second, 20);
//! # fn toml_like(s: &str) -> PlanCatalog { serde_json::from_str(s).unwrap() }
//! ```

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A plan's name: 1 to 40 characters of lowercase ASCII letters, digits,
/// `-` and `_`, starting with a letter.
///
/// Cheap to clone. Names the app fixes in code are made at compile time
/// with [`Plan::from_static`] (an invalid one does not compile):
///
/// ```
/// use tenantry::plans::Plan;
/// const TEAM: Plan = Plan::from_static("team");
/// assert_eq!(TEAM, "team".parse::<Plan>().unwrap());
/// assert!(Plan::new("Team Plan").is_err());
/// ```
///
/// ```compile_fail
/// const BAD: tenantry::plans::Plan = tenantry::plans::Plan::from_static("Bad Name");
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plan(Name);

#[derive(Clone)]
enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

/// A plan name that is not one (see [`Plan`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid plan name {0:?}: 1 to 40 lowercase letters, digits, '-' or '_', starting with a letter"
)]
pub struct InvalidPlan(String);

const fn valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 40 || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

impl Plan {
    /// A plan named in code; panics (at compile time in a `const`) when
    /// `name` is not a valid plan name.
    pub const fn from_static(name: &'static str) -> Plan {
        assert!(valid(name), "invalid plan name");
        Plan(Name::Static(name))
    }

    /// A plan from text (configuration, the registry, a CLI argument).
    pub fn new(name: impl AsRef<str>) -> Result<Plan, InvalidPlan> {
        let name = name.as_ref();
        if valid(name) {
            Ok(Plan(Name::Shared(Arc::from(name))))
        } else {
            Err(InvalidPlan(name.chars().take(60).collect()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl PartialEq for Plan {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Plan {}
impl Hash for Plan {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}
impl PartialOrd for Plan {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Plan {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl Borrow<str> for Plan {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plan({:?})", self.as_str())
    }
}
impl FromStr for Plan {
    type Err = InvalidPlan;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::new(s)
    }
}
impl TryFrom<String> for Plan {
    type Error = InvalidPlan;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Plan::new(s)
    }
}
impl From<Plan> for String {
    fn from(plan: Plan) -> String {
        plan.as_str().to_owned()
    }
}
impl PartialEq<str> for Plan {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Plan {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What one plan is worth. Every field has a default, so a catalogue lists
/// only what differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanSpec {
    /// Sustained requests per second.
    pub requests_per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
    /// Requests in flight at once.
    pub concurrent_requests: u32,
    /// Longest a request may take, in milliseconds.
    pub request_timeout_ms: u64,
    /// Dispatch weight in the fair job queue (≥ 1): a tenant of weight 4 is
    /// served four times as often as one of weight 1 while both have work.
    pub queue_weight: u16,
    /// Connections the tenant may hold at once on the shared and schema
    /// tiers; `None` for the pool's per-tenant default.
    pub db_connections: Option<u32>,
    /// Whether the tenant's objects get a bucket of their own (otherwise a
    /// prefix in the shared bucket).
    pub dedicated_bucket: bool,
    /// Most bytes the tenant may store; `None` for no quota.
    pub storage_quota_bytes: Option<u64>,
}

impl Default for PlanSpec {
    /// Modest sizes: 50 requests/s (burst 100), 16 at once, 10 s, queue
    /// weight 1, the pool's connection default, a shared bucket, 100 MiB.
    fn default() -> Self {
        Self {
            requests_per_second: 50,
            burst: 100,
            concurrent_requests: 16,
            request_timeout_ms: 10_000,
            queue_weight: 1,
            db_connections: None,
            dedicated_bucket: false,
            storage_quota_bytes: Some(100 * 1024 * 1024),
        }
    }
}

/// The app's plans by name, and the one a tenant gets when its plan is not
/// listed (a plan retired from the catalogue keeps its tenants served).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CatalogFile", into = "CatalogFile")]
pub struct PlanCatalog {
    plans: BTreeMap<Plan, PlanSpec>,
    default: Plan,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    default: Plan,
    plans: BTreeMap<Plan, PlanSpec>,
}

/// A catalogue that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The default plan is not among the plans.
    #[error("the default plan {0} is not in the catalogue")]
    MissingDefault(Plan),
    /// A size that cannot work (zero where at least one is needed).
    #[error("plan {plan}: {field} must be at least 1")]
    Zero {
        /// The plan.
        plan: Plan,
        /// The field.
        field: &'static str,
    },
}

impl TryFrom<CatalogFile> for PlanCatalog {
    type Error = CatalogError;
    fn try_from(file: CatalogFile) -> Result<Self, Self::Error> {
        PlanCatalog::new(file.default, file.plans)
    }
}

impl From<PlanCatalog> for CatalogFile {
    fn from(catalog: PlanCatalog) -> Self {
        CatalogFile {
            default: catalog.default,
            plans: catalog.plans,
        }
    }
}

impl PlanCatalog {
    /// A catalogue of `plans`, where `default` sizes tenants of unlisted plans.
    pub fn new(
        default: Plan,
        plans: impl IntoIterator<Item = (Plan, PlanSpec)>,
    ) -> Result<Self, CatalogError> {
        let plans: BTreeMap<Plan, PlanSpec> = plans.into_iter().collect();
        if !plans.contains_key(&default) {
            return Err(CatalogError::MissingDefault(default));
        }
        for (plan, spec) in &plans {
            let zero = |field| CatalogError::Zero {
                plan: plan.clone(),
                field,
            };
            if spec.requests_per_second == 0 {
                return Err(zero("requests_per_second"));
            }
            if spec.concurrent_requests == 0 {
                return Err(zero("concurrent_requests"));
            }
            if spec.request_timeout_ms == 0 {
                return Err(zero("request_timeout_ms"));
            }
            if spec.queue_weight == 0 {
                return Err(zero("queue_weight"));
            }
            if spec.db_connections == Some(0) {
                return Err(zero("db_connections"));
            }
        }
        Ok(Self { plans, default })
    }

    /// One plan, `default`, with [`PlanSpec::default`] sizes.
    pub fn single(default: Plan) -> Self {
        Self {
            plans: BTreeMap::from([(default.clone(), PlanSpec::default())]),
            default,
        }
    }

    /// The plan new tenants get unless told otherwise, and whose sizes
    /// apply to unlisted plans.
    pub fn default_plan(&self) -> &Plan {
        &self.default
    }

    /// Whether `plan` is listed.
    pub fn contains(&self, plan: &Plan) -> bool {
        self.plans.contains_key(plan)
    }

    /// The listed plan named `name`, or an error naming the listed ones
    /// (for a CLI or an admin API that assigns plans).
    pub fn plan(&self, name: &str) -> Result<Plan, UnknownPlan> {
        self.plans
            .get_key_value(name)
            .map(|(plan, _)| plan.clone())
            .ok_or_else(|| UnknownPlan {
                name: name.chars().take(60).collect(),
                known: self.names().map(str::to_owned).collect(),
            })
    }

    /// The listed plans' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plans.keys().map(Plan::as_str)
    }

    /// Every listed plan and its sizes.
    pub fn iter(&self) -> impl Iterator<Item = (&Plan, &PlanSpec)> {
        self.plans.iter()
    }

    /// `plan`'s sizes, or the default plan's when it is not listed.
    pub fn spec(&self, plan: &Plan) -> &PlanSpec {
        self.plans
            .get(plan)
            .or_else(|| self.plans.get(&self.default))
            .expect("the default plan is in the catalogue (checked in new)")
    }

    /// Job-queue weights by plan, for the queue backends.
    pub fn queue_weights(&self) -> QueueWeights {
        QueueWeights {
            by_plan: Arc::new(
                self.plans
                    .iter()
                    .map(|(plan, spec)| (plan.clone(), spec.queue_weight))
                    .collect(),
            ),
            fallback: self.spec(&self.default).queue_weight,
        }
    }

    /// `plan`'s storage quota in bytes, if it has one.
    pub fn storage_quota(&self, plan: &Plan) -> Option<u64> {
        self.spec(plan).storage_quota_bytes
    }
}

/// A plan name no catalogue entry has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan {name:?} (plans: {})", known.join(", "))]
pub struct UnknownPlan {
    name: String,
    known: Vec<String>,
}

/// Each plan's dispatch weight in the job queue; see
/// [`PlanCatalog::queue_weights`]. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueWeights {
    by_plan: Arc<HashMap<Plan, u16>>,
    fallback: u16,
}

impl Default for QueueWeights {
    /// Every plan weighs 1.
    fn default() -> Self {
        Self {
            by_plan: Arc::default(),
            fallback: 1,
        }
    }
}

impl QueueWeights {
    /// `plan`'s weight (≥ 1).
    pub fn weight(&self, plan: &Plan) -> u16 {
        self.by_plan
            .get(plan)
            .copied()
            .unwrap_or(self.fallback)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_compare_by_text() {
        assert_eq!(Plan::from_static("pro"), Plan::new("pro").unwrap());
        for bad in ["", "Pro", "9lives", "a b", "a.b", &"x".repeat(41)] {
            assert!(Plan::new(bad).is_err(), "{bad:?}");
        }
        assert!(Plan::new("team-2_eu").is_ok());
        let parsed: Plan = serde_json::from_str("\"scale\"").unwrap();
        assert_eq!(parsed.as_str(), "scale");
        assert!(serde_json::from_str::<Plan>("\"SCALE\"").is_err());
    }

    #[test]
    fn a_catalogue_needs_its_default_and_no_zero_sizes() {
        let starter = Plan::from_static("starter");
        assert!(matches!(
            PlanCatalog::new(starter.clone(), []),
            Err(CatalogError::MissingDefault(_))
        ));
        let zero = PlanSpec {
            queue_weight: 0,
            ..PlanSpec::default()
        };
        assert!(matches!(
            PlanCatalog::new(starter.clone(), [(starter.clone(), zero)]),
            Err(CatalogError::Zero {
                field: "queue_weight",
                ..
            })
        ));
        let file = r#"{"default": "starter", "plans": {"starter": {}}, "extra": 1}"#;
        assert!(serde_json::from_str::<PlanCatalog>(file).is_err());
        let err = PlanCatalog::single(starter).plan("scale").unwrap_err();
        assert_eq!(err.to_string(), "unknown plan \"scale\" (plans: starter)");
    }

    #[test]
    fn queue_weights_follow_the_catalogue() {
        let team = Plan::from_static("team");
        let catalog = PlanCatalog::new(
            team.clone(),
            [
                (team.clone(), PlanSpec::default()),
                (
                    Plan::from_static("scale"),
                    PlanSpec {
                        queue_weight: 5,
                        ..PlanSpec::default()
                    },
                ),
            ],
        )
        .unwrap();
        let weights = catalog.queue_weights();
        assert_eq!(weights.weight(&Plan::from_static("scale")), 5);
        assert_eq!(weights.weight(&team), 1);
        assert_eq!(weights.weight(&Plan::from_static("retired")), 1);
    }
}
