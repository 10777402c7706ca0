//! What a tenant reads about its invoices: the summary served through the
//! tenant cache (a hit until an invoice changes, per tenant), the CSV
//! export behind the `bulk_export` flag, and amounts and dates in the
//! tenant's own currency and time zone.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `tenantry_cache_lookups_total` for the invoice summary: (hits, misses).
async fn summary_lookups(s: &TestServer) -> (u64, u64) {
    lookups(&s.metrics().await)
}

/// (hits, misses) of the invoice summary in exposition `text`.
fn lookups(text: &str) -> (u64, u64) {
    let count = |result: &str| {
        let series = format!(
            "tenantry_cache_lookups_total{{cache=\"invoice_summary\",result=\"{result}\"}}"
        );
        common::sample(text, &series).unwrap_or_else(|| panic!("no {series} in /metrics")) as u64
    };
    (count("hit"), count("miss"))
}

async fn summary(s: &TestServer, slug: &str) -> Value {
    let (status, body) =
        status_and_json(s.as_tenant(slug, Method::GET, "/api/invoices/summary")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Marks one of `slug`'s open invoices paid straight in the database,
/// behind the cache's back.
async fn pay_behind_the_cache(s: &TestServer, slug: &str, invoice: &str) {
    let record = s.record(slug).await;
    let db = s.services.db.clone();
    let id: uuid::Uuid = invoice.parse().unwrap();
    tenantry_server::demo::context_for(&record)
        .unwrap()
        .scope(async move {
            db.tenant()
                .unwrap()
                .execute(
                    "UPDATE invoices SET status = 'paid', paid_at = created_at \
                     WHERE id = $1 AND tenant_id = tenantry_current_tenant()",
                    tenantry::params![id],
                )
                .await
                .unwrap()
        })
        .await;
}

async fn summary_flow(s: &TestServer) {
    let first = s.invoice_an_order("acme", "summary-1").await;
    let second = s.invoice_an_order("acme", "summary-2").await;

    let (hits, misses) = summary_lookups(s).await;
    let before = summary(s, "acme").await;
    assert_eq!(
        summary_lookups(s).await,
        (hits, misses + 1),
        "computed once"
    );
    assert_eq!(summary(s, "acme").await, before);
    assert_eq!(
        summary_lookups(s).await,
        (hits + 1, misses + 1),
        "then answered from the cache"
    );
    let open = before["open"]["count"].as_i64().unwrap();
    assert!(open >= 2, "{before}");

    // A change the app did not make is not seen while the entry lives: the
    // answer really is the cached one.
    pay_behind_the_cache(s, "acme", first["id"].as_str().unwrap()).await;
    assert_eq!(summary(s, "acme").await, before, "served from the cache");

    // A change through the API drops the entry: both payments count now.
    let (status, paid) = status_and_json(s.as_tenant(
        "acme",
        Method::POST,
        &format!("/api/invoices/{}/pay", second["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let after = summary(s, "acme").await;
    assert_eq!(
        after["open"]["count"].as_i64().unwrap(),
        open - 2,
        "{after}"
    );
    assert_eq!(
        after["paid"]["count"].as_i64().unwrap(),
        before["paid"]["count"].as_i64().unwrap() + 2
    );
    let amount = |v: &Value| v["amount_cents"].as_i64().unwrap();
    assert_eq!(
        amount(&after["open"]) + amount(&after["paid"]),
        amount(&before["open"]) + amount(&before["paid"]),
        "paying moves money between the totals"
    );

    // Creating an invoice drops it too.
    s.invoice_an_order("acme", "summary-3").await;
    assert_eq!(
        summary(s, "acme").await["open"]["count"].as_i64().unwrap(),
        open - 1
    );

    // Each tenant has its own entry: globex's summary counts globex's
    // invoices, none of the payments above.
    s.invoice_an_order("globex", "summary-globex").await;
    let globex = summary(s, "globex").await;
    let (_, listed) = status_and_json(s.as_tenant("globex", Method::GET, "/api/invoices")).await;
    let listed = listed["invoices"].as_array().unwrap();
    assert_eq!(globex["paid"]["count"], 0, "{globex}");
    assert_eq!(
        globex["open"]["count"].as_i64().unwrap(),
        listed.len() as i64,
        "{globex}"
    );
    let cents: i64 = listed
        .iter()
        .map(|i| i["amount_cents"].as_i64().unwrap())
        .sum();
    assert_eq!(globex["open"]["amount_cents"].as_i64().unwrap(), cents);
}

#[tokio::test]
async fn the_summary_is_cached_per_tenant_until_an_invoice_changes_on_sqlite() {
    summary_flow(&TestServer::sqlite().await).await;
}

#[tokio::test]
async fn the_summary_is_cached_per_tenant_until_an_invoice_changes_on_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    summary_flow(&s).await;
}

async fn read_export(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, String) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_export_follows_the_bulk_export_flag() {
    let s = TestServer::sqlite().await;
    s.invoice_an_order("globex", "export-1").await;
    let export = |slug: &'static str| {
        let request = s.as_tenant(slug, Method::GET, "/api/invoices/export");
        async move { read_export(request).await }
    };
    // Free plan: off by default.
    let (status, _, body) = export("globex").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("bulk_export"), "{body}");

    // An admin's override turns it on for globex alone.
    let (status, flag) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/flags/bulk_export")
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{flag}");
    let (status, content_type, csv) = export("globex").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert_eq!(content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let invoices = s.ids("globex", "/api/invoices", "invoices").await;
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "number,id,order_id,amount,currency,status,created_at,paid_at"
    );
    assert_eq!(rows.len() - 1, invoices.len(), "one row per invoice: {csv}");
    assert!(invoices.iter().all(|id| csv.contains(id.as_str())));
    let acme_invoices = s.ids("acme", "/api/invoices", "invoices").await;
    assert!(
        acme_invoices.iter().all(|id| !csv.contains(id.as_str())),
        "nothing of acme's"
    );

    // And off again.
    let (status, _) = status_and_json(
        s.as_tenant("globex", Method::PUT, "/api/flags/bulk_export")
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export("globex").await.0, StatusCode::FORBIDDEN);
    // Acme's plan (pro) has it.
    assert_eq!(export("acme").await.0, StatusCode::OK);
}

#[tokio::test]
async fn invoices_are_shown_in_the_tenant_s_currency_and_time_zone() {
    let s = TestServer::sqlite().await;
    let invoice = s.invoice_an_order("acme", "locale-1").await;
    assert_eq!(invoice["currency"], "USD", "the default: {invoice}");
    assert!(
        invoice["created_at_local"]
            .as_str()
            .unwrap()
            .ends_with("+00:00"),
        "{invoice}"
    );

    let (status, _) = status_and_json(
        s.as_tenant("acme", Method::PUT, "/api/settings")
            .json(&json!({"currency": "JPY", "timezone": "Asia/Tokyo"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = status_and_json(s.as_tenant(
        "acme",
        Method::GET,
        &format!("/api/invoices/{}", invoice["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(shown["currency"], "JPY");
    let cents = shown["amount_cents"].as_i64().unwrap();
    assert_eq!(shown["amount"], cents.to_string(), "yen have no minor unit");
    let local = shown["created_at_local"].as_str().unwrap();
    assert!(local.ends_with("+09:00"), "Tokyo time: {local}");
    assert_eq!(
        shown["created_at"], invoice["created_at"],
        "the raw value stays UTC"
    );

    // Globex keeps its own settings.
    let (_, other) = status_and_json(s.as_tenant("globex", Method::GET, "/api/invoices")).await;
    assert!(
        other["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["currency"] == "USD"),
        "{other}"
    );
    let summary = summary(&s, "acme").await;
    assert_eq!(summary["currency"], "JPY");
}
