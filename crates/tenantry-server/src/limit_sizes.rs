//! The server's noisy-neighbour limits: plan sizes and operator overrides
//! (`--limits FILE`), lowered by each tenant's own settings, with rates in
//! Redis when `--redis-url` is set so one limit holds across processes.
//!
//! The file, every key optional (missing ones keep the sizes of the
//! server's [plans](crate::plans)):
//!
//! ```toml
//! [plans.free]
//! per_second = 50
//! burst = 100
//! concurrent = 16
//! timeout_ms = 10000
//!
//! [system]            # the system tenant's own quota
//! per_second = 100
//!
//! [tenants.acme]      # an operator's override, by slug; may exceed the plan
//! per_second = 5000
//! ```
//!
//! `--limits off` turns the limits off (benchmarks compare with and without).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tenantry::context::TenantContext;

/// Why a `--limits` file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// The file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape.
    #[error("parsing {}: {source}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// The parser's error.
        #[source]
        source: toml::de::Error,
    },
    /// An entry names no plan of the catalog.
    #[error("{at}: {source}")]
    UnknownPlan {
        /// The entry (`FILE: plans.NAME`).
        at: String,
        /// The catalog's refusal.
        #[source]
        source: tenantry::plans::UnknownPlan,
    },
    /// An entry's values are out of range.
    #[error("{at}: {refusal}")]
    OutOfRange {
        /// The entry (`FILE: tenants.SLUG`).
        at: String,
        /// Which value, and why.
        refusal: &'static str,
    },
}
use tenantry::limits::{Limits, LimitsConfig, LimitsPolicy};
use tenantry::registry::BoxFuture;

/// Limit sizes: per plan, for the system tenant, and per tenant by slug.
#[derive(Clone, Debug)]
pub struct LimitSizes {
    config: LimitsConfig,
    by_slug: HashMap<String, Limits>,
}

impl Default for LimitSizes {
    /// The server's plans' sizes, no overrides.
    fn default() -> Self {
        Self {
            config: LimitsConfig::from_plans(&crate::plans::catalog()),
            by_slug: HashMap::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    #[serde(default)]
    plans: HashMap<String, Entry>,
    system: Option<Entry>,
    #[serde(default)]
    tenants: HashMap<String, Entry>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Entry {
    per_second: Option<u32>,
    burst: Option<u32>,
    concurrent: Option<u32>,
    timeout_ms: Option<u64>,
}

impl Entry {
    /// These limits over `base`; `at` names the entry in a refusal.
    fn over(self, base: Limits, at: impl FnOnce() -> String) -> Result<Limits, LimitsError> {
        let limits = Limits {
            per_second: self.per_second.unwrap_or(base.per_second),
            burst: self.burst.unwrap_or(base.burst),
            concurrent: self.concurrent.unwrap_or(base.concurrent),
            timeout: self.timeout_ms.map_or(base.timeout, Duration::from_millis),
        };
        let refusal = if limits.per_second == 0 {
            "per_second must be at least 1"
        } else if limits.concurrent == 0 {
            "concurrent must be at least 1"
        } else if limits.timeout.is_zero() {
            "timeout_ms must be at least 1"
        } else {
            return Ok(limits);
        };
        Err(LimitsError::OutOfRange { at: at(), refusal })
    }
}

impl LimitSizes {
    /// `--limits`: `off` (no limits), a file, or absent (the defaults).
    pub fn from_flag(flag: Option<&str>) -> Result<Option<Self>, LimitsError> {
        match flag {
            Some("off") => Ok(None),
            Some(path) => Self::read(Path::new(path)).map(Some),
            None => Ok(Some(Self::default())),
        }
    }

    fn read(path: &Path) -> Result<Self, LimitsError> {
        let text = std::fs::read_to_string(path).map_err(|source| LimitsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: LimitsFile = toml::from_str(&text).map_err(|source| LimitsError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let mut sizes = Self::default();
        for (plan, entry) in file.plans {
            let plan =
                crate::plans::catalog()
                    .plan(&plan)
                    .map_err(|source| LimitsError::UnknownPlan {
                        at: format!("{}: plans.{plan}", path.display()),
                        source,
                    })?;
            let base = sizes.config.by_plan[&plan];
            let limits = entry.over(base, || format!("{}: plans.{plan}", path.display()))?;
            sizes.config.by_plan.insert(plan, limits);
        }
        if let Some(entry) = file.system {
            sizes.config.system = entry.over(sizes.config.system, || {
                format!("{}: system", path.display())
            })?;
        }
        for (slug, entry) in file.tenants {
            // An override starts from the free plan's sizes: explicit is better.
            let base = sizes.config.by_plan[&crate::plans::FREE];
            let limits = entry.over(base, || format!("{}: tenants.{slug}", path.display()))?;
            sizes.by_slug.insert(slug, limits);
        }
        Ok(sizes)
    }
}

impl LimitsPolicy for LimitSizes {
    fn limits<'a>(&'a self, ctx: &'a TenantContext) -> BoxFuture<'a, Limits> {
        let limits = match self.by_slug.get(ctx.slug()) {
            Some(limits) if !ctx.is_system() => *limits,
            _ => self.config.for_context(ctx),
        };
        Box::pin(std::future::ready(limits))
    }
}
