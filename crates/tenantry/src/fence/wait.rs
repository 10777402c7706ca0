//! Waiting, on the side that changed a tenant, until every live process
//! has acknowledged the change.

use std::time::Duration;

use super::FenceTiming;
use crate::context::TenantId;
use crate::data::DataError;
use crate::moves::RouteAcks;

/// Live processes that did not acknowledge a change in time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotAcknowledged {
    /// These processes, heard from within the lease, still serve an older
    /// version of the tenant's record.
    #[error(
        "server process{} {} did not acknowledge version {version} of tenant {tenant} within {} s (a process silent for the lease, {} s, is no longer waited for)",
        if processes.len() == 1 { "" } else { "es" },
        processes.join(", "),
        waited.as_secs(),
        lease.as_secs()
    )]
    Lagging {
        /// By name.
        processes: Vec<String>,
        /// The tenant.
        tenant: TenantId,
        /// The version they were asked to acknowledge.
        version: i64,
        /// How long this waited.
        waited: Duration,
        /// The lease (see [`FenceTiming::lease`]).
        lease: Duration,
    },
    /// The acknowledgements could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Waits until every process heard from within `timing.lease` has
/// acknowledged at least `version` of `tenant`'s record, for at most
/// `timing.ack_wait`; fails naming the processes that have not.
pub async fn acknowledged(
    acks: &dyn RouteAcks,
    tenant: TenantId,
    version: i64,
    timing: &FenceTiming,
) -> Result<(), NotAcknowledged> {
    let started = tokio::time::Instant::now();
    loop {
        let lagging = acks.lagging(tenant, version, timing.lease).await?;
        if lagging.is_empty() {
            return Ok(());
        }
        if started.elapsed() >= timing.ack_wait {
            return Err(NotAcknowledged::Lagging {
                processes: lagging,
                tenant,
                version,
                waited: started.elapsed(),
                lease: timing.lease,
            });
        }
        // Processes acknowledge once a round; this only watches.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
