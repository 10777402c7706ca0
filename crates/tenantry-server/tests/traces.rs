//! One trace from request to job to outbound webhook, exported over OTLP
//! by a real `tenantry serve` process to a collector implemented here (the
//! OTLP/HTTP protobuf endpoint, decoded with the `opentelemetry-proto`
//! types): the request continues the caller's `traceparent`, every span of
//! the trace names the tenant, and the webhook receives the trace, the
//! outbound span as its parent, and the tenant's baggage.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{ServerProcess, tenantry_cli};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What a test endpoint received, and a bell rung on every arrival.
#[derive(Default)]
struct Inbox<T> {
    items: Mutex<Vec<T>>,
    arrived: Notify,
}

impl<T: Clone> Inbox<T> {
    fn push(&self, item: T) {
        self.items.lock().unwrap().push(item);
        self.arrived.notify_waiters();
    }

    /// Waits (at most a minute) until `done` holds for what has arrived.
    async fn until(&self, what: &str, done: impl Fn(&[T]) -> bool) -> Vec<T> {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let arrived = self.arrived.notified();
                {
                    let items = self.items.lock().unwrap();
                    if done(&items) {
                        return items.clone();
                    }
                }
                arrived.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }
}

/// Serves `router` on a free local port; its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_its_job_and_its_webhook_are_one_trace_tagged_with_the_tenant() {
    let spans: Arc<Inbox<Span>> = Arc::default();
    let collector = {
        let spans = spans.clone();
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: Bytes| {
                let spans = spans.clone();
                async move {
                    let export = ExportTraceServiceRequest::decode(body).unwrap();
                    for resource in export.resource_spans {
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                spans.push(span);
                            }
                        }
                    }
                    StatusCode::OK
                }
            }),
        )
    };
    let collector = serve(collector).await;
    let hooks: Arc<Inbox<HeaderMap>> = Arc::default();
    let receiver = {
        let hooks = hooks.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap| {
                let hooks = hooks.clone();
                async move {
                    hooks.push(headers);
                    StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let receiver = serve(receiver).await;

    let dir = std::env::temp_dir().join(format!("tenantry-otel-{}", uuid::Uuid::new_v4().simple()));
    let server = ServerProcess::start_with_env(
        &dir,
        &[
            "--demo",
            "--otlp-endpoint",
            &collector,
            "--webhook-allow",
            "127.0.0.1/32",
        ],
        // Export every 100 ms instead of every 5 s.
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let token = String::from_utf8(
        tenantry_cli(&dir, &["token", "--tenant", "acme", "--role", "admin"]).stdout,
    )
    .unwrap();
    let http = tenantry_testkit::http();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("http://{}{path}", server.addr))
            .header("host", format!("acme.localhost:{}", server.port))
            .bearer_auth(token.trim())
    };
    let response = call(reqwest::Method::PUT, "/api/settings")
        .json(&json!({"webhook_url": format!("{receiver}/hook")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = call(reqwest::Method::POST, "/api/webhooks/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let orders: Value = call(reqwest::Method::GET, "/api/orders")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order = orders["orders"][0]["id"].as_str().unwrap().to_owned();

    // The caller is traced: its span is the parent of ours.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = call(reqwest::Method::POST, "/api/invoices")
        .header("traceparent", format!("00-{trace}-{caller_span}-01"))
        .json(&json!({ "order_id": order }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["x-request-id"],
        "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
        "the request id is the trace id"
    );

    // The webhook arrives in the same trace, under the outbound span.
    let delivered = hooks.until("the webhook", |h| !h.is_empty()).await;
    let headers = &delivered[0];
    let traceparent = headers["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[1], trace, "{traceparent}");
    let outbound_span_id = parts[2].to_owned();
    let baggage = headers["baggage"].to_str().unwrap();
    assert!(baggage.contains("tenant.slug=acme"), "{baggage}");
    let tenant_id = headers["x-tenant-id"].to_str().unwrap().to_owned();

    let in_trace = |spans: &[Span]| -> Vec<Span> {
        spans
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .cloned()
            .collect()
    };
    let exported = spans
        .until("the trace's whole tree", |all| {
            // The outbound span, and every span's parent (but the caller's).
            let spans = in_trace(all);
            let has = |id: &[u8]| spans.iter().any(|s| s.span_id == id);
            spans.iter().any(|s| hex(&s.span_id) == outbound_span_id)
                && spans
                    .iter()
                    .all(|s| hex(&s.parent_span_id) == caller_span || has(&s.parent_span_id))
        })
        .await;
    let trace_spans = in_trace(&exported);
    let names: Vec<&str> = trace_spans.iter().map(|s| s.name.as_str()).collect();
    println!("spans in the trace: {names:?}");
    // The request's tenant scope continues the caller's span.
    assert!(
        trace_spans
            .iter()
            .any(|s| s.name == "tenant" && hex(&s.parent_span_id) == caller_span),
        "no request span under the caller: {names:?}"
    );
    // The job ran in the same trace, and made the outbound call.
    let job = trace_spans
        .iter()
        .find(|s| s.name == "job" && attribute(s, "kind").as_deref() == Some("webhook.deliver"))
        .unwrap_or_else(|| panic!("no webhook job span in the trace: {names:?}"));
    let outbound = trace_spans
        .iter()
        .find(|s| hex(&s.span_id) == outbound_span_id)
        .unwrap();
    assert_eq!(outbound.name, "outbound");
    assert_eq!(
        outbound.parent_span_id, job.span_id,
        "the call is the job's"
    );
    // The job's tenant scope hangs off the request's span that enqueued it.
    let request_scope = trace_spans
        .iter()
        .find(|s| s.name == "tenant" && hex(&s.parent_span_id) == caller_span)
        .unwrap();
    let job_scope = trace_spans
        .iter()
        .find(|s| s.span_id == job.parent_span_id)
        .unwrap_or_else(|| panic!("the job's parent is not in the trace: {names:?}"));
    assert_eq!(job_scope.name, "tenant");
    assert_eq!(
        job_scope.parent_span_id, request_scope.span_id,
        "the job was enqueued in the request's scope"
    );
    // Every span of the trace names the tenant.
    assert!(trace_spans.len() >= 4, "{names:?}");
    for span in &trace_spans {
        assert_eq!(
            attribute(span, "tenant.id").as_deref(),
            Some(tenant_id.as_str()),
            "span {:?} lacks the tenant",
            span.name
        );
        assert_eq!(attribute(span, "tenant.slug").as_deref(), Some("acme"));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
