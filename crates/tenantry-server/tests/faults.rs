//! Faults under load: a backend goes away while tenants are being served,
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
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
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
    stop.store(true, Ordering::Relaxed);

    // Taken out of the lock: the load's last requests still report in, and
    // a guard held across the waits below would block their threads.
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(seen.leaks.is_empty(), "cross-tenant rows: {:?}", seen.leaks);
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
        move |s: &mut tenantry_server::config::Settings| {
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
    a.backend
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
    stop.store(true, Ordering::Relaxed);
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    assert!(seen.leaks.is_empty(), "cross-tenant rows: {:?}", seen.leaks);
    let during: Vec<u16> = seen
        .answers
        .iter()
        .filter(|(at, slug, _)| *at > down && *at < up && *slug == "acme")
        .map(|(_, _, s)| *s)
        .collect();
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
