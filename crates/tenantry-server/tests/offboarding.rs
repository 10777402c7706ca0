//! Offboarding through the real binary: a tenant that used every feature
//! (orders, invoices, attachments, e-mails, webhooks, the cache, settings,
//! flags, secrets, jobs) is deleted with `tenants delete`, and afterwards
//! `tenants residue` finds nothing, the deletion record counts what each
//! store held, no file under the data directory holds any of its content
//! (SQLite pages and logs, e-mails, objects), and its neighbour is
//! untouched — on each tier, on SQLite and PostgreSQL, local and S3.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{TestServer, configure_webhooks, status_and_json, tenantry_cli};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::context::{Plan, Tier};

/// Uses every feature as tenant `slug`; the strings that are its content
/// (to be searched for on disk afterwards).
async fn use_every_feature(s: &TestServer, slug: &str, hook: &str) -> Vec<String> {
    let marker = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..14]);
    configure_webhooks(s, slug, json!({ "webhook_url": hook })).await;
    let (status, _) = status_and_json(
        s.as_tenant(slug, Method::PUT, "/api/secrets/api_key")
            .json(&json!({ "value": format!("{marker}-secret") })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = status_and_json(
        s.as_tenant(slug, Method::PUT, "/api/flags/bulk_export")
            .json(&json!({ "enabled": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let customer = format!("{marker} customer");
    let (status, order) = status_and_json(
        s.as_tenant(slug, Method::POST, "/api/orders")
            .json(&json!({ "customer": customer, "total_cents": 4321 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (status, invoice) = status_and_json(
        s.as_tenant(slug, Method::POST, "/api/invoices")
            .json(&json!({ "order_id": order["id"] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    let attachment = format!("{marker} attachment body");
    let response = s
        .as_tenant(
            slug,
            Method::PUT,
            &format!(
                "/api/invoices/{}/attachments/contract.txt",
                invoice["id"].as_str().unwrap()
            ),
        )
        .header("content-type", "application/octet-stream")
        .body(attachment.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let (status, _) =
        status_and_json(s.as_tenant(slug, Method::GET, "/api/invoices/summary")).await;
    assert_eq!(status, StatusCode::OK);
    // The jobs ran: the invoice e-mail is written and the webhook delivered.
    let outbox = s.data_dir.join("outbox").join(slug);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mailed = !common::emails(&outbox).is_empty();
        let (status, log) =
            status_and_json(s.as_tenant(slug, Method::GET, "/api/webhooks/deliveries")).await;
        let delivered =
            status == StatusCode::OK && log["deliveries"].as_array().is_some_and(|d| !d.is_empty());
        if mailed && delivered {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs did not run: e-mail {mailed}, webhook {delivered} ({status} {log})"
        );
        // Polled gently: the tenant's rate limit counts these requests too.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    vec![customer, attachment]
}

/// The CLI against `s`'s data directory and database.
fn cli(s: &TestServer, extra: &[&str], args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    if let Some(pg) = &s.pg {
        all.extend(["--database-url", pg.url()]);
    }
    all.extend(extra);
    tenantry_cli(&s.data_dir, &all)
}

/// Every file under `dir` that contains one of `needles`, found by a
/// separate `grep` process: this process serves the SQLite files, and
/// opening and closing them here would drop its POSIX locks on them (one
/// close releases every lock the process holds on the file).
fn files_holding(dir: &std::path::Path, needles: &[String]) -> Vec<String> {
    let mut grep = std::process::Command::new("grep");
    grep.args(["-r", "-l", "-a", "-F"]);
    for needle in needles {
        grep.arg("-e").arg(needle);
    }
    let out = grep.arg(dir).output().expect("grep");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "grep failed: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn offboard(s: &TestServer, slug: &str, plan: Plan, tier: Tier, cli_extra: &[&str]) {
    println!(
        "offboarding a {tier} tenant on {plan} ({})",
        s.backend_name()
    );
    let (hook, _deliveries) = common::receiver().await;
    s.seed(slug, plan, tier).await;
    let record = s.record(slug).await;
    let markers = use_every_feature(s, slug, &format!("{hook}/hook")).await;
    let (_, neighbour_before) =
        status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;

    // Before: the residue scan finds the tenant everywhere.
    let before = cli(s, cli_extra, &["tenants", "residue", slug]);
    assert!(
        !before.status.success() && !before.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    let before = String::from_utf8_lossy(&before.stdout).to_string();
    for store in [
        "rows.orders",
        "rows.invoices",
        "objects",
        "emails",
        "control.tenant_secrets",
        "control.tenant_settings",
        "control.tenant_flags",
    ] {
        assert!(before.contains(store), "{store} missing from {before}");
    }
    if s.config.redis_url.is_some() {
        // Shared through Redis, so another process sees them too.
        for store in ["cache_entries", "rate_limiter"] {
            assert!(before.contains(store), "{store} missing from {before}");
        }
    }

    let deleted = cli(s, cli_extra, &["tenants", "delete", slug]);
    assert!(
        deleted.status.success(),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let record_json: Value = serde_json::from_slice(&deleted.stdout).unwrap();
    assert_eq!(record_json["slug"], slug);
    assert_eq!(record_json["requested_by"], "cli");
    let removed = &record_json["removed"];
    for store in [
        "objects",
        "secrets",
        "data_key",
        "emails",
        "tenant_settings",
        "tenant_flags",
    ] {
        assert!(
            removed[store].as_u64().unwrap_or(0) > 0,
            "{store}: {removed}"
        );
    }
    match tier {
        Tier::Shared => {
            assert!(removed["rows.orders"].as_u64().unwrap() > 0, "{removed}");
            assert!(removed["rows.invoices"].as_u64().unwrap() > 0, "{removed}");
        }
        tier => assert!(
            removed[format!("{tier}.rows")].as_u64().unwrap() > 0,
            "{removed}"
        ),
    }
    let (finished, clear) = (
        record_json["finished_at_ms"].as_i64().unwrap(),
        record_json["backups_clear_after_ms"].as_i64().unwrap(),
    );
    assert_eq!(
        clear - finished,
        30 * 24 * 3600 * 1000,
        "the default retention"
    );

    // After: nothing anywhere.
    let after = cli(s, cli_extra, &["tenants", "residue", slug]);
    assert!(
        after.status.success() && after.stdout.is_empty(),
        "residue: {}{}",
        String::from_utf8_lossy(&after.stdout),
        String::from_utf8_lossy(&after.stderr)
    );
    if s.pg.is_none() {
        assert_eq!(files_holding(&s.data_dir, &markers), Vec::<String>::new());
    }
    let shown = cli(s, cli_extra, &["tenants", "show", slug]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["state"], "deleted");
    assert_eq!(shown["id"], record.id.to_string());
    // The CLI is another process: without Redis this server sees the new
    // state when its cached record expires (a minute); drop it now.
    s.services.tenants.forget_all();
    let (status, _) = status_and_json(s.as_tenant(slug, Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The neighbour kept everything.
    let (_, neighbour_after) =
        status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(neighbour_before, neighbour_after);
    let again = cli(s, cli_extra, &["tenants", "delete", slug]);
    assert!(!again.status.success(), "already deleted");
}

fn allow_hooks(settings: &mut tenantry_server::settings::Settings) {
    settings.webhook_allow = Some("127.0.0.0/8".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_leaves_nothing_on_sqlite() {
    let s = TestServer::sqlite_with(allow_hooks).await;
    offboard(
        &s,
        "leaver-shared",
        tenantry_server::plans::PRO,
        Tier::Shared,
        &[],
    )
    .await;
    offboard(
        &s,
        "leaver-file",
        tenantry_server::plans::PRO,
        Tier::Database,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_leaves_nothing_on_postgres() {
    let Some(redis) = common::redis().await else {
        return;
    };
    let Some(s) = TestServer::postgres_with({
        let redis = redis.clone();
        move |settings| {
            allow_hooks(settings);
            settings.redis_url = Some(redis);
        }
    })
    .await
    else {
        return;
    };
    let extra = ["--redis-url", &redis];
    offboard(
        &s,
        "leaver-shared",
        tenantry_server::plans::PRO,
        Tier::Shared,
        &extra,
    )
    .await;
    offboard(
        &s,
        "leaver-schema",
        tenantry_server::plans::PRO,
        Tier::Schema,
        &extra,
    )
    .await;
    offboard(
        &s,
        "leaver-db",
        tenantry_server::plans::PRO,
        Tier::Database,
        &extra,
    )
    .await;
}

#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_leaves_nothing_on_s3() {
    let Some(endpoint) = tenantry_testkit::s3_endpoint() else {
        return;
    };
    let bucket = format!("off{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let s = {
        let (endpoint, bucket) = (endpoint.clone(), bucket.clone());
        TestServer::sqlite_with(move |settings| {
            allow_hooks(settings);
            settings.s3_endpoint = Some(endpoint);
            settings.s3_access_key_id = Some(tenantry_testkit::S3_ACCESS_KEY.into());
            settings.s3_secret_access_key = Some(tenantry_testkit::S3_SECRET_KEY.into());
            settings.storage_bucket = Some(bucket);
        })
        .await
    };
    let extra = [
        "--s3-endpoint",
        &endpoint,
        "--s3-access-key-id",
        tenantry_testkit::S3_ACCESS_KEY,
        "--s3-secret-access-key",
        tenantry_testkit::S3_SECRET_KEY,
        "--storage-bucket",
        &bucket,
    ];
    // A bucket of its own (enterprise), and the shared bucket's prefix.
    offboard(
        &s,
        "leaver-own",
        tenantry_server::plans::ENTERPRISE,
        Tier::Shared,
        &extra,
    )
    .await;
    offboard(
        &s,
        "leaver-prefix",
        tenantry_server::plans::PRO,
        Tier::Database,
        &extra,
    )
    .await;
    tenantry_testkit::s3_drop_buckets(&bucket).await;
}

/// With a grace period the tenant is suspended and its export is ready to
/// download (even while suspended: only through the signed URL); cancelled
/// within the grace period, it is active again and the export is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grace_period_keeps_the_export_downloadable_and_can_be_cancelled() {
    let s = TestServer::sqlite_with(allow_hooks).await;
    s.seed("pondering", tenantry_server::plans::PRO, Tier::Shared)
        .await;
    let customer = format!(
        "zq{} customer",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let (status, _) = status_and_json(
        s.as_tenant("pondering", Method::POST, "/api/orders")
            .json(&json!({ "customer": customer, "total_cents": 100 })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = ["--jwt-secret", common::SECRET];
    let out = cli(
        &s,
        &secret,
        &["tenants", "delete", "pondering", "--grace", "2h"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(started["state"], "suspended");
    s.services.tenants.forget_all();
    let (status, _) = status_and_json(s.as_tenant("pondering", Method::GET, "/api/orders")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "suspended during the grace period"
    );

    // The export: the tenant's orders as JSON Lines, no one else's.
    let url = started["export_url"].as_str().unwrap();
    let download = |url: &str| {
        s.http
            .get(format!("http://{}{url}", s.addr))
            .header("host", format!("pondering.localhost:{}", s.addr.port()))
            .send()
    };
    let response = download(url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let archive = response.bytes().await.unwrap();
    let mut orders = String::new();
    for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some("tables/orders.jsonl") {
            std::io::Read::read_to_string(&mut entry, &mut orders).unwrap();
        }
    }
    let rows: Vec<Value> = orders
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rows.iter().any(|r| r["customer"] == customer.as_str()),
        "{orders}"
    );
    let me = s.record("pondering").await.id.to_string();
    assert!(rows.iter().all(|r| r["tenant_id"] == me.as_str()));
    // A signed URL of another kind is still refused while suspended.
    let other = url.replace("exports/", "invoices/");
    assert_ne!(download(&other).await.unwrap().status(), StatusCode::OK);

    // Cancelled: active again, the export removed, nothing deleted.
    let id = started["workflow"].as_i64().unwrap().to_string();
    let out = cli(&s, &secret, &["workflows", "cancel", &id, "--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.services.tenants.forget_all();
    let (status, listed) =
        status_and_json(s.as_tenant("pondering", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed.to_string().contains(&customer));
    assert_eq!(download(url).await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// Offboarding through the library call, run by the server's own workers:
/// the tenant's series leave `/metrics` (folded into `other`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tenant_leaves_the_metrics() {
    let s = TestServer::sqlite().await;
    let record = s
        .seed("counted", tenantry_server::plans::PRO, Tier::Shared)
        .await;
    let (status, _) = status_and_json(s.as_tenant("counted", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);
    let id = record.id.to_string();
    assert!(s.metrics().await.contains(&id), "labelled while it is busy");
    let workflow =
        tenantry_server::lifecycle::offboard(&s.lifecycle, &record, Duration::ZERO, "test")
            .await
            .unwrap();
    let finished = tenantry_server::lifecycle::finished(&s.lifecycle, workflow)
        .await
        .unwrap();
    assert_eq!(finished.state, tenantry::workflow::WorkflowState::Succeeded);
    let metrics = s.metrics().await;
    assert!(!metrics.contains(&id), "{metrics}");
    assert!(
        metrics.contains("tenant=\"other\""),
        "its counts stay, as other"
    );
}
