//! Log lines emitted inside jobs carry the job's tenant and the id of the
//! request that enqueued it — checked on the server's real output.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::TestServer;
use serde_json::{Value, json};
use tenantry_server::logging::{LogFormat, init_with_writer};
use tenantry_testkit::span_field;

#[tokio::test]
async fn lines_inside_jobs_carry_the_tenant_and_the_enqueuing_request() {
    let captured = tenantry_testkit::CapturedLogs::default();
    let writer = captured.clone();
    init_with_writer(LogFormat::Json, move || writer.clone());

    let s = TestServer::sqlite().await;
    let acme = s.record("acme").await;
    let start = captured.len();
    s.invoice_an_order("acme", "log-job-1").await;

    // The handler's own line marks the job's end (bounded wait).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = captured.json_lines(start);
        if lines
            .iter()
            .any(|l| l["fields"]["message"] == "invoice e-mail sent")
        {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no job line: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The server's own housekeeping may run in the same window as the
    // system tenant; only tenant jobs are in question.
    let job_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| common::in_job(l) && !common::housekeeping(l))
        .collect();
    assert!(!job_lines.is_empty());
    for line in job_lines {
        assert_eq!(
            span_field(line, "tenant_id"),
            Some(&json!(acme.id.to_string())),
            "{line}"
        );
        assert_eq!(
            span_field(line, "tenant_slug"),
            Some(&json!("acme")),
            "{line}"
        );
        assert_eq!(
            span_field(line, "request_id"),
            Some(&json!("log-job-1")),
            "{line}"
        );
        assert_eq!(
            span_field(line, "kind"),
            Some(&json!("invoice.email")),
            "{line}"
        );
    }
}
