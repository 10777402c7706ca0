//! [`TenantFence`]: which tenants this process must not touch, and
//! whether its view of that is recent enough to trust.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::context::TenantId;

/// This process's fence around held tenants (suspended, being deleted,
/// deleted): the data layer asks it before every statement or transaction
/// of a tenant's own, and refuses when the tenant is held or when the
/// process has not heard from the control plane for too long.
///
/// The fence also counts the tenant's statements and transactions in
/// flight, so [`hold`](Self::hold) can wait for the ones that began before
/// it: once it returns, nothing of that tenant is running here, and
/// nothing new starts. Only then does this process acknowledge the change
/// (see [`Acknowledger`](crate::fence::Acknowledger)).
///
/// A new fence is **unarmed**: it never counts itself stale (a CLI
/// process, which does not sync). A serving process's acknowledger
/// [`arm`](Self::arm)s it after its first sync; from then on it refuses
/// tenant work whenever its last sync is too old.
///
/// Clones share the fence.
///
/// ```
/// use std::time::Duration;
/// use tenantry::context::TenantId;
/// use tenantry::fence::{Fenced, TenantFence};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let fence = TenantFence::default();
/// let acme = TenantId::new_v4();
/// assert!(fence.enter(acme).is_ok()); // unarmed: never stale
///
/// fence.arm(Duration::from_secs(10));
/// assert!(matches!(fence.enter(acme), Err(Fenced::Stale { .. })));
/// fence.mark_synced(std::time::Instant::now());
/// let in_flight = fence.enter(acme).unwrap();
///
/// let holding = tokio::spawn({
///     let fence = fence.clone();
///     async move { fence.hold(acme, Duration::from_secs(5)).await }
/// });
/// tokio::task::yield_now().await;
/// assert!(matches!(fence.enter(acme), Err(Fenced::Held))); // nothing new starts
/// drop(in_flight); // ... and the one in flight ends
/// assert!(holding.await.unwrap()); // so the hold is complete
/// # }
/// ```
#[derive(Clone, Default)]
pub struct TenantFence {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    // One lock for the whole state: each statement takes it twice, for a
    // set lookup and a counter, never across an await.
    state: Mutex<State>,
    // Woken whenever a held tenant's last statement in flight ends.
    drained: Notify,
}

#[derive(Default)]
struct State {
    // How old a view may be before tenant work is refused; `None` while
    // unarmed.
    self_fence_after: Option<Duration>,
    synced_at: Option<Instant>,
    held: HashSet<TenantId>,
    in_flight: HashMap<TenantId, usize>,
}

/// Why the fence refused a tenant's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fenced {
    /// The tenant is held: suspended, being deleted or gone.
    #[error("the tenant is not being served")]
    Held,
    /// This process has not synced with the control plane for `age` (or
    /// never has), so it cannot know which tenants are held.
    #[error("this process has not heard from the control plane for {}", describe(*.age))]
    Stale {
        /// Since the last sync; `None`: never synced.
        age: Option<Duration>,
    },
}

fn describe(age: Option<Duration>) -> String {
    match age {
        Some(age) => format!("{} ms", age.as_millis()),
        None => "its whole life (no sync yet)".to_owned(),
    }
}

/// One statement or transaction of a tenant's, in flight; ends on drop.
#[must_use = "the work counts as in flight only while the guard lives"]
pub struct FenceGuard {
    fence: Option<TenantFence>,
    tenant: TenantId,
}

impl TenantFence {
    /// Starts enforcing: from now on, tenant work is refused once this
    /// process's last sync is older than `self_fence_after` (or before its
    /// first one), and held tenants are refused.
    pub fn arm(&self, self_fence_after: Duration) {
        self.lock().self_fence_after = Some(self_fence_after);
    }

    /// Whether [`arm`](Self::arm) was called.
    pub fn is_armed(&self) -> bool {
        self.lock().self_fence_after.is_some()
    }

    /// Records a complete sync that began at `began`: every change up to
    /// then is reflected in the holds.
    pub fn mark_synced(&self, began: Instant) {
        let mut state = self.lock();
        if state.synced_at.is_none_or(|at| at < began) {
            state.synced_at = Some(began);
        }
    }

    /// How long ago the last complete sync began; `None` if there was none.
    pub fn age(&self) -> Option<Duration> {
        self.lock().synced_at.map(|at| at.elapsed())
    }

    /// Lets one statement or transaction of `tenant` start, counted in
    /// flight until the guard is dropped; refused if the tenant is held, or
    /// if the fence is armed and stale.
    pub fn enter(&self, tenant: TenantId) -> Result<FenceGuard, Fenced> {
        let mut state = self.lock();
        state.check_fresh()?;
        if state.held.contains(&tenant) {
            return Err(Fenced::Held);
        }
        // Counted armed or not: a hold placed by the first sync waits for
        // work begun before it.
        *state.in_flight.entry(tenant).or_default() += 1;
        Ok(FenceGuard {
            fence: Some(self.clone()),
            tenant,
        })
    }

    /// [`enter`](Self::enter) for the work of `ctx`: the tenant's own is
    /// fenced, its lifecycle work (export, purge, copies) is not.
    pub fn enter_for(&self, ctx: &crate::context::TenantContext) -> Result<FenceGuard, Fenced> {
        if ctx.is_lifecycle() {
            return Ok(FenceGuard::unfenced(ctx.tenant_id()));
        }
        self.enter(ctx.tenant_id())
    }

    /// Holds `tenant`: nothing of it starts from now on, and this waits
    /// (up to `wait`) for what is in flight to end. Whether nothing is in
    /// flight any more; on `false` the tenant stays held and a later call
    /// waits again.
    pub async fn hold(&self, tenant: TenantId, wait: Duration) -> bool {
        self.lock().held.insert(tenant);
        let drained = async {
            loop {
                let notified = self.inner.drained.notified();
                tokio::pin!(notified);
                // Registered before the count is read: an end between the
                // two still wakes this waiter.
                notified.as_mut().enable();
                if !self.lock().in_flight.contains_key(&tenant) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(wait, drained).await.is_ok()
    }

    /// Serves `tenant` again (it was resumed).
    pub fn release(&self, tenant: TenantId) {
        self.lock().held.remove(&tenant);
    }

    /// Whether `tenant` is held here.
    pub fn is_held(&self, tenant: TenantId) -> bool {
        self.lock().held.contains(&tenant)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a set and counters, consistent after every
        // statement: a panic elsewhere cannot leave it half-changed.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn check_fresh(&self) -> Result<(), Fenced> {
        let Some(limit) = self.self_fence_after else {
            return Ok(());
        };
        let age = self.synced_at.map(|at| at.elapsed());
        match age {
            Some(age) if age <= limit => Ok(()),
            age => Err(Fenced::Stale { age }),
        }
    }
}

impl FenceGuard {
    /// Checks again, right before a commit, that this process's view is
    /// still fresh: a process paused between its first check and its
    /// commit may have been counted out by the others meanwhile.
    pub fn recheck(&self) -> Result<(), Fenced> {
        match &self.fence {
            Some(fence) => fence.lock().check_fresh(),
            None => Ok(()),
        }
    }

    /// Whether this guard's fence enforces freshness (is armed): a
    /// SQLite write then checks again under the file's write lock.
    pub fn is_fencing(&self) -> bool {
        self.fence.as_ref().is_some_and(TenantFence::is_armed)
    }

    /// A guard that fences nothing (lifecycle work, unarmed processes).
    fn unfenced(tenant: TenantId) -> Self {
        Self {
            fence: None,
            tenant,
        }
    }
}

impl Drop for FenceGuard {
    fn drop(&mut self) {
        let Some(fence) = self.fence.take() else {
            return;
        };
        let mut state = fence.lock();
        let drained = match state.in_flight.get_mut(&self.tenant) {
            Some(count) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                state.in_flight.remove(&self.tenant);
                state.held.contains(&self.tenant)
            }
            None => false,
        };
        drop(state);
        if drained {
            fence.inner.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_fence_refuses_until_it_syncs_again() {
        let fence = TenantFence::default();
        fence.arm(Duration::from_secs(10));
        let acme = TenantId::new_v4();
        assert_eq!(
            fence.enter(acme).err(),
            Some(Fenced::Stale { age: None }),
            "armed and never synced"
        );
        let long_ago = Instant::now() - Duration::from_secs(20);
        fence.mark_synced(long_ago);
        assert!(
            matches!(fence.enter(acme), Err(Fenced::Stale { age: Some(age) }) if age >= Duration::from_secs(20))
        );
        fence.mark_synced(Instant::now());
        let guard = fence.enter(acme).unwrap();
        assert!(guard.recheck().is_ok());
        fence.mark_synced(long_ago);
        assert!(
            guard.recheck().is_ok(),
            "an older sync never replaces a newer one"
        );
    }

    #[tokio::test]
    async fn a_hold_gives_up_waiting_but_stays_held() {
        let fence = TenantFence::default();
        fence.arm(Duration::from_secs(60));
        fence.mark_synced(Instant::now());
        let acme = TenantId::new_v4();
        let other = TenantId::new_v4();
        let stuck = fence.enter(acme).unwrap();
        let _busy_elsewhere = fence.enter(other).unwrap();
        assert!(!fence.hold(acme, Duration::from_millis(20)).await);
        assert!(fence.is_held(acme));
        assert_eq!(fence.enter(acme).err(), Some(Fenced::Held));
        assert!(fence.enter(other).is_ok(), "another tenant is not held");
        drop(stuck);
        assert!(fence.hold(acme, Duration::from_millis(20)).await);
        fence.release(acme);
        assert!(fence.enter(acme).is_ok());
    }

    #[tokio::test]
    async fn an_unarmed_fence_is_never_stale_but_holds_and_counts() {
        let fence = TenantFence::default();
        let acme = TenantId::new_v4();
        let before = fence.enter(acme).unwrap();
        assert!(!before.is_fencing());
        assert!(
            !fence.hold(acme, Duration::from_millis(10)).await,
            "work begun before the hold is waited for"
        );
        assert_eq!(fence.enter(acme).err(), Some(Fenced::Held));
        drop(before);
        assert!(fence.hold(acme, Duration::from_millis(10)).await);
    }
}
