//! The warm pool: tenant ids whose tier target — a schema, a database, a
//! SQLite file — was made and migrated ahead of time, so that a sign-up on
//! those tiers takes one ([`WarmPool::claim`]) and becomes active without
//! waiting for DDL. The target is named after the tenant id, which is why
//! the pool holds ids: the claimed id becomes the new tenant's.
//!
//! Filling the pool (making the targets) is the application's job — it
//! knows its migrations; see the reference server's `--warm-pool`. A claim
//! is atomic: two sign-ups never get the same id.

mod stored;

pub use stored::SqlWarmPool;

use crate::context::{TenantId, Tier};
use crate::registry::DataFuture;

/// Where the warm pool's ids are kept (the control plane).
pub trait WarmPool: Send + Sync + 'static {
    /// Adds `id`, whose `tier` target is ready.
    fn add(&self, id: TenantId, tier: Tier) -> DataFuture<'_, ()>;
    /// Takes the oldest ready id of `tier`, if any (it leaves the pool).
    fn claim(&self, tier: Tier) -> DataFuture<'_, Option<TenantId>>;
    /// How many ids of `tier` are ready.
    fn ready(&self, tier: Tier) -> DataFuture<'_, u64>;
}
