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

mod config;
mod gcra;
mod layer;

pub use config::{Limits, LimitsConfig};
pub use layer::{TenantLimitsLayer, TenantLimitsService};
