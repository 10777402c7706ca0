//! `tenantry::context::spawn` carries the caller's span, so log lines
//! emitted by a spawned task name the tenant like the caller's do.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use tenantry::context::{TenantContext, TenantId, spawn};

#[tokio::test]
async fn spawned_tasks_log_with_the_tenant() {
    let captured = tenantry_testkit::CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let tenant = TenantId::new_v4();
    let ctx = TenantContext::builder(tenant, "acme").build().unwrap();
    ctx.scope(async {
        spawn(async { tracing::info!("from the helper-spawned task") })
            .await
            .unwrap();
        // A bare spawn runs with neither context nor span.
        tokio::spawn(async { tracing::info!("from a bare tokio::spawn") })
            .await
            .unwrap();
    })
    .await;

    let lines = captured.json_lines(0);
    let by_message = |m: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == m)
            .unwrap()
            .clone()
    };
    let spawned = by_message("from the helper-spawned task");
    assert_eq!(spawned["spans"][0]["tenant_id"], tenant.to_string());
    assert_eq!(spawned["spans"][0]["tenant_slug"], "acme");
    let bare = by_message("from a bare tokio::spawn");
    assert!(
        bare.get("spans")
            .is_none_or(|s| s.as_array().is_none_or(Vec::is_empty)),
        "{bare}"
    );
}
