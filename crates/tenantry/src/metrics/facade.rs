//! Forwarding to the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics-facade`): every observation tenantry records is also handed to
//! the app's installed recorder — `metrics-exporter-prometheus`, an
//! OpenTelemetry bridge, StatsD — under the same names and labels as the
//! built-in text, so tenantry's series appear in the app's own registry
//! and exporter.
//!
//! The tenant label is decided by tenantry's top-K at the moment of
//! recording: a tenant outside the busiest K is recorded as `other`. A
//! recorder never sees more tenant label values than tenants that were once
//! among the top K; a tenant that drops out stops adding to its series
//! (exporters with an idle timeout then drop them).

pub(crate) fn counter(name: &'static str, labels: &[(&'static str, &str)], amount: u64) {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(*k, v.to_string()))
        .collect();
    metrics::counter!(name, labels).increment(amount);
}

pub(crate) fn histogram(name: &'static str, labels: &[(&'static str, &str)], seconds: f64) {
    let labels: Vec<metrics::Label> = labels
        .iter()
        .map(|(k, v)| metrics::Label::new(*k, v.to_string()))
        .collect();
    metrics::histogram!(name, labels).record(seconds);
}
