//! [`JobMetrics`]: wait and run time per lane and kind, attempts and queue
//! wait per tenant (top K) — a [`JobObserver`] for the workers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::histogram::Histogram;
use super::tenant_counters::TenantCounters;
use super::text::{header, histogram, series};
use crate::jobs::{Job, JobObserver};

/// (lane, kind, outcome) of a run-time histogram.
type RunKey = (String, String, &'static str);

/// Job metrics; kinds and lanes are defined in code, so their label sets
/// are bounded; tenants are labelled for the top K only.
///
/// ```
/// # use std::time::Duration;
/// use tenantry::jobs::JobObserver;
/// use tenantry::metrics::JobMetrics;
/// let metrics = JobMetrics::new(10);
/// let text = metrics.render();
/// assert!(text.contains("# TYPE job_wait_seconds histogram"));
/// ```
#[derive(Debug)]
pub struct JobMetrics {
    // (lane, kind) → wait before the claim.
    waits: Mutex<BTreeMap<(String, String), Arc<Histogram>>>,
    runs: Mutex<BTreeMap<RunKey, Arc<Histogram>>>,
    // Per tenant: attempts by outcome, and the queue wait summed (`wait_us`
    // over `waited` jobs) — one table, so one top-K set names both.
    per_tenant: TenantCounters,
}

/// `per_tenant`'s second labels for the wait summary.
const WAIT_US: &str = "wait_us";
const WAITED: &str = "waited";

impl JobMetrics {
    /// Ends `tenant`'s series (it was deleted): its counts fold into
    /// `other`, so its id leaves `/metrics`. (A `metrics` facade recorder
    /// keeps what it was given.)
    pub fn forget_tenant(&self, tenant: crate::context::TenantId) {
        self.per_tenant.forget(tenant);
    }

    /// Metrics that label at most `top_k` tenants by id.
    pub fn new(top_k: usize) -> Self {
        Self {
            waits: Mutex::default(),
            runs: Mutex::default(),
            per_tenant: TenantCounters::new(top_k),
        }
    }

    /// The Prometheus text of everything observed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "job_wait_seconds",
            "histogram",
            "Time from a job being due to being claimed, per lane and kind.",
        );
        let waits = self.waits.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for ((lane, kind), h) in &waits {
            histogram(
                &mut out,
                "job_wait_seconds",
                &[("lane", lane), ("kind", kind)],
                h,
            );
        }
        header(
            &mut out,
            "job_run_seconds",
            "histogram",
            "Attempt run time, per lane, kind and outcome (done, retry, dead).",
        );
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for ((lane, kind, outcome), h) in &runs {
            histogram(
                &mut out,
                "job_run_seconds",
                &[("lane", lane), ("kind", kind), ("outcome", outcome)],
                h,
            );
        }
        header(
            &mut out,
            "tenant_job_attempts_total",
            "counter",
            "Job attempts per tenant (the busiest by id, the rest as \"other\") and outcome.",
        );
        let rows = self.per_tenant.rows();
        for ((tenant, outcome), count) in &rows {
            if matches!(*outcome, WAIT_US | WAITED) {
                continue;
            }
            series(
                &mut out,
                "tenant_job_attempts_total",
                &[("tenant", tenant.as_str()), ("outcome", outcome)],
            );
            let _ = writeln!(out, " {count}");
        }
        header(
            &mut out,
            "tenant_job_wait_seconds",
            "summary",
            "Time from due to claimed, per tenant (the busiest by id, the rest as \"other\"): queue lag by tenant.",
        );
        for ((tenant, part), value) in &rows {
            let (name, value) = match *part {
                WAIT_US => ("tenant_job_wait_seconds_sum", *value as f64 / 1e6),
                WAITED => ("tenant_job_wait_seconds_count", *value as f64),
                _ => continue,
            };
            series(&mut out, name, &[("tenant", tenant.as_str())]);
            let _ = writeln!(out, " {value}");
        }
        out
    }
}

impl JobObserver for JobMetrics {
    fn finished(&self, job: &Job, ran: Duration, outcome: &'static str) {
        let lane = job.lane.as_str().to_owned();
        let wait = {
            let mut waits = self.waits.lock().unwrap_or_else(|e| e.into_inner());
            waits
                .entry((lane.clone(), job.kind.clone()))
                .or_default()
                .clone()
        };
        wait.observe(job.waited);
        let run = {
            let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            runs.entry((lane, job.kind.clone(), outcome))
                .or_default()
                .clone()
        };
        run.observe(ran);
        let wait_us = u64::try_from(job.waited.as_micros()).unwrap_or(u64::MAX);
        let tenant = self
            .per_tenant
            .add_all(job.tenant, &[(outcome, 1), (WAIT_US, wait_us), (WAITED, 1)]);
        #[cfg(feature = "metrics-facade")]
        {
            let lane = job.lane.as_str();
            let (kind, waited) = (job.kind.as_str(), job.waited.as_secs_f64());
            use super::facade::{counter, histogram};
            histogram(
                "job_wait_seconds",
                &[("lane", lane), ("kind", kind)],
                waited,
            );
            histogram(
                "job_run_seconds",
                &[("lane", lane), ("kind", kind), ("outcome", outcome)],
                ran.as_secs_f64(),
            );
            counter(
                "tenant_job_attempts_total",
                &[("tenant", &tenant), ("outcome", outcome)],
                1,
            );
            // The built-in text's per-tenant wait summary, as a histogram.
            histogram("tenant_job_wait_seconds", &[("tenant", &tenant)], waited);
        }
        #[cfg(not(feature = "metrics-facade"))]
        let _ = tenant;
    }
}
