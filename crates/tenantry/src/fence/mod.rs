//! No work of a held tenant in any process: the lifecycle's guarantee
//! across server processes.
//!
//! A tenant is **held** while it is not active — suspended, being set up
//! again, being deleted, deleted. Its requests are refused at the edge, by
//! each process's cached copy of its record; but a cache is per process
//! and may be stale (a missed Redis message, no Redis at all, a process
//! that was paused). So a change that holds a tenant is not trusted until
//! every live serving process has acknowledged it, and the data layer
//! refuses a held tenant's work even where a cache says otherwise:
//!
//! 1. The change bumps the tenant's record version in the control plane
//!    (the same version a tier move's route changes bump).
//! 2. Every serving process runs an [`Acknowledger`]: each round (every
//!    second; at once when Redis announces a change) it re-reads the
//!    records whose version it has not acknowledged, **holds** each held
//!    tenant in its [`TenantFence`] — no statement of the tenant starts
//!    there any more, and the ones in flight are waited for — and only
//!    then acknowledges the version.
//! 3. The workflow step that made the change waits ([`acknowledged`])
//!    until every process heard from within the lease has acknowledged;
//!    past [`FenceTiming::ack_wait`] it fails, naming the processes, and
//!    the workflow does not go on.
//! 4. A process that stops hearing from the control plane (paused, cut
//!    off) refuses every tenant's work once its view is older than half
//!    the lease, before the others stop waiting for it; on its next
//!    request it re-reads first. On PostgreSQL a tenant transaction left
//!    idle for [`IDLE_TRANSACTION_LIMIT`] is ended by the server, so a
//!    process paused between a write and its `COMMIT` cannot commit after
//!    it has been counted out.
//!
//! Work the lifecycle itself does for a held tenant (its export, its
//! purge) runs in a context marked
//! [`lifecycle`](crate::context::TenantContextBuilder::lifecycle), which
//! the fence lets through.

mod acknowledge;
mod timing;
mod wait;

use std::time::Duration;

pub use crate::data::fence::{FenceGuard, Fenced, TenantFence};
pub use acknowledge::{Acknowledger, SyncError};
pub use timing::FenceTiming;
pub use wait::{NotAcknowledged, acknowledged};

/// How long PostgreSQL keeps a tenant transaction that sits idle (set per
/// transaction with the tenant): half the default lease.
pub const IDLE_TRANSACTION_LIMIT: Duration = Duration::from_secs(10);
