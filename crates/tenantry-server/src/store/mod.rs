//! The reference app's repositories: SQL and row mapping, no HTTP.
//!
//! Each query is written once for both backends and filters on
//! `tenantry_current_tenant()` (redundant under PostgreSQL RLS, required on
//! SQLite). None of them takes a tenant: they run through
//! [`TenantDb`](tenantry::data::TenantDb), which takes it from the context.

pub(crate) mod invoices;
pub(crate) mod orders;
pub(crate) mod users;
pub(crate) mod webhook_deliveries;

mod counters;
mod time;

pub(crate) use time::Timestamp;
pub(crate) use time::rfc3339;
