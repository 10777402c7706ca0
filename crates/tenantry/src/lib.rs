//! # tenantry
//!
//! Multi-tenancy for Rust SaaS backends built on axum: the tenant is
//! resolved once at the edge, carried in a [`context`] across every async
//! hop, and read from there by every tenant-scoped helper — so no handler
//! passes a tenant id around, and none can pass the wrong one. PostgreSQL
//! row-level security holds the line underneath, checked at start-up.
//!
//! tenantry is mechanism; your product is policy. Plans are your names
//! with your sizes ([`plans`]), settings are your struct (`config::Settings`),
//! identity is your provider's tokens read through a claim mapping or your
//! own `edge::Authenticator`, and SQL is yours —
//! tenantry's helpers, tokio-postgres, or sqlx.
//!
//! ## Adopting it, step by step
//!
//! `examples/quickstart.rs` is the whole of it in one file (an axum
//! service, a table under RLS, tenants from subdomains, tokens from an
//! OpenID Connect issuer); [`guide`] walks an existing app through it.
//!
//! 1. **Database** (`postgres`): add `tenant_id` and `rls_policy!` to your
//!    tables; at start-up `data::postgres::prepare` creates the app
//!    role, migrates tenantry's control plane and your tables, and runs the
//!    isolation audit — the app does not start on a table left open.
//! 2. **Edge** (`edge`, `jwks-http`): a `edge::TenantLayer` with your
//!    resolvers (subdomain, custom domain, path prefix, header) and your
//!    identity provider: `edge::OidcIssuer` + `edge::ClaimMapping`
//!    (Auth0, Keycloak, Clerk, … with configuration only), or your own
//!    `edge::Authenticator` (API keys, sessions).
//! 3. **Queries**: `data::TenantDb` (`db.tenant()?.fetch_all(…)`), the
//!    driver's own transaction with the tenant set
//!    (`data::postgres::PgDatabase::tenant_transaction`), or your sqlx pool
//!    (`data::sqlx::SqlxTenantPool`, feature `sqlx`). Errors say what
//!    happened (`data::DataError::kind`, the constraint's name, the
//!    SQLSTATE) and answer as HTTP responses that leak nothing.
//! 4. **Jobs** (`jobs`): enqueue in the transaction of the write
//!    (`jobs::PgQueue::enqueue_in`, `enqueue_in_tx`, `enqueue_in_sqlx`);
//!    workers run each job in its tenant's context, fairly across tenants.
//! 5. **Everything else tenant-scoped**: cache keys, object storage,
//!    settings and flags, secrets, outbound HTTP, traces, metrics (into
//!    your own recorder with `metrics-facade`), per-tenant limits.
//!
//! ## Modules and features
//!
//! | module | feature | what |
//! |---|---|---|
//! | [`context`] | always | `TenantContext`, `scope`/`require`, `spawn`, the system tenant |
//! | [`plans`] | always | plan names and the catalogue of their sizes (limits, queue weight, connections, storage) |
//! | [`registry`] | always | tenant records, lifecycle states, the TTL-cached lookup |
//! | `edge` | `edge`, `jwks-http` | tower layers: resolve the claimed tenant, authenticate (JWT with a claim mapping, OIDC discovery, or your `Authenticator`), compare, gate on state |
//! | `data` | `postgres`, `sqlite`, `sqlx` | `TenantDb`: RLS-scoped PostgreSQL, scoped SQLite, the driver's own transactions, migrations, isolation audit, typed errors |
//! | `fence` | `postgres`, `sqlite` | no work of a held (suspended, deleted) tenant in any process: each process's fence, kept in step and acknowledged, and the wait for every live process's acknowledgement |
//! | `jobs` | `jobs` + `postgres`/`sqlite` | a durable job queue, fair across tenants (stride scheduling, weights, caps, rates, backlogs, pause), transactional enqueue, leases, retries, dead letters, cron fan-out |
//! | `cache` | `cache`, `cache-redis` | `TenantCache`: keys prefixed by construction; in-process and Redis backends |
//! | `config` | `config`, `openfeature` | `TenantConfig<S>`: the app's typed settings and feature flags (plan defaults, sticky rollouts, overrides), an OpenFeature provider |
//! | `limits` | `limits`, `limits-redis` | tower layer: per-tenant GCRA rate limit, concurrent-request budget, timeout |
//! | `metrics` | `metrics`, `metrics-facade` | request, job and limit metrics with per-tenant series for the top K tenants only; Prometheus text, or the `metrics` facade |
//! | `storage` | `storage`, `storage-s3` | `TenantStorage`: objects under the tenant's prefix or bucket, validated keys, signed URLs, quotas |
//! | `secrets` | `secrets`, `secrets-openbao` | per-tenant secrets: AES-256-GCM under a per-tenant data key, wrapped by a master key (key file or OpenBao transit); rotation, crypto-shredding |
//! | `http_client` | `http-client` | outbound HTTP in the tenant's name: tenant, request and trace headers, per-tenant timeouts, the SSRF guard at connect time |
//! | `webhooks` | `webhooks` | HMAC-SHA256 webhook signatures; the guard that keeps tenant URLs off internal addresses |
//! | `telemetry` | `otel` | OpenTelemetry traces over OTLP: the tenant on every span and in W3C baggage |
//!
//! Every feature is off by default: a crate that only needs the context
//! compiles none of the web or database stacks.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod guide;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
mod clock;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
pub mod context;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub mod data;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub mod deletion;
#[cfg(feature = "edge")]
#[cfg_attr(docsrs, doc(cfg(feature = "edge")))]
pub mod edge;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub mod fence;
#[cfg(any(feature = "webhooks", feature = "storage"))]
mod hex;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub mod http_client;
#[cfg(feature = "https")]
#[cfg_attr(docsrs, doc(cfg(feature = "https")))]
pub mod https;
#[cfg(feature = "jobs")]
#[cfg_attr(docsrs, doc(cfg(feature = "jobs")))]
pub mod jobs;
#[cfg(feature = "limits")]
#[cfg_attr(docsrs, doc(cfg(feature = "limits")))]
pub mod limits;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub mod moves;
pub mod plans;
pub mod registry;
#[cfg(feature = "secrets")]
#[cfg_attr(docsrs, doc(cfg(feature = "secrets")))]
pub mod secrets;
#[cfg(feature = "storage")]
#[cfg_attr(docsrs, doc(cfg(feature = "storage")))]
pub mod storage;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod telemetry;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub mod warm;
#[cfg(feature = "webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
pub mod webhooks;
#[cfg(feature = "workflow")]
#[cfg_attr(docsrs, doc(cfg(feature = "workflow")))]
pub mod workflow;

pub use context::{NoTenantContext, TenantContext, TenantId};
