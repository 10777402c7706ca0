//! Online tier moves: the pieces a move workflow is made of.
//!
//! - [`TierCopy`]: one tenant's rows from one tier to another — a keyset
//!   copy that resumes from the target's highest key, a catch-up that
//!   rewrites what differs, and a verify that reports per table counts,
//!   checksums and the differing keys. Tables, columns, keys and the order
//!   of parents and children come from the database's own catalog.
//! - The data layer's dual-write route
//!   ([`Route::dual_write`](crate::context::Route::dual_write), set through
//!   [`Tenants::set_route`](crate::registry::Tenants::set_route)): while a
//!   tenant moves, each write is a transaction on both tiers.
//! - [`RouteAcks`]: which server processes serve which route.
//!
//! The reference server's `tenants move` is the workflow that strings them
//! together (provision, copy, dual-write, verify, cutover, retire).
//!
//! Route acknowledgements: a move changes where a
//! tenant's statements go (dual-write, cutover, rollback) with one registry
//! write; each server process serves the new route once its cached record
//! is replaced (at once with Redis, else when the cache entry expires). A
//! move must not trust the new route before every live process serves it,
//! so processes report it:
//!
//! - every serving process [`heartbeat`](RouteAcks::heartbeat)s under its
//!   name, and acknowledges ([`ack`](RouteAcks::ack)) the route version it
//!   *serves* (what its own registry cache answers) for every tenant whose
//!   route changed since its last acknowledgement
//!   ([`unacknowledged`](RouteAcks::unacknowledged));
//! - the move waits until [`lagging`](RouteAcks::lagging) — the live
//!   processes that have not acknowledged the version — is empty, and shows
//!   who is lagging meanwhile. A process that stopped heartbeating is not
//!   live and does not hold the move up.

mod copy;
mod shape;
mod stored;

use crate::registry::DataFuture;
use std::time::Duration;

pub use copy::{TableCheck, TierCopy};
pub use shape::TableShape;

pub use stored::SqlRouteAcks;

use crate::context::TenantId;

/// Server processes' heartbeats and route acknowledgements (control plane).
pub trait RouteAcks: Send + Sync + 'static {
    /// Records that `process` is alive now.
    fn heartbeat<'a>(&'a self, process: &'a str) -> DataFuture<'a, ()>;

    /// Tenants whose route version is newer than what `process` last
    /// acknowledged for them: `(tenant, current version)`.
    fn unacknowledged<'a>(&'a self, process: &'a str) -> DataFuture<'a, Vec<(TenantId, i64)>>;

    /// Records that `process` serves route version `version` of `tenant`.
    fn ack<'a>(&'a self, process: &'a str, tenant: TenantId, version: i64) -> DataFuture<'a, ()>;

    /// Forgets processes not seen for `silent` (and their
    /// acknowledgements); how many. Each restart is a new process, so
    /// without this the table only grows.
    fn forget_silent(&self, silent: Duration) -> DataFuture<'_, u64>;

    /// Every process registered, live or silent, by name.
    fn processes(&self) -> DataFuture<'_, Vec<String>>;

    /// Forgets `process` at once (it stops serving, or is known dead): no
    /// change waits for it any more.
    fn forget(&self, process: &str) -> DataFuture<'_, ()>;

    /// Processes seen within `alive` that have not acknowledged at least
    /// `version` of `tenant`'s route, by name.
    fn lagging(
        &self,
        tenant: TenantId,
        version: i64,
        alive: Duration,
    ) -> DataFuture<'_, Vec<String>>;
}
