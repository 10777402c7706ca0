//! With `metrics-facade`, tenantry's series reach the app's own recorder
//! under the same names, with the tenant label bounded by the top K.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tenantry::context::TenantId;
use tenantry::limits::{LimitsObserver, Rejection};
use tenantry::metrics::{HttpMetrics, LimitMetrics, OTHER, RequestLabels};

#[test]
fn the_app_s_recorder_gets_every_series_with_bounded_tenant_labels() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let http = HttpMetrics::new(2);
    let limits = LimitMetrics::new(2);
    let tenants: Vec<TenantId> = (0..50).map(|_| TenantId::new_v4()).collect();
    metrics::with_local_recorder(&recorder, || {
        // Two busy tenants, then 48 with one request each.
        for (i, tenant) in tenants.iter().enumerate() {
            let requests = if i < 2 { 100 } else { 1 };
            for _ in 0..requests {
                http.record(
                    &RequestLabels {
                        method: "GET",
                        route: "/api/orders/{id}",
                        status: 200,
                        tier: "shared",
                        plan: "team",
                        tenant: Some(*tenant),
                    },
                    Duration::from_millis(4),
                );
            }
        }
        let ctx = tenantry::context::TenantContext::builder(tenants[0], "busy")
            .build()
            .unwrap();
        limits.rejected(&ctx, Rejection::Rate);
    });

    let snapshot = snapshotter.snapshot().into_vec();
    let mut tenant_labels = BTreeSet::new();
    let (mut requests, mut durations, mut rejections) = (0, 0, 0);
    for (key, _, _, value) in &snapshot {
        let name = key.key().name();
        let label = |k: &str| {
            key.key()
                .labels()
                .find(|l| l.key() == k)
                .map(|l| l.value().to_owned())
        };
        match (name, value) {
            ("tenant_http_requests_total", DebugValue::Counter(n)) => {
                requests += n;
                assert_eq!(label("class").as_deref(), Some("2xx"));
                tenant_labels.insert(label("tenant").unwrap());
            }
            ("http_request_duration_seconds", DebugValue::Histogram(values)) => {
                durations += values.len();
                assert_eq!(label("route").as_deref(), Some("/api/orders/{id}"));
                assert_eq!(label("plan").as_deref(), Some("team"));
                assert!(label("tenant").is_none(), "no tenant on the wide series");
            }
            ("tenant_limit_rejections_total", DebugValue::Counter(n)) => {
                rejections += n;
                assert_eq!(label("reason").as_deref(), Some("rate"));
            }
            _ => {}
        }
    }
    assert_eq!(requests, 2 * 100 + 48, "every request counted once");
    assert_eq!(durations, 248, "every duration observed");
    assert_eq!(rejections, 1);
    assert!(tenant_labels.contains(OTHER), "{tenant_labels:?}");
    assert!(
        tenant_labels.len() <= 2 + 1 + 2,
        "the recorder saw {} tenant labels for 50 tenants with K = 2: {tenant_labels:?}",
        tenant_labels.len()
    );
}
