//! Two server processes sharing a database and Redis: suspending a tenant
//! through one process (here the CLI) is seen by the others at once, not
//! after their 60 s record caches expire — and by a process without Redis
//! too, before the command returns (it waits for every live process to
//! acknowledge).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::{ServerProcess, tenantry_cli};
use reqwest::StatusCode;

#[tokio::test]
async fn a_suspension_reaches_every_process_without_waiting_for_the_ttl() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let (dir, a, b) = common::two_servers(&redis);
    // A process that does not listen to Redis: its cached record is
    // replaced by its acknowledgement round, which the command waits for.
    let stale = ServerProcess::start(&dir, &[]);

    let token = common::cli_token(&dir, "acme", "admin");
    let http = tenantry_testkit::http();
    let status = |server: &ServerProcess| {
        let request = server.request(&http, &token, "acme", reqwest::Method::GET, "/api/orders");
        async move { request.send().await.unwrap().status() }
    };
    for server in [&a, &b, &stale] {
        assert_eq!(
            status(server).await,
            StatusCode::OK,
            "acme is active and now cached everywhere"
        );
    }

    let suspend = tenantry_cli(&dir, &["tenants", "suspend", "acme", "--redis-url", &redis]);
    assert!(
        suspend.status.success(),
        "{}",
        String::from_utf8_lossy(&suspend.stderr)
    );
    for server in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while status(server).await != StatusCode::FORBIDDEN {
            assert!(
                Instant::now() < deadline,
                "process on port {} still serves a suspended tenant",
                server.port
            );
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(
        status(&stale).await,
        StatusCode::FORBIDDEN,
        "without --redis-url too, the suspension is served once the command returns"
    );

    let resume = tenantry_cli(&dir, &["tenants", "resume", "acme", "--redis-url", &redis]);
    assert!(resume.status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while status(&b).await != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the resumed tenant is still refused"
        );
        tokio::task::yield_now().await;
    }
    drop((a, b, stale));
    let _ = std::fs::remove_dir_all(dir);
}

/// Settings and flag changes through one process are seen by the other at
/// once: each caches a tenant's configuration for 60 s, and the change is
/// announced over Redis.
#[tokio::test]
async fn settings_and_flags_reach_every_process_without_waiting_for_the_ttl() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let (dir, a, b) = common::two_servers(&redis);
    let stale = ServerProcess::start(&dir, &[]);
    let token = common::cli_token(&dir, "acme", "admin");
    let http = tenantry_testkit::http();
    let call = |server: &ServerProcess, method: reqwest::Method, path: &str| {
        server.request(&http, &token, "acme", method, path)
    };
    let currency = |server: &ServerProcess| {
        let request = call(server, reqwest::Method::GET, "/api/settings");
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["currency"].as_str().unwrap().to_owned()
        }
    };
    let reminders_flag = |server: &ServerProcess| {
        common::flag_enabled(
            call(server, reqwest::Method::GET, "/api/flags"),
            "invoice_reminders",
        )
    };
    // Everyone caches the defaults (acme is not on the enterprise plan: no reminders).
    for server in [&a, &b, &stale] {
        assert_eq!(currency(server).await, "USD");
        assert!(!reminders_flag(server).await);
    }

    let saved = call(&a, reqwest::Method::PUT, "/api/settings")
        .json(
            &serde_json::json!({"email_from": null, "currency": "EUR", "timezone": "Europe/Paris",
                                  "webhook_url": null, "request_timeout_ms": 5000}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let flagged = call(&a, reqwest::Method::PUT, "/api/flags/invoice_reminders")
        .json(&serde_json::json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(flagged.status(), StatusCode::OK);

    let deadline = Instant::now() + Duration::from_secs(5);
    while currency(&b).await != "EUR" || !reminders_flag(&b).await {
        assert!(
            Instant::now() < deadline,
            "process b still serves the old configuration"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        currency(&stale).await,
        "USD",
        "without --redis-url the cache stands until its TTL"
    );
    assert!(!reminders_flag(&stale).await);
    drop((a, b, stale));
    let _ = std::fs::remove_dir_all(dir);
}

/// The invoice summary across processes: cached in Redis by one, answered
/// from there by the other, and dropped for both by a write through either.
#[tokio::test]
async fn an_invoice_written_through_one_process_is_in_the_next_summary_of_every_process() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let (dir, a, b) = common::two_servers(&redis);
    let token = common::cli_token(&dir, "acme", "admin");
    let http = tenantry_testkit::http();
    let call = |server: &ServerProcess, method: reqwest::Method, path: &str| {
        server.request(&http, &token, "acme", method, path)
    };
    let json = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.json::<serde_json::Value>().await.unwrap()
    };
    let summary_lookups = |server: &ServerProcess| {
        let http = http.clone();
        let admin = format!("http://{}/metrics", server.admin_addr());
        async move {
            let text = common::metrics_at(&http, &admin).await;
            let count = |result: &str| {
                let series = format!(
                    "tenantry_cache_lookups_total{{cache=\"invoice_summary\",result=\"{result}\"}}"
                );
                common::sample(&text, &series).unwrap() as u64
            };
            (count("hit"), count("miss"))
        }
    };
    let path = "/api/invoices/summary";
    let first = json(call(&a, reqwest::Method::GET, path)).await;
    assert_eq!(summary_lookups(&a).await, (0, 1), "a computed it");
    assert_eq!(json(call(&b, reqwest::Method::GET, path)).await, first);
    assert_eq!(
        summary_lookups(&b).await,
        (1, 0),
        "b found it in Redis without computing"
    );

    // An order and its invoice, written through b.
    let order = json(
        call(&b, reqwest::Method::POST, "/api/orders")
            .json(&serde_json::json!({"customer": "Two processes", "total_cents": 4200})),
    )
    .await;
    json(
        call(&b, reqwest::Method::POST, "/api/invoices")
            .json(&serde_json::json!({"order_id": order["id"]})),
    )
    .await;

    // The very next read through a sees it: no waiting for a TTL.
    let after = json(call(&a, reqwest::Method::GET, path)).await;
    assert_eq!(
        after["open"]["count"].as_i64().unwrap(),
        first["open"]["count"].as_i64().unwrap() + 1,
        "{after}"
    );
    assert_eq!(
        after["open"]["amount_cents"].as_i64().unwrap(),
        first["open"]["amount_cents"].as_i64().unwrap() + 4200
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}

/// A plan change run from the CLI while two servers serve the tenant: its
/// files move to a bucket of its own (the enterprise layout), every
/// process serves them from there and sees the new plan's defaults at once
/// (Redis), and nothing is left where they were.
#[tokio::test]
async fn a_plan_change_moves_files_and_reaches_every_process_at_once() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let (dir, a, b) = common::two_servers(&redis);
    let token = common::cli_token(&dir, "acme", "admin");
    let http = tenantry_testkit::http();
    let call = |server: &ServerProcess, method: reqwest::Method, path: &str| {
        server.request(&http, &token, "acme", method, path)
    };
    let invoices: serde_json::Value = call(&a, reqwest::Method::GET, "/api/invoices")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invoice = invoices["invoices"][0]["id"].as_str().unwrap().to_owned();
    let file = format!("/api/invoices/{invoice}/attachments/receipt.txt");
    let stored = call(&a, reqwest::Method::PUT, &file)
        .body("paid in full")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    let reminders = |server: &ServerProcess| {
        common::flag_enabled(
            call(server, reqwest::Method::GET, "/api/flags"),
            "invoice_reminders",
        )
    };
    for server in [&a, &b] {
        assert!(!reminders(server).await, "pro: no reminders, and cached");
    }
    let record = common::tenantry_cli(&dir, &["tenants", "show", "acme"]);
    let record: serde_json::Value = serde_json::from_slice(&record.stdout).unwrap();
    let id = uuid::Uuid::parse_str(record["id"].as_str().unwrap()).unwrap();
    let shared = dir
        .join("objects/tenantry/tenants")
        .join(id.simple().to_string());
    let own = dir.join(format!("objects/tenantry-{}", id.simple()));
    assert!(shared.exists() && !own.exists());
    let files_under = |path: &std::path::Path| -> usize {
        fn walk(path: &std::path::Path) -> usize {
            std::fs::read_dir(path).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        walk(path)
    };
    let before = files_under(&shared);
    assert!(
        before >= 1,
        "the receipt (and any of the demo's files) under the shared prefix"
    );

    let moved = common::tenantry_cli(
        &dir,
        &[
            "tenants",
            "set-plan",
            "acme",
            "enterprise",
            "--redis-url",
            &redis,
        ],
    );
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );

    for server in [&a, &b] {
        assert!(reminders(server).await, "enterprise defaults, seen at once");
        let read = call(server, reqwest::Method::GET, &file)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), StatusCode::OK);
        let meta: serde_json::Value = read.json().await.unwrap();
        let download = format!(
            "http://{}{}",
            server.addr,
            meta["download_url"].as_str().unwrap()
        );
        let bytes = http.get(download).send().await.unwrap();
        assert_eq!(bytes.status(), StatusCode::OK);
        assert_eq!(bytes.text().await.unwrap(), "paid in full");
    }
    assert_eq!(
        files_under(&own),
        before,
        "every file is in the tenant's own bucket"
    );
    assert_eq!(files_under(&shared), 0, "and nowhere else");
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}
