//! [`Route`]: where a tenant's reads go and where its writes go.
//!
//! One routing decision per tenant, made from its registry record and
//! carried in its context, so the data layer — not handlers or
//! repositories — decides which tier a statement reaches. Writes are a
//! list: while a tenant moves between tiers, every write goes to the old
//! and the new place (dual-write) and reads stay on the old one until
//! cutover.

use std::sync::Arc;

use super::Tier;

/// Where one tenant's statements go.
///
/// ```
/// use tenantry::context::{Route, Tier};
///
/// let settled = Route::single(Tier::Schema);
/// assert_eq!(settled.reads(), Tier::Schema);
/// assert_eq!(settled.writes(), &[Tier::Schema]);
///
/// let moving = Route::dual_write(Tier::Shared, Tier::Database);
/// assert_eq!(moving.reads(), Tier::Shared);
/// assert_eq!(moving.writes(), &[Tier::Shared, Tier::Database]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    reads: Tier,
    // Never empty; the first is the primary (the source of truth).
    writes: Vec<Tier>,
    // The database tier's server when not the default one.
    database_server: Option<Arc<str>>,
    // The mirrors are still being filled by a tier move's copy.
    filling: bool,
}

impl Route {
    /// Reads and writes on one tier: a tenant that is not moving.
    pub fn single(tier: Tier) -> Self {
        Self {
            reads: tier,
            writes: vec![tier],
            database_server: None,
            filling: false,
        }
    }

    /// Reads from `from`; writes to `from` first, then mirrored to `to`.
    /// The same tier twice is [`Route::single`].
    pub fn dual_write(from: Tier, to: Tier) -> Self {
        let mut route = Self::single(from);
        if to != from {
            route.writes.push(to);
        }
        route
    }

    /// Marks the mirrors as still being filled by a tier move's copy: a
    /// write a mirror refuses (a row it does not hold yet) is skipped there
    /// (the move's catch-up repairs it) instead of failing the write. Without
    /// it — the mirror holds every row — a write reaches every tier or none.
    pub fn filling_mirror(mut self) -> Self {
        self.filling = self.writes.len() > 1;
        self
    }

    /// Whether a write the mirrors refuse is skipped there (see
    /// [`Route::filling_mirror`]).
    pub fn mirrors_filling(&self) -> bool {
        self.filling
    }

    /// Where reads (and single-tier transactions) go.
    pub fn reads(&self) -> Tier {
        self.reads
    }

    /// Where writes go, primary first.
    pub fn writes(&self) -> &[Tier] {
        &self.writes
    }

    /// Places the database tier on `server` (a `postgres://host:port` URL)
    /// instead of the default server.
    pub fn with_database_server(mut self, server: impl Into<Arc<str>>) -> Self {
        self.database_server = Some(server.into());
        self
    }

    /// The database tier's server, when not the default one.
    pub fn database_server(&self) -> Option<&str> {
        self.database_server.as_deref()
    }

    /// The tiers writes are mirrored to besides the primary.
    pub fn mirrors(&self) -> &[Tier] {
        &self.writes[1..]
    }
}

impl Default for Route {
    fn default() -> Self {
        Self::single(Tier::default())
    }
}
