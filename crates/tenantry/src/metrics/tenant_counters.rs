//! [`TenantCounters`]: one counter per (top-K tenant, second label).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::text::{header, series};
use super::top_k::OTHER;
use super::top_k::TopTenants;
use crate::context::TenantId;

/// Counts per tenant and one bounded second label (an outcome, a reason),
/// tenants named only while in the top K of *this* counter's traffic.
#[derive(Debug)]
pub(crate) struct TenantCounters {
    counts: Mutex<HashMap<(String, &'static str), u64>>,
    top: TopTenants,
}

impl TenantCounters {
    pub(crate) fn new(top_k: usize) -> Self {
        Self {
            counts: Mutex::default(),
            top: TopTenants::new(top_k),
        }
    }

    /// One event of `tenant`'s under `second`; the tenant's label.
    pub(crate) fn add(&self, tenant: TenantId, second: &'static str) -> String {
        self.add_all(tenant, &[(second, 1)])
    }

    /// One event of `tenant`'s, adding to several of its counters; the
    /// tenant's label (its id while in the top K, else `other`).
    pub(crate) fn add_all(&self, tenant: TenantId, amounts: &[(&'static str, u64)]) -> String {
        self.top.hit(tenant);
        let label = self.top.label(tenant);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (second, amount) in amounts {
            *counts.entry((label.clone(), second)).or_default() += amount;
        }
        label
    }

    /// Ends `tenant`'s series (deleted): its counts fold into `other`.
    pub(crate) fn forget(&self, tenant: TenantId) {
        self.top.forget(tenant);
    }

    /// Every (tenant label, second label) → count, stale tenants folded.
    pub(crate) fn rows(&self) -> Vec<((String, &'static str), u64)> {
        let mut rows = fold_stale(&self.counts, &self.top);
        rows.sort();
        rows
    }

    /// Writes the counter `name` with labels `tenant` and `second_key`.
    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str, second_key: &str) {
        header(out, name, "counter", help);
        for ((tenant, second), count) in self.rows() {
            series(
                out,
                name,
                &[("tenant", tenant.as_str()), (second_key, second)],
            );
            let _ = writeln!(out, " {count}");
        }
    }
}

/// The per-tenant counters of `map`, after folding tenants that left the
/// top K into `other` (their series end; `other` only grows).
fn fold_stale(
    map: &Mutex<HashMap<(String, &'static str), u64>>,
    top: &TopTenants,
) -> Vec<((String, &'static str), u64)> {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let stale: Vec<(String, &'static str)> = map
        .keys()
        .filter(|(label, _)| {
            label != OTHER
                && label
                    .parse::<TenantId>()
                    .is_ok_and(|t| top.label(t) == OTHER)
        })
        .cloned()
        .collect();
    for key in stale {
        if let Some(count) = map.remove(&key) {
            *map.entry((OTHER.to_owned(), key.1)).or_default() += count;
        }
    }
    map.iter().map(|(k, v)| (k.clone(), *v)).collect()
}
