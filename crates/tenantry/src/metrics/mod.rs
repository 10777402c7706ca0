//! Prometheus metrics with the tenant in them, at bounded cardinality.
//!
//! Labelling every series by tenant would make the series count grow with
//! the tenant count — a scrape of 10,000 tenants' histograms is an outage of
//! its own. So the wide series ([`HttpMetrics`]' request-duration
//! histogram) carry only bounded labels (method, route *template*, status,
//! tier, plan), and the per-tenant series (requests and errors) name a
//! tenant only while it is among the top K by traffic ([`TopTenants`]);
//! every other tenant is counted under `tenant="other"`. The series count
//! is bounded by K, not by the number of tenants.
//!
//! The text format is written here (no client library): a few counters and
//! histograms do not need one, and `promtool check metrics` checks it. With
//! the `metrics-facade` feature every observation is also recorded through
//! the [`metrics`](https://docs.rs/metrics) facade, so an app's own recorder
//! and exporter carry tenantry's series (same names, same bounded labels).

#[cfg(feature = "metrics-facade")]
mod facade;
mod histogram;
mod http;
#[cfg(feature = "jobs")]
mod jobs;
#[cfg(feature = "limits")]
mod limits;
mod tenant_counters;
mod text;
mod top_k;

pub use histogram::Histogram;
pub use http::{HttpMetrics, RequestLabels};
#[cfg(feature = "jobs")]
pub use jobs::JobMetrics;
#[cfg(feature = "limits")]
pub use limits::LimitMetrics;
pub use top_k::{OTHER, TopTenants};
