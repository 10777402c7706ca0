//! Invoice attachments through the real server: upload, list, download and
//! upload through signed URLs, delete — and every way of reaching another
//! tenant's files refused. On local storage (SQLite and PostgreSQL) and on
//! a real S3 server (SeaweedFS).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tenantry::context::Tier;

/// A fresh invoice of `slug`'s.
async fn invoice(s: &TestServer, slug: &str) -> String {
    let (_, order) = status_and_json(
        s.as_tenant(slug, Method::POST, "/api/orders")
            .json(&json!({"customer": "Files", "total_cents": 500})),
    )
    .await;
    let (status, invoice) = status_and_json(
        s.as_tenant(slug, Method::POST, "/api/invoices")
            .json(&json!({"order_id": order["id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    invoice["id"].as_str().unwrap().to_owned()
}

/// GETs or PUTs a signed URL with no token: a path on this server (local
/// storage) or an absolute S3 URL.
async fn fetch(
    s: &TestServer,
    method: Method,
    url: &str,
    body: Option<&str>,
) -> (StatusCode, String) {
    let target = if url.starts_with('/') {
        s.url(url)
    } else {
        url.to_owned()
    };
    let mut request = s.http.request(method, target);
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn attachments_flow(s: &TestServer, a: &str, b: &str) {
    println!("attachments on {} with {a} and {b}", s.backend_name());
    let inv = invoice(s, a).await;
    let base = format!("/api/invoices/{inv}/attachments");

    // Upload through the API.
    let (status, stored) = status_and_json(
        s.as_tenant(a, Method::PUT, &format!("{base}/scan.pdf"))
            .body("%PDF-scan of a"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["name"], "scan.pdf");
    assert_eq!(stored["size"], 14);

    // Download through the signed URL, no token.
    let url = stored["download_url"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(s, Method::GET, &url, None).await,
        (StatusCode::OK, "%PDF-scan of a".to_owned())
    );

    if url.starts_with('/') {
        // Served as a file to save, never sniffed into a page.
        let served = s.http.get(s.url(&url)).send().await.unwrap();
        let headers = served.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-disposition"], "attachment");
    }

    // The URL is bound to its tenant and its object.
    if url.starts_with('/') {
        let replayed = url.replacen(&format!("/t/{a}/"), &format!("/t/{b}/"), 1);
        assert_eq!(
            fetch(s, Method::GET, &replayed, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        let on_b_host = s
            .http
            .get(s.url(&url))
            .header("host", format!("{b}.localhost:{}", s.addr.port()))
            .send()
            .await
            .unwrap()
            .status();
        // Two tenants claimed without a token: refused like any anonymous
        // request (a 403 would tell that b exists).
        assert_eq!(on_b_host, StatusCode::UNAUTHORIZED, "two tenants claimed");
        let other_file = url.replacen("scan.pdf", "other.pdf", 1);
        assert_eq!(
            fetch(s, Method::GET, &other_file, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        let unsigned = url.split('?').next().unwrap();
        assert_eq!(
            fetch(s, Method::GET, unsigned, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        // A bearer token is not a signature: raw objects stay behind URLs.
        let with_token = s
            .as_tenant(
                a,
                Method::GET,
                unsigned.trim_start_matches(&format!("/t/{a}")),
            )
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(with_token, StatusCode::FORBIDDEN);
    } else {
        let forged = url.replacen("scan.pdf", "other.pdf", 1);
        assert_eq!(
            fetch(s, Method::GET, &forged, None).await.0,
            StatusCode::FORBIDDEN
        );
    }

    // Listing and one file's description.
    let (_, listed) = status_and_json(s.as_tenant(a, Method::GET, &base)).await;
    let names: Vec<&str> = listed["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["scan.pdf"]);
    let (status, one) =
        status_and_json(s.as_tenant(a, Method::GET, &format!("{base}/scan.pdf"))).await;
    assert_eq!((status, one["size"].clone()), (StatusCode::OK, json!(14)));

    // Upload through a signed URL, no token, of the size it was made for.
    let (status, upload) = status_and_json(
        s.as_tenant(a, Method::POST, &format!("{base}/photo.jpg/upload-url"))
            .json(&json!({"size": 10})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{upload}");
    assert_eq!(upload["method"], "PUT");
    let put_url = upload["url"].as_str().unwrap();
    // Any other size is refused (by S3 itself, or by this server), and
    // nothing is stored.
    for other in ["jpeg bytes, and then a great deal more", "jpeg"] {
        let (status, answer) = fetch(s, Method::PUT, put_url, Some(other)).await;
        assert!(
            status.is_client_error(),
            "a {}-byte body through a 10-byte URL: {status} {answer}",
            other.len()
        );
    }
    let (status, _) =
        status_and_json(s.as_tenant(a, Method::GET, &format!("{base}/photo.jpg"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
    assert_eq!(
        fetch(s, Method::PUT, put_url, Some("jpeg bytes")).await.0,
        StatusCode::OK
    );
    let (status, photo) =
        status_and_json(s.as_tenant(a, Method::GET, &format!("{base}/photo.jpg"))).await;
    assert_eq!((status, photo["size"].clone()), (StatusCode::OK, json!(10)));
    // An upload URL does not download.
    assert_ne!(fetch(s, Method::GET, put_url, None).await.0, StatusCode::OK);

    // Another tenant sees none of it, through any route.
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::GET, format!("{base}/scan.pdf")),
        (Method::PUT, format!("{base}/scan.pdf")),
        (Method::DELETE, format!("{base}/scan.pdf")),
        (Method::POST, format!("{base}/scan.pdf/upload-url")),
    ] {
        let status = s
            .as_tenant(b, method.clone(), &path)
            .body("overwrite")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{b}: {method} {path}");
    }
    assert_eq!(
        fetch(s, Method::GET, &url, None).await.1,
        "%PDF-scan of a",
        "untouched by {b}"
    );

    // Bad names are a clear 400, and nothing is written.
    for name in ["..%2Fescape", "a%2Fb", "bell%07", "back%5Cslash"] {
        let (status, body) = status_and_json(
            s.as_tenant(a, Method::PUT, &format!("{base}/{name}"))
                .body("x"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (_, listed) = status_and_json(s.as_tenant(a, Method::GET, &base)).await;
    assert_eq!(listed["attachments"].as_array().unwrap().len(), 2);

    // Delete, then gone.
    let status = s
        .as_tenant(a, Method::DELETE, &format!("{base}/scan.pdf"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        status_and_json(s.as_tenant(a, Method::GET, &format!("{base}/scan.pdf"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let status = s
        .as_tenant(a, Method::DELETE, &format!("{base}/scan.pdf"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn attachments_on_local_storage_with_sqlite() {
    let s = TestServer::sqlite().await;
    s.seed(
        "umbrella",
        tenantry_server::plans::ENTERPRISE,
        Tier::Database,
    )
    .await;
    attachments_flow(&s, "acme", "globex").await;
    // Enterprise tenants have a bucket of their own.
    attachments_flow(&s, "umbrella", "acme").await;
    attachments_flow(&s, "acme", "umbrella").await;
}

#[tokio::test]
async fn attachments_on_local_storage_with_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    s.seed("initech", tenantry_server::plans::PRO, Tier::Schema)
        .await;
    attachments_flow(&s, "initech", "acme").await;
}

#[tokio::test]
async fn attachments_on_s3() {
    let Some(endpoint) = tenantry_testkit::s3_endpoint() else {
        return;
    };
    let bucket = format!("ts{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let s = TestServer::sqlite_with(|settings| {
        settings.s3_endpoint = Some(endpoint);
        settings.s3_access_key_id = Some(tenantry_testkit::S3_ACCESS_KEY.into());
        settings.s3_secret_access_key = Some(tenantry_testkit::S3_SECRET_KEY.into());
        settings.storage_bucket = Some(bucket.clone());
    })
    .await;
    s.seed("umbrella", tenantry_server::plans::ENTERPRISE, Tier::Shared)
        .await;
    attachments_flow(&s, "acme", "globex").await;
    attachments_flow(&s, "umbrella", "acme").await;
    let (_, listed): (_, Value) =
        status_and_json(s.as_tenant("acme", Method::GET, "/api/invoices")).await;
    assert!(!listed["invoices"].as_array().unwrap().is_empty());
    tenantry_testkit::s3_drop_buckets(&bucket).await;
}

#[tokio::test]
async fn an_invoice_holds_a_bounded_number_of_files() {
    let s = TestServer::sqlite().await;
    let inv = invoice(&s, "acme").await;
    let base = format!("/api/invoices/{inv}/attachments");
    let put = |name: String| {
        s.as_tenant("acme", Method::PUT, &format!("{base}/{name}"))
            .body("x")
    };
    for i in 0..20 {
        let (status, body) = status_and_json(put(format!("f{i}.txt"))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = status_and_json(put("f20.txt".into())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = status_and_json(
        s.as_tenant("acme", Method::POST, &format!("{base}/f20.txt/upload-url"))
            .json(&json!({"size": 1})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no upload URL past the bound either"
    );
    let (status, _) = status_and_json(put("f3.txt".into())).await;
    assert_eq!(status, StatusCode::CREATED, "replacing a file is fine");
    let (_, listed) = status_and_json(s.as_tenant("acme", Method::GET, &base)).await;
    assert_eq!(listed["attachments"].as_array().unwrap().len(), 20);
}

/// A tenant's files are held to its storage quota, through the API and
/// through upload URLs; another tenant's room is its own; deleting makes
/// room again.
#[tokio::test]
async fn a_tenant_s_files_are_held_to_its_storage_quota() {
    let s = TestServer::sqlite_with(|settings| settings.storage_quota_mb = Some(1)).await;
    let base = format!("/api/invoices/{}/attachments", invoice(&s, "acme").await);
    let kib = |n: usize| "x".repeat(n * 1024);
    let put = |name: &str, body: String| {
        s.as_tenant("acme", Method::PUT, &format!("{base}/{name}"))
            .body(body)
    };
    let (status, body) = status_and_json(put("a.bin", kib(600))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = status_and_json(put("b.bin", kib(600))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"].as_str().unwrap().contains("quota"), "{body}");
    let (status, body) = status_and_json(
        s.as_tenant("acme", Method::POST, &format!("{base}/b.bin/upload-url"))
            .json(&json!({"size": 600 * 1024})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no upload URL past the quota: {body}"
    );
    // Replacing a file counts its new size only.
    let (status, body) = status_and_json(put("a.bin", kib(900))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Globex's quota is its own.
    let globex_base = format!("/api/invoices/{}/attachments", invoice(&s, "globex").await);
    let (status, body) = status_and_json(
        s.as_tenant("globex", Method::PUT, &format!("{globex_base}/g.bin"))
            .body(kib(600)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Deleting makes room.
    let (status, _) =
        status_and_json(s.as_tenant("acme", Method::DELETE, &format!("{base}/a.bin"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = status_and_json(put("b.bin", kib(600))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
