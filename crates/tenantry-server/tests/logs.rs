//! Every log line emitted inside a tenant context carries the tenant and
//! the request id, through the span — checked on the server's real output.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::TestServer;
use reqwest::Method;
use serde_json::{Value, json};
use tenantry_server::logging::{LogFormat, init_with_writer};
use tenantry_testkit::span_field;

#[tokio::test]
async fn request_lines_carry_tenant_and_request_id() {
    let captured = tenantry_testkit::CapturedLogs::default();
    let writer = captured.clone();
    init_with_writer(LogFormat::Json, move || writer.clone());

    let s = TestServer::sqlite().await;
    let acme = s.record("acme").await;
    let start = captured.len();
    let requests = [
        (Method::GET, "/api/orders", None, "log-list-1"),
        (
            Method::POST,
            "/api/orders",
            Some(json!({"customer": "Logged", "total_cents": 1})),
            "log-create-2",
        ),
        (
            Method::POST,
            "/api/orders",
            Some(json!({"customer": ""})),
            "log-bad-3",
        ),
        (
            Method::GET,
            "/api/orders/00000000-0000-4000-8000-000000000000",
            None,
            "log-missing-4",
        ),
    ];
    for (method, path, body, request_id) in &requests {
        let mut req = s
            .as_tenant("acme", method.clone(), path)
            .header("x-request-id", *request_id);
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.unwrap();
    }

    let lines: Vec<Value> = captured
        .json_lines(start)
        .into_iter()
        .filter(|l| !common::housekeeping(l))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "tenantry::access")
        .collect();
    assert_eq!(
        access.len(),
        requests.len(),
        "one access line per request: {lines:#?}"
    );
    for line in &lines {
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
        let request_id = span_field(line, "request_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        assert!(request_id.starts_with("log-"), "{line}");
    }
    let ids: Vec<&str> = access
        .iter()
        .filter_map(|l| span_field(l, "request_id")?.as_str())
        .collect();
    assert_eq!(ids, requests.iter().map(|r| r.3).collect::<Vec<_>>());
    // The route template, never the raw path (raw paths carry ids).
    assert_eq!(access[3]["fields"]["route"], "/api/orders/{id}");
}
