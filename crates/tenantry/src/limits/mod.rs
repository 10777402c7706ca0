//! Noisy-neighbour limits: per-tenant rate, concurrency and time budgets.
//!
//! [`TenantLimitsLayer`] goes *inside* the tenant edge (it reads the
//! [`TenantContext`](crate::context::TenantContext) the edge put in the
//! request) and applies, per tenant, sized by plan and overridable per
//! tenant:
//!
//! - a **rate limit** (GCRA: a steady rate plus a burst) → `429` with
//!   `Retry-After` and `RateLimit-Limit` / `RateLimit-Remaining` /
//!   `RateLimit-Reset`;
//! - a **concurrent-request budget** → `429` when every slot is taken;
//! - a **timeout** → `504`.
//!
//! One tenant exhausting its budgets does not touch another tenant's. The
//! system tenant has its own quota ([`LimitsConfig::system`]).

//! Rates live in this process by default; [`RedisRates`] (feature
//! `limits-redis`) keeps them in Redis so a limit holds across processes.
//! With the `config` feature, [`SettingsLimits`] lets each tenant's
//! settings lower its plan's limits.

mod config;
mod gcra;
mod layer;
mod rates;
#[cfg(feature = "config")]
mod settings;

pub use config::{Limits, LimitsConfig, LimitsPolicy};
pub use layer::{LimitsObserver, Rejection, TenantLimitsLayer, TenantLimitsService};
#[cfg(feature = "limits-redis")]
pub use rates::RedisRates;
pub use rates::{Decision, LocalRates, RateStore};
#[cfg(feature = "config")]
pub use settings::{SettingsLimits, tighten};
