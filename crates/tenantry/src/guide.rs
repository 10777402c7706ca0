//! Guides, as documentation only (no code).
//!
//! - [`adopting`]: adding tenantry to an existing axum service, one layer
//!   at a time — the SQL that puts existing tables under row-level
//!   security, what the start-up audit catches, identity-provider claim
//!   layouts, the three ways to run SQL, transactional jobs, plans and
//!   settings, metrics.

#[doc = include_str!("../../../docs/adopting.md")]
pub mod adopting {}
