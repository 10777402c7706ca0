//! # tenantry
//!
//! Multi-tenancy for Rust SaaS backends: the tenant is resolved once at the
//! edge, carried in a [`context`] across every async hop, and read
//! from there by every tenant-scoped helper — so no handler passes a tenant
//! id around, and none can pass the wrong one.
//!
//! | module | feature | what |
//! |---|---|---|
//! | `cache` | `cache`, `cache-redis` | `TenantCache`: keys prefixed by construction; in-process and Redis backends |
//! | `jobs` | `jobs` + `postgres`/`sqlite` | a durable job queue, fair across tenants (stride scheduling, weights, caps, rates, backlogs, pause), leases, retries, dead letters; workers run jobs in their tenant's context; cron fan-out once per tick |
//! | `http_client` | `http-client` | outbound HTTP in the tenant's name: tenant, request and trace headers, per-tenant timeouts, the SSRF guard at connect time |
//! | `metrics` | `metrics` | Prometheus text: request durations by route template, tier and plan; per-tenant series for the top K tenants, the rest as `other` |
//! | `limits` | `limits` | tower layer: per-tenant GCRA rate limit, concurrent-request budget, timeout |
//! | `webhooks` | `webhooks` | HMAC-SHA256 webhook signatures; the guard that keeps tenant URLs off internal addresses |
//! | `config` | `config`, `openfeature` | `TenantConfig`: typed tenant settings and feature flags (plan defaults, sticky rollouts, overrides), an OpenFeature provider |
//! | [`context`] | always | `TenantContext`, `scope`/`require`, `spawn`, the system tenant |
//! | [`registry`] | always | tenant records, lifecycle states, the TTL-cached lookup |
//! | `edge` | `edge` | tower layers: resolve the claimed tenant, verify the JWT, compare, gate on state |
//! | `secrets` | `secrets`, `secrets-openbao` | per-tenant secrets: AES-256-GCM under a per-tenant data key, wrapped by a master key (key file or OpenBao transit); rotation, crypto-shredding |
//! | `storage` | `storage`, `storage-s3` | `TenantStorage`: objects under the tenant's prefix or bucket, validated keys, signed URLs |
//! | [`data`] | `postgres`, `sqlite` | `TenantDb`: RLS-scoped PostgreSQL, scoped SQLite, migrations, isolation audit |
//!
//! Every feature is off by default: a crate that only needs the context
//! compiles none of the web or database stacks.

#[cfg(feature = "cache")]
pub mod cache;
mod clock;
#[cfg(feature = "config")]
pub mod config;
pub mod context;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod data;
#[cfg(feature = "edge")]
pub mod edge;
#[cfg(any(feature = "webhooks", feature = "storage"))]
mod hex;
#[cfg(feature = "http-client")]
pub mod http_client;
#[cfg(feature = "jobs")]
pub mod jobs;
#[cfg(feature = "limits")]
pub mod limits;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod plans;
pub mod registry;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "storage")]
pub mod storage;
#[cfg(feature = "otel")]
pub mod telemetry;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use context::{NoTenantContext, TenantContext, TenantId};
