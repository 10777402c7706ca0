//! Every log line caused by one request — the handler's, a task it spawned,
//! the jobs it enqueued — names the tenant and the request: checked on the
//! server's real output. (A binary of its own: the log capture is global.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use tenantry_server::logging::{LogFormat, init_with_writer};
use tenantry_testkit::span_field;

/// A request that spawns a task (the webhook is prepared on one) and
/// enqueues jobs (the e-mail, the webhook): every line it causes — the
/// request's, the task's, the jobs' — names the tenant and the request.
#[tokio::test]
async fn every_line_of_a_request_its_task_and_its_jobs_names_the_tenant() {
    let captured = tenantry_testkit::CapturedLogs::default();
    let writer = captured.clone();
    init_with_writer(LogFormat::Json, move || writer.clone());

    let s = TestServer::sqlite().await;
    let acme = s.record("acme").await;
    // An endpoint that does not resolve: the webhook job logs its failure.
    let (status, body) = common::status_and_json(
        s.as_tenant("acme", reqwest::Method::PUT, "/api/settings")
            .json(&json!({"webhook_url": "https://hooks.acme.invalid/in"})),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let start = captured.len();
    s.invoice_an_order("acme", "log-spawn-1").await;

    let seen =
        |lines: &[Value], message: &str| lines.iter().any(|l| l["fields"]["message"] == message);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = captured.json_lines(start);
        let webhook_tried = lines
            .iter()
            .any(|l| common::in_job(l) && span_field(l, "kind") == Some(&json!("webhook.deliver")));
        if seen(&lines, "invoice e-mail sent") && webhook_tried {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job lines yet: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The spawned task's line, the request's access-log line, job lines.
    assert!(seen(&lines, "webhook event queued"), "{lines:#?}");
    assert!(seen(&lines, "request"), "{lines:#?}");
    // Every line is either tenant work — acme's, naming its request — or
    // outside any tenant (the workers' own bookkeeping); the invoice
    // request's work (its handler, the spawned task, the jobs) is several.
    let mut ours = 0;
    for line in lines.iter().filter(|l| !common::housekeeping(l)) {
        let Some(tenant) = span_field(line, "tenant_id") else {
            assert_eq!(span_field(line, "tenant_slug"), None, "{line}");
            continue;
        };
        assert_eq!(tenant, &json!(acme.id.to_string()), "{line}");
        assert_eq!(
            span_field(line, "tenant_slug"),
            Some(&json!("acme")),
            "{line}"
        );
        let request = span_field(line, "request_id").and_then(Value::as_str);
        assert!(
            request.is_some_and(|r| !r.is_empty()),
            "no request id: {line}"
        );
        if request == Some("log-spawn-1") {
            ours += 1;
        }
    }
    for message in [
        "request",
        "webhook event queued",
        "invoice e-mail sent",
        "job failed",
    ] {
        assert!(
            lines.iter().any(|l| l["fields"]["message"] == message
                && span_field(l, "request_id") == Some(&json!("log-spawn-1"))),
            "no {message:?} line of the invoice request: {lines:#?}"
        );
    }
    assert!(ours >= 4, "{lines:#?}");
}
