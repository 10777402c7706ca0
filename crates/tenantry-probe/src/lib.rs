//! # tenantry-probe
//!
//! The cross-tenant leak test, automated. Given an OpenAPI document and two
//! tenants' credentials, the probe:
//!
//! 1. learns each tenant's resource ids by calling the list endpoints
//!    (`GET /api/orders` → the `id`s of the objects it returns);
//! 2. sends **every operation that takes a resource id** — in the path, the
//!    query or the JSON body — with tenant A's credentials and tenant B's
//!    ids, and expects `404` from each;
//! 3. claims B with A's token — B's host, B's path prefix, B in the tenant
//!    header — and expects `403`;
//! 4. runs positive controls (A's own ids answer 2xx), so a server that
//!    answers 404 to everything, or a probe that sent malformed requests,
//!    cannot pass.
//!
//! Resource names follow REST conventions: `/api/orders/{id}` takes an
//! `orders` id, and a parameter or body field `order_id` does too.
//!
//! ```no_run
//! # async fn demo(openapi: serde_json::Value) -> Result<(), tenantry_probe::ProbeError> {
//! use tenantry_probe::{Probe, TenantAccess};
//! let probe = Probe {
//!     base_url: "http://127.0.0.1:8080".into(),
//!     openapi,
//!     attacker: TenantAccess { slug: "acme".into(), host: "acme.localhost:8080".into(), token: "…".into() },
//!     victim: TenantAccess { slug: "globex".into(), host: "globex.localhost:8080".into(), token: "…".into() },
//!     path_prefix: Some("/t/{slug}".into()),
//!     tenant_header: Some("x-tenant-id".into()),
//! };
//! let report = probe.run().await?;
//! assert!(report.leaks().is_empty(), "{report}");
//! # Ok(()) }
//! ```

mod cli;
mod ids;
mod operations;
mod report;
mod run;

pub use cli::{ProbeArgs, run_cli};
pub use operations::{IdSlot, Operation, operations};
pub use report::{Check, Outcome, Report};

/// One tenant's way in.
#[derive(Clone, Debug)]
pub struct TenantAccess {
    /// Slug (used for path-prefix and header claims).
    pub slug: String,
    /// `Host` header that claims this tenant (`acme.localhost:8080`).
    pub host: String,
    /// Bearer token issued for this tenant.
    pub token: String,
}

/// A probe run's inputs.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Where to send requests (`http://127.0.0.1:8080`); its host is the
    /// "neutral" host that claims no tenant.
    pub base_url: String,
    /// The OpenAPI 3 document.
    pub openapi: serde_json::Value,
    /// Tenant A, whose credentials are used.
    pub attacker: TenantAccess,
    /// Tenant B, whose ids are used.
    pub victim: TenantAccess,
    /// Path-prefix template claiming a tenant (`/t/{slug}`), if the API has one.
    pub path_prefix: Option<String>,
    /// Header claiming a tenant (`x-tenant-id`), if the API has one.
    pub tenant_header: Option<String>,
}

/// Why a probe could not run (leaks are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The OpenAPI document is not usable.
    #[error("openapi: {0}")]
    OpenApi(String),
    /// The target could not be reached.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The HTTPS client could not be set up.
    #[error("{0}")]
    Tls(#[from] tenantry::https::HttpsError),
}
