//! The tenant registry: who the tenants are, what plan and tier they are on,
//! and whether they may be served right now.
//!
//! [`TenantStore`] is the storage trait ([`SqlTenantStore`] implements it
//! once for PostgreSQL and SQLite); [`Tenants`] wraps a store with a short-TTL cache for
//! the edge's per-request lookups and invalidates it on every change made
//! through it, so a suspension takes effect on the next request, not after
//! the TTL.

mod cache;
mod memory;
mod record;
mod slug;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod stored;

use std::future::Future;
use std::pin::Pin;

pub use cache::{ChangedKeys, RegistryEvents, Tenants};
pub use memory::MemoryTenantStore;
pub use record::{NewTenant, RouteChange, TenantRecord, TenantState};
pub use slug::{InvalidSlug, validate_slug};
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use stored::SqlTenantStore;

use crate::context::TenantId;

/// A boxed, sendable future (the stores are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the control-plane stores over the data layer (tier moves, the warm
/// pool, deletion records) return: a boxed future of a `Result` with
/// [`DataError`](crate::data::DataError).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub type DataFuture<'a, T> = BoxFuture<'a, Result<T, crate::data::DataError>>;

/// How a tenant is looked up.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TenantKey {
    /// By slug (`acme`), from a subdomain, path prefix or header.
    Slug(String),
    /// By one of the tenant's own domains (`shop.acme.example`).
    Domain(String),
    /// By id, from a header or a job envelope.
    Id(TenantId),
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No tenant with that key.
    #[error("tenant not found")]
    NotFound,
    /// The slug, the id or a domain is already taken.
    #[error("{what} is already taken")]
    Conflict {
        /// What is taken (`tenant acme (slug or id)`, `domain shop.acme.example`).
        what: String,
        /// The store's own error (a unique violation), when it had one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The slug is not a valid DNS label.
    #[error(transparent)]
    InvalidSlug(#[from] InvalidSlug),
    /// The state change is not allowed from the current state.
    #[error("cannot go from {from} to {to}")]
    InvalidTransition {
        /// Current state.
        from: TenantState,
        /// Requested state.
        to: TenantState,
    },
    /// The store cannot make this change (an in-memory test double
    /// without plans, tier moves or canaries).
    #[error("this registry store cannot {0}")]
    Unsupported(&'static str),
    /// A stored record could not be read back as a tenant record.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error("tenant record has a bad {what}")]
    Corrupt {
        /// The column.
        what: &'static str,
        /// Why it could not be read.
        #[source]
        source: Box<crate::data::DataError>,
    },
    /// The data layer failed; the [`DataError`](crate::data::DataError)
    /// says how (unavailable, timeout, constraint, SQLSTATE) and keeps the
    /// driver's error as its source.
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// A boxed future of this module's `Result`: what its traits' methods return.
pub type RegistryFuture<'a, T> = BoxFuture<'a, Result<T, RegistryError>>;

/// Storage of tenant records (the control plane's `tenants` table).
pub trait TenantStore: Send + Sync + 'static {
    /// Finds a tenant by slug, domain or id.
    fn find(&self, key: &TenantKey) -> RegistryFuture<'_, Option<TenantRecord>>;
    /// Lists every tenant, ordered by slug.
    fn list(&self) -> RegistryFuture<'_, Vec<TenantRecord>>;
    /// Inserts a new tenant; fails with [`RegistryError::Conflict`] on a taken slug or domain.
    fn insert(&self, tenant: NewTenant) -> RegistryFuture<'_, TenantRecord>;
    /// Sets a tenant's state and returns the updated record.
    fn set_state(&self, id: TenantId, state: TenantState) -> RegistryFuture<'_, TenantRecord>;
    /// Puts a tenant on `plan` and returns the updated record.
    ///
    /// Stores that cannot (in-memory test doubles) refuse it.
    fn set_plan<'a>(
        &'a self,
        id: TenantId,
        plan: &'a crate::context::Plan,
    ) -> RegistryFuture<'a, TenantRecord> {
        let _ = (id, plan);
        Box::pin(async { Err(RegistryError::Unsupported("change plans")) })
    }
    /// Routes a tenant to `tier`, its writes mirrored to `moving_to` while a
    /// tier move dual-writes; bumps its route version when anything changed.
    /// Returns the updated record.
    ///
    /// Stores without tier moves (in-memory test doubles) refuse it.
    fn set_route(&self, id: TenantId, change: RouteChange) -> RegistryFuture<'_, TenantRecord> {
        let _ = (id, change);
        Box::pin(async { Err(RegistryError::Unsupported("move tenants between tiers")) })
    }
    /// Marks a tenant as a canary (or not) and returns the updated record.
    ///
    /// Stores without the notion (in-memory test doubles) refuse it.
    fn set_canary(&self, id: TenantId, canary: bool) -> RegistryFuture<'_, TenantRecord> {
        let _ = (id, canary);
        Box::pin(async { Err(RegistryError::Unsupported("mark canaries")) })
    }
}
