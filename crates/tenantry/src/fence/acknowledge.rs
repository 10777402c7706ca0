//! [`Acknowledger`]: a serving process's side of the protocol — it
//! heartbeats, re-reads every tenant whose record changed, holds or
//! releases it in its [`TenantFence`], and only then acknowledges.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::{FenceTiming, Fenced, TenantFence};
use crate::moves::RouteAcks;
use crate::registry::{RegistryError, Tenants};

/// Keeps one process's [`TenantFence`] in step with the control plane and
/// tells the control plane so.
///
/// Each round ([`sync_once`](Self::sync_once)): a heartbeat under the
/// process's name; then, for each tenant whose record version is newer
/// than this process acknowledged, the record re-read from the store (the
/// process's cache of it dropped), the tenant held (waiting for its work
/// in flight here to end) or released, and the version acknowledged; the
/// fence marked synced as of the round's start. Without Redis a change
/// reaches every process within a round ([`FenceTiming::every`]); with it,
/// [`poke`](Self::poke) starts a round as soon as the change is announced.
pub struct Acknowledger {
    name: String,
    acks: Arc<dyn RouteAcks>,
    tenants: Tenants,
    fence: TenantFence,
    timing: FenceTiming,
    // One round at a time: the loop's and a request's that found the view
    // stale share it.
    round: tokio::sync::Mutex<()>,
    poked: Notify,
}

/// A sync round that did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The heartbeat or an acknowledgement could not be written.
    #[error("acknowledging: {0}")]
    Acks(#[from] crate::data::DataError),
    /// A changed record could not be re-read.
    #[error("re-reading a changed tenant: {0}")]
    Registry(#[from] RegistryError),
}

impl Acknowledger {
    /// An acknowledger for the process called `name` (unique among live
    /// processes), keeping `fence` in step through `tenants`' store. The
    /// fence is armed when [`run`](Self::run) starts.
    pub fn new(
        name: impl Into<String>,
        acks: Arc<dyn RouteAcks>,
        tenants: Tenants,
        fence: TenantFence,
        timing: FenceTiming,
    ) -> Self {
        Self {
            name: name.into(),
            acks,
            tenants,
            fence,
            timing,
            round: tokio::sync::Mutex::new(()),
            poked: Notify::new(),
        }
    }

    /// The process's name, as lagging lists show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fence this keeps in step.
    pub fn fence(&self) -> &TenantFence {
        &self.fence
    }

    /// The timing it keeps.
    pub fn timing(&self) -> FenceTiming {
        self.timing
    }

    /// One round (see the type's docs); how many tenants it acknowledged.
    pub async fn sync_once(&self) -> Result<usize, SyncError> {
        let _round = self.round.lock().await;
        self.sync_locked().await
    }

    async fn sync_locked(&self) -> Result<usize, SyncError> {
        let began = Instant::now();
        self.acks.heartbeat(&self.name).await?;
        let mut acknowledged = 0;
        for (tenant, _) in self.acks.unacknowledged(&self.name).await? {
            let record = self.tenants.refresh(tenant).await?;
            let served = record.as_ref().is_some_and(|r| r.state.is_served());
            if served {
                self.fence.release(tenant);
            } else if !self.fence.hold(tenant, self.timing.every).await {
                // Held already: nothing new starts. Acknowledged next
                // round, once what was in flight has ended.
                tracing::info!(%tenant, "holding a tenant: waiting for its work in flight");
                continue;
            }
            let Some(record) = record else { continue };
            self.acks
                .ack(&self.name, tenant, record.route_version)
                .await?;
            acknowledged += 1;
        }
        // Even with an acknowledgement left for later: every hold is in
        // place, so the fence's view is as of this round.
        self.fence.mark_synced(began);
        Ok(acknowledged)
    }

    /// Returns at once when this process's view is recent
    /// ([`FenceTiming::resync_after`]); otherwise syncs first (a process
    /// that was paused, or cut off, re-reads before it serves). Refused
    /// with [`Fenced::Stale`] if that round fails and the view is older
    /// than [`FenceTiming::self_fence_after`].
    pub async fn ensure_fresh(&self) -> Result<(), Fenced> {
        let recent = |fence: &TenantFence| {
            fence
                .age()
                .is_some_and(|age| age <= self.timing.resync_after)
        };
        if !self.fence.is_armed() || recent(&self.fence) {
            return Ok(());
        }
        let _round = self.round.lock().await;
        // Another request's round may have finished while this one waited.
        if recent(&self.fence) {
            return Ok(());
        }
        match self.sync_locked().await {
            Ok(_) => Ok(()),
            Err(e) => {
                // A busy control plane is no reason to refuse: the view is
                // still good up to the self-fence age.
                tracing::warn!(error = %e, "could not sync with the control plane before serving");
                let age = self.fence.age();
                match age {
                    Some(age) if age <= self.timing.self_fence_after() => Ok(()),
                    _ => Err(Fenced::Stale { age }),
                }
            }
        }
    }

    /// Starts a round now (a registry change was announced, e.g. over Redis).
    pub fn poke(&self) {
        self.poked.notify_one();
    }

    /// Syncs at once and arms the fence, then syncs every
    /// [`FenceTiming::every`], and whenever poked, until `stop`; then signs
    /// the process off (no change waits for it any more).
    ///
    /// The fence is armed after the first round (whether it worked or
    /// not): until then the process has read no record from a cache, so
    /// there is no stale view to refuse.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut every = tokio::time::interval(self.timing.every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => {
                    // A process that stops serving holds no change up.
                    if let Err(e) = self.acks.forget(&self.name).await {
                        tracing::warn!(error = %e, "could not sign off from the control plane");
                    }
                    return;
                }
                _ = every.tick() => {}
                () = self.poked.notified() => {}
            }
            if let Err(e) = self.sync_once().await {
                tracing::warn!(error = %e, process = %self.name, "could not sync with the control plane");
            }
            if !self.fence.is_armed() {
                self.fence.arm(self.timing.self_fence_after());
            }
        }
    }
}
