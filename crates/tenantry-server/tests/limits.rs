//! Per-tenant limits through the real server: the rate limit (429 with
//! `Retry-After` and `RateLimit-*`), the concurrent-request budget (429),
//! the time budget (504), tenants' settings lowering their plan's limits,
//! refusals in `/metrics` — and, with Redis, one rate limit across two
//! server processes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{ServerProcess, TestServer, status_and_json, tenantry_cli};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A limits file: free tenants get `per_second` with `burst`; pro keeps its default.
fn limits_file(per_second: u32, burst: u32) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "tenantry-limits-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(
        &path,
        format!("[plans.free]\nper_second = {per_second}\nburst = {burst}\n"),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_rate_gets_429_with_headers_and_others_do_not() {
    let file = limits_file(1, 2);
    let s = TestServer::sqlite_with(|settings| {
        settings.limits = Some(file.display().to_string());
    })
    .await;
    // globex is on the free plan: 1/s with a burst of 2 = 3 at once.
    for remaining in ["2", "1", "0"] {
        let response = s
            .as_tenant("globex", Method::GET, "/api/orders")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
    }
    let refused = s
        .as_tenant("globex", Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_eq!(refused.headers()["ratelimit-reset"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "rate limit exceeded for this tenant");

    // acme (pro) is not touched by globex's limit.
    let (status, _) = status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);

    // A tenant's settings can lower its limits but not raise them.
    let (status, body) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/settings")
            .json(&json!({"rate_limit_per_second": 1, "rate_limit_burst": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = s
        .as_tenant("acme", Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["ratelimit-limit"], "2", "1 + a burst of 1");
    // The second may still fall in the pro rate's last interval; the third
    // is over 1/s with a burst of 1 in any case.
    let _ = s.as_tenant("acme", Method::GET, "/api/orders").send().await;
    let (status, _) = status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/settings")
            .json(&json!({"rate_limit_per_second": 1000000, "rate_limit_burst": 1000000})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "globex's limit is still the plan's: {body}"
    );

    // Refusals are counted per tenant and reason.
    let metrics = s.http.get(s.admin_url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let globex = s.record("globex").await.id;
    let acme = s.record("acme").await.id;
    assert!(
        text.contains(&format!(
            "tenant_limit_rejections_total{{tenant=\"{globex}\",reason=\"rate\"}} 2"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tenant_limit_rejections_total{{tenant=\"{acme}\",reason=\"rate\"}}"
        )),
        "{text}"
    );
    let _ = std::fs::remove_file(file);
}

/// An upload whose body is announced but not sent yet: returns once the
/// server has asked for the body (`100 Continue`), which it does only
/// after the limits admitted the request — so the request holds its slot.
async fn start_upload(s: &TestServer, slug: &str, path: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {slug}.localhost:{port}\r\nauthorization: Bearer {token}\r\n\
         content-type: text/plain\r\ncontent-length: {length}\r\nexpect: 100-continue\r\n\r\n",
        port = s.addr.port(),
        token = s.token(slug, "admin"),
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let interim = read_head(&mut stream).await;
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue, got {interim}"
    );
    stream
}

/// Reads one response head (through the blank line).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(
            n,
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrent_budget_is_per_tenant_and_slow_requests_get_504() {
    let s = TestServer::sqlite().await;
    let invoice = s.invoice_an_order("acme", "limits-test").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/invoices/{invoice}/attachments/slow.txt");
    let (status, body) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/settings")
            .json(&json!({"max_concurrent_requests": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // One upload in flight takes acme's only slot.
    let mut upload = start_upload(&s, "acme", &path, 5).await;
    let refused = s
        .as_tenant("acme", Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"],
        "too many concurrent requests for this tenant"
    );
    // globex's budget is its own.
    let (status, _) = status_and_json(s.as_tenant("globex", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);
    // Finishing the upload gives the slot back.
    upload.write_all(b"hello").await.unwrap();
    let done = read_head(&mut upload).await;
    assert!(done.starts_with("HTTP/1.1 201"), "{done}");
    let (status, _) = status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);

    // A request over the tenant's time budget is cut with a 504.
    let (status, body) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/settings")
            .json(&json!({"request_timeout_ms": 300})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut stalled = start_upload(&s, "acme", &path, 5).await;
    let head = read_head(&mut stalled).await;
    assert!(head.starts_with("HTTP/1.1 504"), "{head}");
    let text = s.metrics().await;
    let acme = s.record("acme").await.id;
    for reason in ["concurrency", "timeout"] {
        assert!(
            text.contains(&format!(
                "tenant_limit_rejections_total{{tenant=\"{acme}\",reason=\"{reason}\"}} 1"
            )),
            "{reason}: {text}"
        );
    }
    // Nothing was stored by the cut request.
    let (status, files) = status_and_json(s.as_tenant(
        "acme",
        Method::GET,
        &format!("/api/invoices/{invoice}/attachments"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(files["attachments"].as_array().unwrap().len(), 1, "{files}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_one_rate_limit_holds_across_two_processes() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("tenantry-rl-{}", uuid::Uuid::new_v4().simple()));
    let file = limits_file(1, 3);
    let limits = file.display().to_string();
    let a = ServerProcess::start(
        &dir,
        &["--demo", "--redis-url", &redis, "--limits", &limits],
    );
    let b = ServerProcess::start(&dir, &["--redis-url", &redis, "--limits", &limits]);
    let token = String::from_utf8(
        tenantry_cli(&dir, &["token", "--tenant", "globex", "--role", "member"]).stdout,
    )
    .unwrap();
    let http = tenantry_testkit::http();
    let started = std::time::Instant::now();
    let mut admitted = 0;
    let mut refused_by = [false, false];
    for i in 0..8 {
        let server = if i % 2 == 0 { &a } else { &b };
        let status = http
            .get(format!("http://{}/api/orders", server.addr))
            .header("host", format!("globex.localhost:{}", server.port))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap()
            .status();
        match status {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => refused_by[i % 2] = true,
            other => panic!("unexpected {other}"),
        }
    }
    // Each process alone would admit 4 (1 + a burst of 3): 8 in all. One
    // shared limit admits 4, plus one per second the loop took.
    let slack = started.elapsed().as_secs() as usize;
    assert!(
        (4..=4 + slack).contains(&admitted) && admitted < 8,
        "admitted {admitted} of 8 with {slack} s of slack"
    );
    assert_eq!(refused_by, [true, true], "both processes refused");
    let _ = std::fs::remove_file(file);
}
