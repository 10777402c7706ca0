//! `/metrics` through the real server: route templates (never raw paths),
//! tier and plan labels, per-tenant series, job gauges — and Prometheus's
//! own parser (`promtool check metrics`) accepts it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};

async fn promtool_accepts(text: &str) {
    let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        tenantry_testkit::require_service("promtool", "not installed (bash .ci/promtool.sh)");
        return;
    };
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool refused /metrics: {report}\n{text}"
    );
    assert!(!report.contains("error"), "{report}");
}

#[tokio::test]
async fn postgres_pools_are_measured() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    let (status, _) = status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);
    let text = s.metrics().await;
    assert!(text.contains("db_connection_budget 8"), "{text}");
    let open: u64 = text
        .lines()
        .filter(|l| l.starts_with("db_connections{pool=\"shared\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(
        (1..=8).contains(&open),
        "the shared pool holds connections: {text}"
    );
    assert!(text.contains("db_connection_waiters{pool=\"tenant_databases\"} 0"));
    promtool_accepts(&text).await;
}

#[tokio::test]
async fn metrics_name_routes_tiers_plans_and_tenants_and_parse_with_promtool() {
    let s = TestServer::sqlite().await;
    let ids = s.ids("acme", "/api/orders", "orders").await;
    let (status, _) =
        status_and_json(s.as_tenant("acme", Method::GET, &format!("/api/orders/{}", ids[0]))).await;
    assert_eq!(status, StatusCode::OK);
    // An invoice: its e-mail job runs, and is measured.
    s.invoice_an_order("acme", "metrics-1").await;
    let (status, _) = status_and_json(s.as_tenant(
        "globex",
        Method::GET,
        "/api/orders/00000000-0000-4000-8000-000000000000",
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let text = loop {
        let text = tenantry_testkit::http()
            .get(s.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(
            "job_run_seconds_count{lane=\"interactive\",kind=\"invoice.email\",outcome=\"done\"} 1",
        ) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the e-mail job was never measured: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let acme = s.record("acme").await;
    assert!(
        text.contains(&format!(
            "http_request_duration_seconds_count{{method=\"GET\",route=\"/api/orders/{{id}}\",status=\"200\",tier=\"shared\",plan=\"{}\"}} 1",
            acme.plan.as_str()
        )),
        "{text}"
    );
    assert!(
        !text.contains(&ids[0]),
        "a raw path (with an id) leaked into a label"
    );
    assert!(text.contains("status=\"404\""));
    assert!(text.contains(&format!(
        "tenant_http_requests_total{{tenant=\"{}\",class=\"2xx\"}}",
        acme.id
    )));
    assert!(text.contains("jobs_queued{lane=\"interactive\"}"));
    // Every request above looked its tenant up; repeated lookups hit the cache.
    let lookups = |result: &str| -> u64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "tenant_registry_lookups_total{{result=\"{result}\"}} "
                ))
            })
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(lookups("hit") >= 3, "{text}");
    assert!(lookups("hit") + lookups("miss") >= 6, "{text}");
    assert!(text.contains("job_wait_seconds_count{lane=\"interactive\",kind=\"invoice.email\"} 1"));
    assert!(text.contains(&format!(
        "tenant_job_attempts_total{{tenant=\"{}\",outcome=\"done\"}} 1",
        acme.id
    )));
    // Queue wait per tenant: one job waited, for some non-negative time.
    assert!(text.contains(&format!(
        "tenant_job_wait_seconds_count{{tenant=\"{}\"}} 1\n",
        acme.id
    )));
    assert!(text.contains(&format!(
        "tenant_job_wait_seconds_sum{{tenant=\"{}\"}} ",
        acme.id
    )));
    // Limit refusals are declared even before any.
    assert!(text.contains("# TYPE tenant_limit_rejections_total counter"));

    promtool_accepts(&text).await;
}

#[tokio::test]
async fn the_api_port_serves_no_operator_endpoint() {
    let s = TestServer::sqlite().await;
    // Metrics name the busiest tenants: not for anyone who can reach the API.
    for host in [None, Some("acme")] {
        let mut request = s.http.get(s.url("/metrics"));
        if let Some(slug) = host {
            request = request.header("host", format!("{slug}.localhost:{}", s.addr.port()));
        }
        let response = request.send().await.unwrap();
        assert_ne!(response.status(), StatusCode::OK);
        let body = response.text().await.unwrap();
        assert!(!body.contains("http_request_duration_seconds"), "{body}");
    }
    let admin = tenantry_testkit::http()
        .get(s.admin_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::OK);
    assert!(
        admin
            .text()
            .await
            .unwrap()
            .contains("http_request_duration_seconds")
    );
}

/// A lifecycle workflow whose step has run past its deadline is counted in
/// `tenant_lifecycle_stuck{kind,step}`; the shipped alert rule fires on it
/// after 10 minutes and not on a shorter blip (`promtool test rules`).
#[tokio::test]
async fn stuck_workflows_are_measured_and_alerted_on() {
    use tenantry::workflow::{NewWorkflow, StepState};
    // No workers here: none may pick the workflow up and move it along.
    let s = TestServer::sqlite_with(|settings| settings.workers = Some(0)).await;
    let acme = s.record("acme").await;
    let input = serde_json::json!({});
    let store = &s.services.workflow_store;
    let id = store
        .start(NewWorkflow {
            tenant: acme.id,
            kind: "onboarding",
            input: &input,
            requested_by: None,
            steps: &["tier", "data_key"],
        })
        .await
        .unwrap();
    let series = "tenant_lifecycle_stuck{kind=\"onboarding\",step=\"tier\"}";
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    store
        .begin_step(
            id,
            0,
            StepState::Running,
            past + std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(
        common::sample(&s.metrics().await, series),
        None,
        "not yet due"
    );
    store
        .begin_step(id, 0, StepState::Running, past)
        .await
        .unwrap();
    let text = s.metrics().await;
    assert_eq!(common::sample(&text, series), Some(1.0), "{text}");
    promtool_accepts(&text).await;

    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prometheus");
    let Ok(out) = std::process::Command::new("promtool")
        .args(["test", "rules", "tenantry.rules.test.yml"])
        .current_dir(rules)
        .output()
    else {
        tenantry_testkit::require_service("promtool", "not installed (bash .ci/promtool.sh)");
        return;
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
