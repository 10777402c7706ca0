//! [`TopTenants`]: which tenants get a label of their own.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use crate::context::TenantId;

/// The label of every tenant outside the top K.
pub const OTHER: &str = "other";

/// Tracks request counts per tenant with a bounded table (Space-Saving:
/// at most `max(4·K, 1024)` tenants are counted; a new tenant replaces the
/// smallest count, inheriting it — so any tenant with more than 1/1024 of
/// the traffic is always tracked), and names the K largest as the labelled
/// set — the first K tenants seen get theirs at once — recomputed every
/// table-size hits so a label does not flap request by request.
///
/// ```
/// use tenantry::context::TenantId;
/// use tenantry::metrics::TopTenants;
/// let top = TopTenants::new(2);
/// let (busy, quiet) = (TenantId::new_v4(), TenantId::new_v4());
/// for _ in 0..1000 { top.hit(busy); }
/// top.hit(quiet);
/// top.refresh();
/// assert_eq!(top.label(busy), busy.to_string());
/// for _ in 0..1000 { top.hit(TenantId::new_v4()); }
/// top.refresh();
/// assert_eq!(top.label(busy), busy.to_string());
/// assert_eq!(top.label(TenantId::new_v4()), "other");
/// ```
#[derive(Debug)]
pub struct TopTenants {
    k: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counts: HashMap<TenantId, u64>,
    // The same counts, ordered: the smallest is evicted in O(log n).
    ordered: BTreeSet<(u64, TenantId)>,
    labelled: HashSet<TenantId>,
    hits_since_refresh: usize,
}

impl TopTenants {
    /// Labels at most `k` tenants.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            state: Mutex::new(State::default()),
        }
    }

    fn capacity(&self) -> usize {
        (self.k * 4).max(1024)
    }

    /// How many tenants may have a label.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Counts one request of `tenant`.
    pub fn hit(&self, tenant: TenantId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let capacity = self.capacity();
        let state = &mut *state;
        let next = match state.counts.get(&tenant) {
            Some(&count) => {
                state.ordered.remove(&(count, tenant));
                count + 1
            }
            None if state.counts.len() < capacity => 1,
            None => match state.ordered.pop_first() {
                // Space-Saving: the newcomer inherits the evicted count, so
                // a count overestimates by at most the smallest one.
                Some((min, evicted)) => {
                    state.counts.remove(&evicted);
                    min + 1
                }
                None => 1,
            },
        };
        state.counts.insert(tenant, next);
        state.ordered.insert((next, tenant));
        // While labels are free, a tenant gets one at once.
        if state.labelled.len() < self.k {
            state.labelled.insert(tenant);
        }
        state.hits_since_refresh += 1;
        if state.hits_since_refresh >= capacity {
            Self::recompute(state, self.k);
        }
    }

    /// Recomputes the labelled set now.
    pub fn refresh(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Self::recompute(&mut state, self.k);
    }

    fn recompute(state: &mut State, k: usize) {
        let mut ranked: Vec<(TenantId, u64)> = state.counts.iter().map(|(t, c)| (*t, *c)).collect();
        // Ties by id, so the set is stable.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_uuid().cmp(b.0.as_uuid())));
        state.labelled = ranked.into_iter().take(k).map(|(t, _)| t).collect();
        state.hits_since_refresh = 0;
    }

    /// Drops `tenant` (deleted): it loses its label, and its series fold
    /// into `other` at the next render.
    pub fn forget(&self, tenant: TenantId) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = state.counts.remove(&tenant) {
            state.ordered.remove(&(count, tenant));
        }
        state.labelled.remove(&tenant);
    }

    /// `tenant`'s label: its id while it is in the top K, else `other`.
    pub fn label(&self, tenant: TenantId) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.labelled.contains(&tenant) {
            tenant.to_string()
        } else {
            OTHER.to_owned()
        }
    }
}
