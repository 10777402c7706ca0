//! `tenantry::context::spawn` carries the caller's span, so log lines
//! emitted by a spawned task name the tenant like the caller's do.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::sync::{Arc, Mutex};

use tenantry::context::{TenantContext, TenantId, spawn};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn spawned_tasks_log_with_the_tenant() {
    let captured = Captured::default();
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

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
