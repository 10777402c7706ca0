//! [`TenantCounters`]: one counter per (top-K tenant, second label).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::http::fold_stale;
use super::text::{header, series};
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

    pub(crate) fn add(&self, tenant: TenantId, second: &'static str) {
        self.top.hit(tenant);
        let label = self.top.label(tenant);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry((label, second)).or_default() += 1;
    }

    /// Writes the counter `name` with labels `tenant` and `second_key`.
    pub(crate) fn render(&self, out: &mut String, name: &str, help: &str, second_key: &str) {
        header(out, name, "counter", help);
        let mut rows = fold_stale(&self.counts, &self.top);
        rows.sort();
        for ((tenant, second), count) in rows {
            series(
                out,
                name,
                &[("tenant", tenant.as_str()), (second_key, second)],
            );
            let _ = writeln!(out, " {count}");
        }
    }
}
