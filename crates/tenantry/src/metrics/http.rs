//! [`HttpMetrics`]: request durations by route, and requests per tenant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::histogram::Histogram;
use super::tenant_counters::TenantCounters;
use super::text::{header, histogram};
use crate::context::TenantId;

/// What a request is counted under.
#[derive(Clone, Copy, Debug)]
pub struct RequestLabels<'a> {
    /// `GET`.
    pub method: &'a str,
    /// The matched route *template* (`/api/orders/{id}`), never the raw path.
    pub route: &'a str,
    /// Response status.
    pub status: u16,
    /// The tenant's tier (`shared`), or `none` outside a tenant.
    pub tier: &'a str,
    /// The tenant's plan (`pro`), or `none`.
    pub plan: &'a str,
    /// The tenant, if the request had one.
    pub tenant: Option<TenantId>,
}

type RouteKey = (String, String, u16, String, String);

/// HTTP metrics for `/metrics`; see the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use tenantry::context::TenantId;
/// use tenantry::metrics::{HttpMetrics, RequestLabels};
/// let metrics = HttpMetrics::new(10);
/// let acme = TenantId::new_v4();
/// metrics.record(&RequestLabels { method: "GET", route: "/api/orders/{id}", status: 200,
///     tier: "shared", plan: "pro", tenant: Some(acme) }, Duration::from_millis(3));
/// let text = metrics.render();
/// assert!(text.contains(r#"http_request_duration_seconds_count{method="GET",route="/api/orders/{id}",status="200",tier="shared",plan="pro"} 1"#));
/// ```
#[derive(Debug)]
pub struct HttpMetrics {
    durations: Mutex<BTreeMap<RouteKey, Arc<Histogram>>>,
    // (tenant label, status class) → requests. Labels of tenants that left
    // the top K are folded into `other` at the next render.
    per_tenant: TenantCounters,
}

fn class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl HttpMetrics {
    /// Ends `tenant`'s series (it was deleted): its counts fold into
    /// `other`, so its id leaves `/metrics`. (A `metrics` facade recorder
    /// keeps what it was given.)
    pub fn forget_tenant(&self, tenant: crate::context::TenantId) {
        self.per_tenant.forget(tenant);
    }

    /// Metrics that label at most `top_k` tenants by name.
    pub fn new(top_k: usize) -> Self {
        Self {
            durations: Mutex::new(BTreeMap::new()),
            per_tenant: TenantCounters::new(top_k),
        }
    }

    /// Records one request that took `elapsed`.
    pub fn record(&self, labels: &RequestLabels<'_>, elapsed: Duration) {
        let key = (
            labels.method.to_owned(),
            labels.route.to_owned(),
            labels.status,
            labels.tier.to_owned(),
            labels.plan.to_owned(),
        );
        let histogram = {
            let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
            durations.entry(key).or_default().clone()
        };
        histogram.observe(elapsed);
        let tenant = labels
            .tenant
            .map(|tenant| self.per_tenant.add(tenant, class(labels.status)));
        #[cfg(feature = "metrics-facade")]
        {
            let status = labels.status.to_string();
            super::facade::histogram(
                "http_request_duration_seconds",
                &[
                    ("method", labels.method),
                    ("route", labels.route),
                    ("status", &status),
                    ("tier", labels.tier),
                    ("plan", labels.plan),
                ],
                elapsed.as_secs_f64(),
            );
            if let Some(tenant) = &tenant {
                super::facade::counter(
                    "tenant_http_requests_total",
                    &[("tenant", tenant), ("class", class(labels.status))],
                    1,
                );
            }
        }
        #[cfg(not(feature = "metrics-facade"))]
        let _ = tenant;
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        let mut out = String::new();
        header(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Request duration by method, route template, status, tier and plan.",
        );
        let durations = self
            .durations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((method, route, status, tier, plan), h) in &durations {
            let status = status.to_string();
            let labels = [
                ("method", method.as_str()),
                ("route", route.as_str()),
                ("status", status.as_str()),
                ("tier", tier.as_str()),
                ("plan", plan.as_str()),
            ];
            histogram(&mut out, "http_request_duration_seconds", &labels, h);
        }
        self.per_tenant.render(
            &mut out,
            "tenant_http_requests_total",
            "Requests per tenant (the top tenants by traffic by id, the rest as \"other\") and status class.",
            "class",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::OTHER;
    use super::*;

    #[test]
    fn ten_thousand_tenants_make_at_most_k_tenant_series() {
        let k = 20;
        let metrics = HttpMetrics::new(k);
        let tenants: Vec<TenantId> = (0..10_000).map(|_| TenantId::new_v4()).collect();
        // Five heavy tenants and a long tail, in rounds.
        for round in 0..3 {
            for (i, tenant) in tenants.iter().enumerate() {
                let hits = if i < 5 { 2_000 } else { 1 };
                for _ in 0..hits {
                    let status = if (i + round) % 10 == 0 { 500 } else { 200 };
                    metrics.record(
                        &RequestLabels {
                            method: "GET",
                            route: "/api/orders/{id}",
                            status,
                            tier: "shared",
                            plan: "pro",
                            tenant: Some(*tenant),
                        },
                        Duration::from_millis(2),
                    );
                }
            }
        }
        let text = metrics.render();
        let tenant_labels: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("tenant_http_requests_total{"))
            .filter_map(|l| l.split("tenant=\"").nth(1)?.split('"').next())
            .collect();
        assert!(
            tenant_labels.len() <= k + 1,
            "{} tenant labels",
            tenant_labels.len()
        );
        assert!(tenant_labels.contains(OTHER));
        for heavy in &tenants[..5] {
            assert!(
                tenant_labels.contains(heavy.to_string().as_str()),
                "heavy tenant labelled"
            );
        }
        // Nothing is lost by folding: every request is counted once.
        let total: u64 = text
            .lines()
            .filter(|l| l.starts_with("tenant_http_requests_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, 3 * (5 * 2_000 + 9_995));
        // The histogram has one label set, whatever the tenant count.
        let histograms = text
            .lines()
            .filter(|l| l.starts_with("http_request_duration_seconds_count{"))
            .count();
        assert_eq!(histograms, 2, "200 and 500");
    }
}
