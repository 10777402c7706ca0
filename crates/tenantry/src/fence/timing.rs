//! [`FenceTiming`]: how often processes sync, and how long each side
//! waits for the other.

use std::time::Duration;

/// The clocks of the acknowledgement protocol. The defaults keep the one
/// relation the guarantee rests on: a process refuses tenant work
/// ([`self_fence_after`](Self::self_fence_after)) well before the others
/// stop waiting for it ([`lease`](Self::lease)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FenceTiming {
    /// How often a serving process heartbeats and acknowledges.
    pub every: Duration,
    /// A request that finds this process's view older than this waits for
    /// a sync first: a process that was paused re-reads before it serves.
    pub resync_after: Duration,
    /// A process silent this long is no longer waited for; it refuses
    /// tenant work from half of it on. Keep it above twice
    /// [`IDLE_TRANSACTION_LIMIT`](super::IDLE_TRANSACTION_LIMIT), after
    /// which PostgreSQL ends a tenant transaction left idle (a process
    /// paused between its statements and its `COMMIT` loses it before the
    /// others stop waiting).
    pub lease: Duration,
    /// How long a state change waits for the live processes before its
    /// step fails naming the ones that did not acknowledge (shorter than
    /// the lease, so a silent process is named before it is counted out).
    pub ack_wait: Duration,
}

impl Default for FenceTiming {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(1),
            resync_after: Duration::from_secs(2),
            lease: Duration::from_secs(20),
            ack_wait: Duration::from_secs(10),
        }
    }
}

impl FenceTiming {
    /// Past this age of its last sync a process refuses tenant work: half
    /// the lease, so it has stopped well before the others count it out.
    pub fn self_fence_after(&self) -> Duration {
        self.lease / 2
    }
}
