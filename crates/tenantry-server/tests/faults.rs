//! Faults under load: a services goes away while tenants are being served,
//! and comes back. What users see is checked (clear 503s while it is down,
//! never another tenant's rows, full service after), and that nothing is
//! lost (every job's e-mail arrives, once). The figures printed here are
//! the ones in `bench/RESULTS.md`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tenantry_testkit::pg_cluster::PgCluster;

/// Every answer of the load, in order: when, which tenant, what status.
#[derive(Default)]
struct Observed {
    answers: Vec<(Instant, &'static str, u16)>,
    /// Rows of another tenant in a 200 (must stay empty).
    leaks: Vec<String>,
}

/// Clients listing orders as `acme` and `globex` until `stop` is set.
fn start_load(s: &Arc<TestServer>, stop: &Arc<AtomicBool>, seen: &Arc<Mutex<Observed>>) {
    for (i, slug) in ["acme", "globex", "acme", "globex"].into_iter().enumerate() {
        let (s, stop, seen) = (s.clone(), stop.clone(), seen.clone());
        tokio::spawn(async move {
            let token = s.token(slug, "member");
            while !stop.load(Ordering::Relaxed) {
                let response = s
                    .request(slug, &token, Method::GET, "/api/orders?limit=100")
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let Ok(response) = response else { continue };
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.answers.push((Instant::now(), slug, status));
                if status == 200 {
                    // Demo customers carry their tenant's slug: "Ada (acme)".
                    for order in body["orders"].as_array().into_iter().flatten() {
                        let customer = order["customer"].as_str().unwrap_or_default();
                        if !customer.ends_with(&format!("({slug})")) {
                            seen.leaks
                                .push(format!("client {i} as {slug} saw {customer}"));
                        }
                    }
                }
            }
        });
    }
}

impl Observed {
    /// The statuses answered after `from` and before `to`, of `slug`'s
    /// requests only when one is given.
    fn between(&self, from: Instant, to: Instant, slug: Option<&str>) -> Vec<u16> {
        self.answers
            .iter()
            .filter(|(at, of, _)| *at > from && *at < to && slug.is_none_or(|s| s == *of))
            .map(|(_, _, status)| *status)
            .collect()
    }
}

/// Stops the load and takes what it saw, checking it never saw another
/// tenant's rows. Taken out of the lock: the load's last requests still
/// report in, and a guard held across later waits would block them.
fn stop_load(stop: &AtomicBool, seen: &Mutex<Observed>) -> Observed {
    stop.store(true, Ordering::Relaxed);
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(seen.leaks.is_empty(), "cross-tenant rows: {:?}", seen.leaks);
    seen
}

/// Waits until `seen` has `n` answers after `since` that pass `check`;
/// when the `n`th came.
async fn answers(
    seen: &Mutex<Observed>,
    since: Instant,
    n: usize,
    check: impl Fn(u16) -> bool,
    what: &str,
) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some((at, _, _)) = seen
            .lock()
            .unwrap()
            .answers
            .iter()
            .filter(|(at, _, status)| *at > since && check(*status))
            .nth(n - 1)
        {
            return *at;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The first answer after `since` that passes `check`.
async fn first_answer(
    seen: &Mutex<Observed>,
    since: Instant,
    check: impl Fn(u16) -> bool,
) -> Instant {
    answers(seen, since, 1, check, "the first such answer").await
}

fn outbox_subjects(dir: &Path) -> Vec<String> {
    common::emails(dir)
        .into_iter()
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        })
        .collect()
}

/// A new order of `slug`'s, invoiced, retrying while the database is
/// coming back; the invoice's number.
async fn invoice(s: &TestServer, slug: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut order: Option<Value> = None;
    loop {
        if order.is_none() {
            let (status, created) = status_and_json(
                s.as_tenant(slug, Method::POST, "/api/orders")
                    .timeout(Duration::from_secs(30))
                    .json(&serde_json::json!({"customer": format!("Fault ({slug})"), "total_cents": 100})),
            )
            .await;
            match status {
                StatusCode::CREATED => order = Some(created["id"].clone()),
                StatusCode::SERVICE_UNAVAILABLE => {}
                other => panic!("{other}: {created}"),
            }
        }
        if let Some(id) = &order {
            let (status, created) = status_and_json(
                s.as_tenant(slug, Method::POST, "/api/invoices")
                    .timeout(Duration::from_secs(30))
                    .json(&serde_json::json!({ "order_id": id })),
            )
            .await;
            match status {
                StatusCode::CREATED => return created["number"].as_i64().unwrap(),
                StatusCode::SERVICE_UNAVAILABLE => {}
                other => panic!("{other}: {created}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "could not invoice after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load() {
    let Some(cluster) = PgCluster::start(None) else {
        return;
    };
    let cluster = Arc::new(cluster);
    let outbox =
        std::env::temp_dir().join(format!("tenantry-faults-{}", uuid::Uuid::new_v4().simple()));
    let url = cluster.url("tenantry", "");
    let dir = outbox.clone();
    let s = Arc::new(
        TestServer::sqlite_with(move |settings| {
            settings.database_url = Some(url);
            settings.outbox_dir = Some(dir);
            // The load runs far above the free plan's rate: the fault is
            // what is measured here, not the limits.
            settings.limits = Some("off".into());
        })
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Observed::default()));
    let began = Instant::now();
    start_load(&s, &stop, &seen);
    first_answer(&seen, began, |status| status == 200).await;
    let mut numbers = Vec::new();
    for _ in 0..2 {
        numbers.push(invoice(&s, "acme").await);
    }

    // Down: every answer is a clear 503 (or a 200 that was already on its
    // way), never a 500.
    let stopping = Instant::now();
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop()).await.unwrap();
    let down = Instant::now();
    first_answer(&seen, down, |status| status == 503).await;
    // Held down for twenty refused requests: long enough for the pooled
    // connections and the job workers to have hit the outage.
    answers(
        &seen,
        down,
        20,
        |status| status == 503,
        "the outage to show",
    )
    .await;

    // Back: how long until tenants are served again.
    let c = cluster.clone();
    let starting = Instant::now();
    tokio::task::spawn_blocking(move || c.start_again())
        .await
        .unwrap();
    let up = Instant::now();
    let served = first_answer(&seen, up, |status| status == 200).await;
    let recovery = served.duration_since(up);
    for _ in 0..2 {
        numbers.push(invoice(&s, "acme").await);
    }
    // A stretch of load after the recovery, then stop.
    let settled = Instant::now();
    answers(&seen, settled, 50, |_| true, "load after the recovery").await;
    let seen = stop_load(&stop, &seen);
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, _, status) in &seen.answers {
        *by_status.entry(*status).or_default() += 1;
    }
    assert!(
        by_status.keys().all(|status| [200, 503].contains(status)),
        "only 200 and 503: {by_status:?}"
    );
    let after: Vec<u16> = seen
        .answers
        .iter()
        .filter(|(at, _, _)| *at > settled)
        .map(|(_, _, status)| *status)
        .collect();
    assert!(
        after.iter().all(|s| *s == 200),
        "full service after recovery: {after:?}"
    );

    // Every invoice's e-mail, once: jobs interrupted by the outage ran again
    // and replaced their own message.
    let acme = outbox.join("acme");
    let expected: Vec<String> = numbers
        .iter()
        .map(|n| format!("Invoice #{n} issued"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let subjects = loop {
        let subjects = outbox_subjects(&acme);
        if expected.iter().all(|e| subjects.contains(e)) {
            break subjects;
        }
        assert!(Instant::now() < deadline, "e-mails missing: {subjects:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for e in &expected {
        assert_eq!(
            subjects.iter().filter(|s| *s == e).count(),
            1,
            "{e} sent once: {subjects:?}"
        );
    }
    let refused = seen
        .answers
        .iter()
        .filter(|(at, _, status)| *at > stopping && *at < served && *status == 503)
        .count();
    eprintln!(
        "FAULT postgres-restart: answers {by_status:?}; {refused} refused (503) while down; \
         down {:?}; restart took {:?}; first 200 {recovery:?} after it was ready \
         ({:?} after the restart began); e-mails {}/{} once each",
        starting.duration_since(down),
        up.duration_since(starting),
        served.duration_since(starting),
        expected.len(),
        expected.len(),
    );
    let _ = std::fs::remove_dir_all(&outbox);
}

/// A `redis-server` of the test's own on a fixed port, killed and started
/// again at will (the machine's shared one must not be).
struct OwnRedis {
    child: Option<std::process::Child>,
    port: u16,
}

impl OwnRedis {
    fn start() -> Option<OwnRedis> {
        let mut redis = OwnRedis {
            child: None,
            port: tenantry_testkit::pg_cluster::free_port(),
        };
        match redis.spawn() {
            Ok(()) => Some(redis),
            Err(e) => {
                tenantry_testkit::require_service("redis-server", &e.to_string());
                None
            }
        }
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::yield_now();
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let Some(mut redis) = OwnRedis::start() else {
        return;
    };
    let (db, url) = (pg.url().to_owned(), redis.url());
    let settings = |db: String, url: String| {
        move |s: &mut tenantry_server::settings::Settings| {
            s.database_url = Some(db);
            s.redis_url = Some(url);
        }
    };
    // Two processes' worth of server on one database and one Redis.
    let a = Arc::new(TestServer::sqlite_with(settings(db.clone(), url.clone())).await);
    let b = TestServer::sqlite_with(settings(db, url)).await;
    let status = |s: &TestServer, slug: &'static str| {
        let request = s.as_tenant(slug, Method::GET, "/api/orders");
        async move { request.send().await.unwrap().status() }
    };
    // B caches globex as active.
    assert_eq!(status(&b, "globex").await, StatusCode::OK);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Observed::default()));
    start_load(&a, &stop, &seen);
    first_answer(&seen, Instant::now(), |s| s == 200).await;

    // Redis gone: tenants are served all the same (rates are admitted and
    // counted per process); nothing but 200.
    redis.kill();
    let down = Instant::now();
    answers(&seen, down, 200, |_| true, "load while Redis was down").await;
    redis.spawn().unwrap();
    let up = Instant::now();

    // Back: a change made in A reaches B's cache again, long before B's
    // 60 s record TTL would have refreshed it.
    let globex = a.record("globex").await;
    a.services
        .tenants
        .set_state(globex.id, tenantry::registry::TenantState::Suspended)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&b, "globex").await != StatusCode::FORBIDDEN {
        assert!(
            Instant::now() < deadline,
            "B never saw the suspension: its subscription did not come back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen_by_b = up.elapsed();
    let seen = stop_load(&stop, &seen);
    let during = seen.between(down, up, Some("acme"));
    assert!(
        during.iter().all(|s| *s == 200),
        "acme was served while Redis was down: {during:?}"
    );
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, _, s) in &seen.answers {
        *by_status.entry(*s).or_default() += 1;
    }
    eprintln!(
        "FAULT redis-restart: answers {by_status:?}; {} while Redis was down, all 200 for acme; \
         a suspension made after the restart reached the other server {seen_by_b:?} after Redis was back",
        during.len()
    );
}

fn socket_of(url: &str) -> std::net::SocketAddr {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    std::net::ToSocketAddrs::to_socket_addrs(authority.trim_end_matches('/'))
        .unwrap()
        .next()
        .unwrap()
}

/// Waits until `jobs` (a `GET /api/jobs` of the tenant) shows nothing
/// queued or running.
async fn queue_drained(jobs: impl Fn() -> reqwest::RequestBuilder) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, view) = status_and_json(jobs()).await;
        let busy: i64 = view["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["queued"].as_i64().unwrap() + l["running"].as_i64().unwrap())
            .sum();
        if busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the queue never emptied: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Retries `request` until it answers `want` (the service is back) or 30 s
/// pass; how long that took.
async fn until_status(
    what: &str,
    want: StatusCode,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = status_and_json(request()).await;
        if status == want {
            return start.elapsed();
        }
        assert!(
            status == StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {status} {body} while coming back"
        );
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// S3 (SeaweedFS) and the master key's OpenBao both cut off mid-load:
/// files and secrets answer a clear 503 naming what is unavailable, every
/// other request is served as before, and both work again once the
/// services are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_storage_and_the_key_service_cut_off_under_load() {
    let (Some(s3), Some(bao)) = (
        tenantry_testkit::s3_endpoint(),
        tenantry_testkit::openbao_addr(),
    ) else {
        return;
    };
    let s3_link = tenantry_testkit::proxy::TcpProxy::start(socket_of(&s3)).await;
    let bao_link = tenantry_testkit::proxy::TcpProxy::start(socket_of(&bao)).await;
    let bucket = format!("tf{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let (s3_url, bao_url, key_name) = (
        s3_link.url(),
        bao_link.url(),
        format!("faults-{}", uuid::Uuid::new_v4().simple()),
    );
    let bucket_name = bucket.clone();
    let s = Arc::new(
        TestServer::sqlite_with(move |settings| {
            settings.s3_endpoint = Some(s3_url);
            settings.s3_access_key_id = Some(tenantry_testkit::S3_ACCESS_KEY.into());
            settings.s3_secret_access_key = Some(tenantry_testkit::S3_SECRET_KEY.into());
            settings.storage_bucket = Some(bucket_name);
            settings.openbao_addr = Some(bao_url);
            settings.openbao_token = Some(tenantry_testkit::OPENBAO_TOKEN.into());
            settings.openbao_key = Some(key_name);
            settings.limits = Some("off".into());
        })
        .await,
    );
    s.seed(
        "initech",
        tenantry_server::plans::PRO,
        tenantry::context::Tier::Shared,
    )
    .await;
    let invoice = s.ids("acme", "/api/invoices", "invoices").await[0].clone();
    let file = format!("/api/invoices/{invoice}/attachments/receipt.txt");
    let put_file = || {
        s.as_tenant("acme", Method::PUT, &file)
            .header("content-type", "application/octet-stream")
            .body("paid in full")
    };
    let (status, body) = status_and_json(put_file()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let put_secret = |slug: &str| {
        s.as_tenant(slug, Method::PUT, "/api/secrets/smtp_password")
            .json(&serde_json::json!({"value": "correct horse battery staple"}))
    };
    let (status, body) = status_and_json(put_secret("acme")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Observed::default()));
    start_load(&s, &stop, &seen);
    first_answer(&seen, Instant::now(), |s| s == 200).await;

    s3_link.cut();
    bao_link.cut();
    let down = Instant::now();
    for (what, request) in [
        ("file upload", put_file()),
        ("file read", s.as_tenant("acme", Method::GET, &file)),
        (
            "file list",
            s.as_tenant(
                "acme",
                Method::GET,
                &format!("/api/invoices/{invoice}/attachments"),
            ),
        ),
        // initech has no data key yet: one must be made under the master key.
        ("first secret", put_secret("initech")),
    ] {
        let started = Instant::now();
        let (status, body) = status_and_json(request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("file storage") || message.contains("secret storage"),
            "{what}: {message}"
        );
        eprintln!(
            "FAULT storage-cut: {what} answered 503 in {:?}",
            started.elapsed()
        );
    }
    // Everything else is served as before.
    answers(
        &seen,
        down,
        100,
        |_| true,
        "load while S3 and OpenBao were cut",
    )
    .await;
    let up = Instant::now();
    s3_link.restore().await;
    bao_link.restore().await;
    let files_back = until_status("file read", StatusCode::OK, || {
        s.as_tenant("acme", Method::GET, &file)
    })
    .await;
    let secrets_back = until_status("first secret", StatusCode::OK, || put_secret("initech")).await;
    let seen = stop_load(&stop, &seen);
    let during = seen.between(down, up, None);
    assert!(
        during.iter().all(|s| *s == 200),
        "orders were served while S3 and OpenBao were cut: {during:?}"
    );
    eprintln!(
        "FAULT storage-cut: {} order listings during the cut, all 200; files back {files_back:?} \
         and secrets back {secrets_back:?} after the services returned",
        during.len()
    );
    tenantry_testkit::s3_drop_buckets(&bucket).await;
}

/// A tenant's webhook endpoint unreachable when events happen: attempts
/// fail and are logged, retried with backoff, and the event is delivered
/// once the endpoint is back — once: the job completes and nothing more is
/// sent (receivers dedupe by `tenantry-delivery`, stable across attempts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_endpoint_down_gets_its_event_once_when_back() {
    let (base, mut received) = common::receiver().await;
    let link = tenantry_testkit::proxy::TcpProxy::start(socket_of(&base)).await;
    let s = Arc::new(
        TestServer::sqlite_with(|settings| {
            settings.webhook_allow = Some("127.0.0.0/8".into());
            settings.limits = Some("off".into());
        })
        .await,
    );
    common::configure_webhooks(
        &s,
        "acme",
        serde_json::json!({"webhook_url": format!("{}/hook", link.url())}),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Observed::default()));
    start_load(&s, &stop, &seen);
    first_answer(&seen, Instant::now(), |s| s == 200).await;
    link.cut();
    let down = Instant::now();
    let number = invoice(&s, "acme").await;
    // Two failed attempts, logged for the tenant.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let failed = common::deliveries(&s, "acme")
            .await
            .iter()
            .filter(|d| d["status_code"].is_null() && d["error"].is_string())
            .count();
        if failed >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no retried attempts logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    link.restore().await;
    let up = Instant::now();
    let (headers, body) = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("the event arrived once the endpoint was back")
        .unwrap();
    let arrived = up.elapsed();
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["event"], "invoice.created");
    assert_eq!(event["data"]["number"], number);
    let delivery = headers["tenantry-delivery"].to_str().unwrap().to_owned();
    // Done: the queue holds nothing more of acme's, so nothing more is sent.
    queue_drained(|| s.as_tenant("acme", Method::GET, "/api/jobs")).await;
    let mut again = 0;
    while let Ok((headers, _)) = received.try_recv() {
        if headers["tenantry-delivery"] == delivery.as_str() {
            again += 1;
        }
    }
    assert_eq!(again, 0, "the event was delivered more than once");
    let log = common::deliveries(&s, "acme").await;
    let failed = log.iter().filter(|d| d["status_code"].is_null()).count();
    let seen = stop_load(&stop, &seen);
    let during = seen.between(down, Instant::now(), None);
    assert!(
        during.iter().all(|s| *s == 200),
        "tenants were served while the endpoint was down: {during:?}"
    );
    eprintln!(
        "FAULT webhook-endpoint-down: {failed} failed attempts over {:?}, delivered once {arrived:?} \
         after the endpoint came back; {} order listings meanwhile, all 200",
        up - down,
        during.len()
    );
}

/// A webhook endpoint that records every request and holds it open (never
/// answering) until released; requests after that are answered 200.
struct HoldingEndpoint {
    url: String,
    release: Arc<AtomicBool>,
    /// `(tenantry-delivery, answered)` per request, in arrival order.
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl HoldingEndpoint {
    async fn start() -> HoldingEndpoint {
        let release = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let (r, s) = (release.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let (release, seen) = (r.clone(), s.clone());
                async move {
                    let delivery = headers["tenantry-delivery"].to_str().unwrap().to_owned();
                    let index = {
                        let mut seen = seen.lock().unwrap();
                        seen.push((delivery, false));
                        seen.len() - 1
                    };
                    if !release.load(Ordering::SeqCst) {
                        // In flight until the connection is gone: never
                        // answered, whatever happens later.
                        std::future::pending::<()>().await;
                    }
                    seen.lock().unwrap()[index].1 = true;
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        HoldingEndpoint { url, release, seen }
    }

    /// Requests from now on are answered at once.
    fn release(&self) {
        self.release.store(true, Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<(String, bool)> {
        self.seen.lock().unwrap().clone()
    }
}

/// `kill -9` of a server whose workers hold jobs mid-delivery: the leases
/// run out, another server process takes the jobs over, and from the
/// endpoint's side every event is acknowledged exactly once (a repeated
/// attempt carries the same `tenantry-delivery`); every invoice's e-mail is
/// in the outbox once; no job is lost or dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_with_jobs_in_flight() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let endpoint = HoldingEndpoint::start().await;
    let root =
        std::env::temp_dir().join(format!("tenantry-kill-{}", uuid::Uuid::new_v4().simple()));
    let outbox = root.join("outbox");
    // One deployment: the processes share the master key (and the outbox).
    let master_keys = root.join("master-keys");
    let args = [
        "--demo",
        "--database-url",
        pg.url(),
        "--jwt-secret",
        common::SECRET,
        "--webhook-allow",
        "127.0.0.0/8",
        "--job-lease-secs",
        "3",
        "--limits",
        "off",
        "--outbox-dir",
        outbox.to_str().unwrap(),
        "--master-key-file",
        master_keys.to_str().unwrap(),
    ];
    let mut first = common::ServerProcess::start(&root.join("a"), &args);
    let http = tenantry_testkit::http();
    let token = common::token_with(common::SECRET, "acme", "admin", 3600);
    // A client listing orders throughout, on whichever server is up.
    let serving = Arc::new(std::sync::atomic::AtomicU16::new(first.port));
    let stop = Arc::new(AtomicBool::new(false));
    let answers_seen: Arc<Mutex<Vec<Option<u16>>>> = Arc::default();
    let load = {
        let (http, token) = (http.clone(), token.clone());
        let (serving, stop, answers_seen) = (serving.clone(), stop.clone(), answers_seen.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let port = serving.load(Ordering::Relaxed);
                let answer = http
                    .get(format!("http://127.0.0.1:{port}/api/orders"))
                    .header("host", format!("acme.localhost:{port}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                answers_seen.lock().unwrap().push(answer);
            }
        })
    };
    let call = |port: u16, method: Method, path: &str| {
        http.request(method, format!("http://127.0.0.1:{port}{path}"))
            .header("host", format!("acme.localhost:{port}"))
            .bearer_auth(&token)
    };
    let (status, _) = status_and_json(
        call(first.port, Method::PUT, "/api/settings")
            .json(&serde_json::json!({"webhook_url": endpoint.url})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = status_and_json(call(first.port, Method::POST, "/api/webhooks/secret")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, orders) = status_and_json(call(first.port, Method::GET, "/api/orders")).await;
    let mut numbers = Vec::new();
    for order in orders["orders"].as_array().unwrap().iter().take(3) {
        let (status, invoice) = status_and_json(
            call(first.port, Method::POST, "/api/invoices")
                .json(&serde_json::json!({"order_id": order["id"]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{invoice}");
        numbers.push(invoice["number"].as_i64().unwrap());
    }
    // All three deliveries in flight: their requests are at the endpoint.
    let deadline = Instant::now() + Duration::from_secs(60);
    while endpoint.seen().len() < 3 {
        assert!(Instant::now() < deadline, "the deliveries never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill();
    let killed = Instant::now();
    endpoint.release();

    let second = common::ServerProcess::start(&root.join("b"), &args);
    serving.store(second.port, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let acknowledged: std::collections::BTreeSet<String> = endpoint
            .seen()
            .into_iter()
            .filter(|(_, answered)| *answered)
            .map(|(delivery, _)| delivery)
            .collect();
        if acknowledged.len() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the jobs were not taken over: {:?}",
            endpoint.seen()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let taken_over = killed.elapsed();
    // Finished: acme's queue is empty and nothing died.
    queue_drained(|| call(second.port, Method::GET, "/api/jobs")).await;
    let (_, dead) = status_and_json(call(second.port, Method::GET, "/api/jobs/dead")).await;
    // The demo seeds one dead letter of its own (`demo.export`).
    let ours = dead["dead"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] != "demo.export")
        .count();
    assert_eq!(ours, 0, "{dead}");
    let seen = endpoint.seen();
    let mut answered: BTreeMap<&str, usize> = BTreeMap::new();
    for (delivery, ok) in &seen {
        *answered.entry(delivery).or_default() += usize::from(*ok);
    }
    assert_eq!(answered.len(), 3, "{seen:?}");
    assert!(
        answered.values().all(|n| *n == 1),
        "each event acknowledged once: {seen:?}"
    );
    let subjects = outbox_subjects(&outbox.join("acme"));
    for number in &numbers {
        let subject = format!("Invoice #{number} issued");
        let copies = subjects.iter().filter(|s| s.contains(&subject)).count();
        assert_eq!(copies, 1, "{subject}: {subjects:?}");
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let answers_seen = answers_seen.lock().unwrap().clone();
    let refused = answers_seen.iter().filter(|a| a.is_none()).count();
    let answered: Vec<u16> = answers_seen.iter().flatten().copied().collect();
    // While no server ran, connections were refused; every answer was a 200.
    assert!(answered.iter().all(|s| *s == 200), "{answered:?}");
    assert!(answered.len() > 10, "the load ran: {answered:?}");
    eprintln!(
        "FAULT kill-9: 3 deliveries in flight at the kill; {} requests reached the endpoint, \
         each event acknowledged once, all taken over {taken_over:?} after the kill (lease 3 s); \
         {} invoice e-mails, once each; 0 dead, 0 lost; a client meanwhile got {} × 200 and \
         {refused} refused connections while no server ran",
        seen.len(),
        numbers.len(),
        answered.len()
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&root);
}
