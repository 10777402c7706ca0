//! Background jobs through the real server: invoice e-mails in the outbox,
//! signed webhooks to a real HTTP endpoint (verified with the tenant's
//! secret, refused with another's), the SSRF guard, per-tenant outbound
//! timeouts, the dead-letter API, and cron run by two server processes on
//! one PostgreSQL enqueueing each tick once.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    ServerProcess, TestServer, configure_webhooks, deliveries, emails, receiver, status_and_json,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Polls `check` until it returns `Some` (bounded: a hang is a failure).
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn create_invoice(s: &TestServer, slug: &str) -> Value {
    s.invoice_an_order(slug, &format!("jobs-{}", uuid::Uuid::new_v4().simple()))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_invoice_is_e_mailed_by_a_job_in_its_tenant_s_context() {
    let outbox =
        std::env::temp_dir().join(format!("tenantry-outbox-{}", uuid::Uuid::new_v4().simple()));
    let dir = outbox.clone();
    let s = TestServer::sqlite_with(move |settings| settings.outbox_dir = Some(dir)).await;
    // Acme bills in euros from Paris: the e-mail says so.
    let (status, _) = common::status_and_json(
        s.as_tenant("acme", reqwest::Method::PUT, "/api/settings")
            .json(&serde_json::json!({"currency": "EUR", "timezone": "Europe/Paris"})),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let invoice = create_invoice(&s, "acme").await;
    let number = invoice["number"].as_i64().unwrap();
    let amount = invoice["amount"].as_str().unwrap().to_owned();
    let acme = outbox.join("acme");
    let mail = eventually("the invoice e-mail", || {
        let acme = acme.clone();
        async move {
            emails(&acme)
                .into_iter()
                .find(|m| m.contains(&format!("Invoice #{number} issued")))
        }
    })
    .await;
    assert!(mail.contains("X-Tenant: acme"), "{mail}");
    assert!(mail.contains("@acme"), "sent to acme's admins: {mail}");
    assert!(mail.contains(&format!("for EUR {amount}")), "{mail}");
    assert!(
        mail.contains(" CET") || mail.contains(" CEST"),
        "dated in Paris time: {mail}"
    );
    assert!(
        emails(&outbox.join("globex")).is_empty(),
        "nothing went out under another tenant"
    );
    let _ = std::fs::remove_dir_all(&outbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_with_the_tenant_s_secret_and_logged() {
    let s = TestServer::sqlite_with(|settings| {
        settings.webhook_allow = Some("127.0.0.0/8".into());
    })
    .await;
    let (base, mut received) = receiver().await;
    let acme_secret =
        configure_webhooks(&s, "acme", json!({"webhook_url": format!("{base}/hook")})).await;
    let globex_secret = configure_webhooks(&s, "globex", json!({})).await;
    assert_ne!(acme_secret, globex_secret);

    let invoice = create_invoice(&s, "acme").await;
    let (headers, body) = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("the webhook arrived")
        .unwrap();
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["event"], "invoice.created");
    assert_eq!(event["data"]["id"], invoice["id"]);
    let acme_id = event["tenant_id"].as_str().unwrap().to_owned();
    assert_eq!(headers["x-tenant-id"].to_str().unwrap(), acme_id);
    assert!(
        headers["baggage"]
            .to_str()
            .unwrap()
            .contains("tenant.slug=acme")
    );
    assert!(headers["traceparent"].to_str().unwrap().starts_with("00-"));
    assert!(
        headers.contains_key("x-request-id"),
        "the request's id travels with the job"
    );

    let signature = headers["tenantry-signature"].to_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let tolerance = Duration::from_secs(300);
    tenantry::webhooks::verify(
        acme_secret.as_bytes(),
        signature,
        body.as_bytes(),
        now,
        tolerance,
    )
    .expect("verifies with acme's secret");
    assert!(
        tenantry::webhooks::verify(
            globex_secret.as_bytes(),
            signature,
            body.as_bytes(),
            now,
            tolerance
        )
        .is_err(),
        "another tenant's secret does not verify it"
    );

    // Paying it sends `invoice.paid`; both attempts are in acme's log only.
    let id = invoice["id"].as_str().unwrap();
    let (status, _) =
        status_and_json(s.as_tenant("acme", Method::POST, &format!("/api/invoices/{id}/pay")))
            .await;
    assert_eq!(status, StatusCode::OK);
    let (_, paid) = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("the paid webhook arrived")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&paid).unwrap()["event"],
        "invoice.paid"
    );
    let log = eventually("both deliveries logged", || async {
        let log = deliveries(&s, "acme").await;
        (log.len() == 2).then_some(log)
    })
    .await;
    assert!(log.iter().all(|d| d["status_code"] == 200), "{log:?}");
    assert!(deliveries(&s, "globex").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_endpoints_are_refused_unless_allow_listed_and_slow_ones_time_out() {
    // No allow-list: 127.0.0.1 is refused, the job dies, nothing is sent.
    let s = TestServer::sqlite().await;
    let (base, mut received) = receiver().await;
    configure_webhooks(&s, "acme", json!({"webhook_url": format!("{base}/hook")})).await;
    create_invoice(&s, "acme").await;
    let dead = eventually("the refused delivery's dead letter", || async {
        let (_, jobs) = status_and_json(s.as_tenant("acme", Method::GET, "/api/jobs/dead")).await;
        let dead: Vec<Value> = jobs["dead"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "webhook.deliver")
            .cloned()
            .collect();
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("refused"),
        "{dead:?}"
    );
    assert_eq!(
        dead[0]["attempts"], 1,
        "a refused destination is not retried"
    );
    // The tenant sees that it was refused, not what our network looks like.
    let log = deliveries(&s, "acme").await;
    let error = log[0]["error"].as_str().unwrap();
    assert!(error.contains("not resolve to a public address"), "{log:?}");
    assert!(!error.contains("127.0.0.1"), "{log:?}");
    assert!(
        !dead[0]["reason"].as_str().unwrap().contains("127.0.0.1"),
        "{dead:?}"
    );
    assert!(
        received.try_recv().is_err(),
        "the endpoint received nothing"
    );

    // The dead letter is acme's: globex can neither retry nor discard it.
    let id = dead[0]["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::POST, format!("/api/jobs/dead/{id}/retry")),
        (Method::DELETE, format!("/api/jobs/dead/{id}")),
    ] {
        let (status, _) = status_and_json(s.as_tenant("globex", method, &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) =
        status_and_json(s.as_tenant("acme", Method::GET, "/api/jobs/dead/x/retry")).await;
    assert!(status.is_client_error());
    let (status, _) =
        status_and_json(s.as_tenant("acme", Method::DELETE, &format!("/api/jobs/dead/{id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Allow-listed, but the endpoint never answers: the tenant's 200 ms
    // outbound budget ends the attempt.
    let s = TestServer::sqlite_with(|settings| {
        settings.webhook_allow = Some("127.0.0.0/8".into());
    })
    .await;
    configure_webhooks(
        &s,
        "acme",
        json!({"webhook_url": format!("{base}/slow"), "outbound_timeout_ms": 200}),
    )
    .await;
    create_invoice(&s, "acme").await;
    let log = eventually("the timed-out attempt", || async {
        let log = deliveries(&s, "acme").await;
        (!log.is_empty()).then_some(log)
    })
    .await;
    assert!(
        log[0]["error"].as_str().unwrap().contains("200ms"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_enqueue_each_cron_tick_once() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let root =
        std::env::temp_dir().join(format!("tenantry-cron-{}", uuid::Uuid::new_v4().simple()));
    let outbox = root.join("outbox");
    let start = |name: &str| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        ServerProcess::start(
            &dir,
            &[
                "--database-url",
                pg.url(),
                "--jwt-secret",
                "cron-test-secret-0123456789abcdef",
                "--outbox-dir",
                outbox.to_str().unwrap(),
                "--cron-reminders",
                "* * * * * *",
                "--overdue-after-secs",
                "0",
                "--demo",
            ],
        )
    };
    // Reminders are behind the `invoice_reminders` flag (on by default for
    // the enterprise plan only): acme's admin turns it on, globex's stays off.
    let first = start("a");
    let token = String::from_utf8(
        common::tenantry_cli(
            &root.join("a"),
            &[
                "token",
                "--tenant",
                "acme",
                "--role",
                "admin",
                "--database-url",
                pg.url(),
                "--jwt-secret",
                "cron-test-secret-0123456789abcdef",
            ],
        )
        .stdout,
    )
    .unwrap();
    let flagged = tenantry_testkit::http()
        .put(format!("http://{}/api/flags/invoice_reminders", first.addr))
        .header("host", format!("acme.localhost:{}", first.port))
        .bearer_auth(token.trim())
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(flagged.status(), StatusCode::OK);
    // Ticks are whole seconds; the next one after this is the first with the flag on.
    let flag_on_since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 1;
    let second = start("b");
    let owner = tenantry::data::postgres::migrate::connect(pg.url())
        .await
        .unwrap();
    // Three ticks recorded after that (each by one process or the other), then their jobs done.
    let ticks: Vec<i64> = eventually("three reminder ticks", || async {
        let rows = owner
            .query(
                "SELECT tick FROM tenantry.cron_ticks WHERE schedule = 'overdue-reminders' AND tick > $1 ORDER BY tick",
                &[&flag_on_since],
            )
            .await
            .unwrap();
        (rows.len() >= 3).then(|| rows.iter().map(|r| r.get(0)).collect())
    })
    .await;
    let ticks = &ticks[..3];
    eventually("their jobs to finish", || async {
        let left: i64 = owner
            .query_one(
                "SELECT count(*) FROM tenantry.jobs WHERE kind = 'invoice.overdue_reminders' \
                 AND (payload->>'tick')::bigint <= $1",
                &[&ticks[2]],
            )
            .await
            .unwrap()
            .get(0);
        (left == 0).then_some(())
    })
    .await;
    drop((first, second));

    // Every reminder names its tick: count them per tenant, tick, invoice
    // and recipient. A tick enqueued twice would send everything twice.
    let mut sent: HashMap<(String, i64, String, String), usize> = HashMap::new();
    for tenant in std::fs::read_dir(&outbox).unwrap().flatten() {
        let slug = tenant.file_name().to_string_lossy().into_owned();
        for mail in emails(&tenant.path()) {
            let Some(subject) = mail.lines().find(|l| l.starts_with("Subject: Reminder")) else {
                continue;
            };
            let tick: i64 = mail
                .split("at tick ")
                .nth(1)
                .and_then(|t| t.split(')').next())
                .unwrap()
                .parse()
                .unwrap();
            let to = mail
                .lines()
                .find(|l| l.starts_with("To: "))
                .unwrap()
                .to_owned();
            *sent
                .entry((slug.clone(), tick, subject.to_owned(), to))
                .or_default() += 1;
        }
    }
    for tick in ticks {
        assert!(
            sent.keys()
                .any(|(slug, t, _, _)| slug == "acme" && t == tick),
            "tick {tick} reached acme: {sent:?}"
        );
    }
    assert!(
        !sent.keys().any(|(slug, _, _, _)| slug == "globex"),
        "globex's flag is off, yet it got reminders: {sent:?}"
    );
    let duplicates: Vec<_> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "sent more than once: {duplicates:?}");
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_cli_pauses_resumes_and_shares_as_the_system_tenant() {
    let dir = std::env::temp_dir().join(format!(
        "tenantry-jobs-cli-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let run = |args: &[&str]| common::tenantry_cli_text(&dir, args);
    let (ok, _, err) = run(&["tenants", "create", "--slug", "acme"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["jobs", "share", "acme", "--cap", "2", "--weight", "3"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["jobs", "pause", "acme", "--lane", "batch"]);
    assert!(ok, "{err}");
    let (_, stats, _) = run(&["jobs", "stats"]);
    let line = stats
        .lines()
        .find(|l| l.starts_with("acme") && l.contains("batch"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[4..], ["3", "2", "true"], "{stats}");
    run(&["jobs", "resume", "acme"]);
    let (_, stats, _) = run(&["jobs", "stats"]);
    assert!(
        stats
            .lines()
            .any(|l| l.starts_with("acme") && l.contains("batch") && l.ends_with("false")),
        "{stats}"
    );
    let (ok, _, err) = run(&["jobs", "retry", "424242"]);
    assert!(!ok && err.contains("no dead letter 424242"), "{err}");
    let (ok, _, err) = run(&["jobs", "pause", "nobody"]);
    assert!(!ok && err.contains("no tenant"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real SMTP server (`aiosmtpd` from PyPI) on a free port, printing every
/// message it receives; `None` (after a loud skip) when it cannot run.
fn smtp_server() -> Option<(std::process::Child, u16, std::sync::mpsc::Receiver<String>)> {
    use std::io::{BufRead, BufReader};
    let port = tenantry_testkit::pg_cluster::free_port();
    let spawned = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Debugging",
            "-l",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = spawned else {
        tenantry_testkit::require_service("aiosmtpd", "python3 is missing (bash .ci/aiosmtpd.sh)");
        return None;
    };
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            let _ = child.kill();
            tenantry_testkit::require_service(
                "aiosmtpd",
                "it did not start (bash .ci/aiosmtpd.sh)",
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, port, received))
}

/// An address of the test's own in front of an SMTP server: while off it
/// hangs up on every connection (the mail server is "down"), once switched on
/// it relays to the server. The address is held throughout, so no other
/// process can take the port while the server is "down" (restarting a server
/// on a freed port could find it taken).
struct SmtpSwitch {
    port: u16,
    on: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SmtpSwitch {
    async fn in_front_of(smtp_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let on = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let relaying = on.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !relaying.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the connection is closed unanswered
                }
                tokio::spawn(async move {
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", smtp_port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { port, on }
    }

    fn switch_on(&self) {
        self.on.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_e_mails_go_through_a_real_smtp_server_when_configured() {
    let Some((mut smtp, port, received)) = smtp_server() else {
        return;
    };
    let s = TestServer::sqlite_with(move |settings| {
        settings.smtp_addr = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    let invoice = create_invoice(&s, "acme").await;
    let subject = format!("Subject: Invoice #{} issued", invoice["number"]);
    let mut message = Vec::new();
    let found = tokio::task::spawn_blocking(move || {
        while let Ok(line) = received.recv_timeout(Duration::from_secs(60)) {
            let end = line.contains("END MESSAGE");
            message.push(line);
            if end && message.contains(&subject) {
                return Some(message);
            }
        }
        None
    })
    .await
    .unwrap();
    let _ = smtp.kill();
    let _ = smtp.wait();
    let message = found.expect("the SMTP server received the invoice e-mail");
    assert!(message.iter().any(|l| l == "X-Tenant: acme"), "{message:?}");
    assert!(
        message.iter().any(|l| l.starts_with("To: admin@acme")),
        "{message:?}"
    );
}

/// The SMTP server is down when an invoice is made: the invoice is made all
/// the same (only e-mail needs SMTP), the e-mail job fails and is retried,
/// and once the server is back the message arrives — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_e_mail_waits_for_smtp_to_come_back_and_is_sent_once() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let Some((mut smtp, smtp_port, received)) = smtp_server() else {
        return;
    };
    let switch = SmtpSwitch::in_front_of(smtp_port).await;
    let port = switch.port;
    let url = pg.url().to_owned();
    let s = TestServer::sqlite_with(move |settings| {
        settings.database_url = Some(url);
        settings.smtp_addr = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    let invoice = create_invoice(&s, "acme").await;
    let subject = format!("Subject: Invoice #{} issued", invoice["number"]);

    // The job has tried and failed (SMTP refused), and waits to retry.
    let owner = tenantry::data::postgres::migrate::connect(pg.url())
        .await
        .unwrap();
    let failed = eventually("a failed e-mail attempt", || {
        let owner = &owner;
        async move {
            let row = owner
                .query_opt(
                    "SELECT attempts, last_error FROM tenantry.jobs \
                     WHERE kind = 'invoice.email' AND last_error IS NOT NULL",
                    &[],
                )
                .await
                .unwrap()?;
            Some((row.get::<_, i32>(0), row.get::<_, String>(1)))
        }
    })
    .await;
    assert!(
        failed.1.contains("SMTP") || failed.1.contains("127.0.0.1"),
        "{failed:?}"
    );

    switch.switch_on();
    let wanted = subject.clone();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        while let Ok(line) = received.recv_timeout(Duration::from_secs(60)) {
            let done = line == wanted;
            lines.push(line);
            if done {
                break;
            }
        }
        (lines, received)
    })
    .await
    .unwrap();
    let (mut lines, received) = lines;
    assert!(
        lines.contains(&subject),
        "the e-mail never arrived: {lines:?}"
    );
    // Delivered, the job is gone: no later attempt can send it again.
    eventually("the e-mail job to be done", || {
        let owner = &owner;
        async move {
            let left: i64 = owner
                .query_one(
                    "SELECT count(*) FROM tenantry.jobs WHERE kind = 'invoice.email'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (left == 0).then_some(())
        }
    })
    .await;
    lines.extend(received.try_iter());
    let _ = smtp.kill();
    let _ = smtp.wait();
    assert_eq!(
        lines.iter().filter(|l| **l == subject).count(),
        1,
        "sent once: {lines:?}"
    );
}

/// SMTP as a real provider runs it: STARTTLS required, then AUTH. The
/// server's certificate is signed by a private CA the server is told about
/// (`--smtp-ca-file`); the message arrives encrypted and authenticated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_mail_goes_over_starttls_with_auth_to_a_server_that_requires_both() {
    use std::io::{BufRead, BufReader};
    let dir = std::env::temp_dir().join(format!("tenantry-smtp-{}", uuid::Uuid::new_v4().simple()));
    let certs = tenantry_testkit::certs::TestCerts::generate(&dir, "smtp test CA", &["localhost"]);
    let port = tenantry_testkit::pg_cluster::free_port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smtp_tls_server.py"
    );
    let spawned = std::process::Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&certs.cert)
        .arg(&certs.key)
        .args(["billing", "correct horse battery"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut smtp) = spawned else {
        tenantry_testkit::require_service("aiosmtpd", "python3 is missing (bash .ci/aiosmtpd.sh)");
        return;
    };
    let (lines, received) = std::sync::mpsc::channel();
    let stdout = smtp.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    if received.recv_timeout(Duration::from_secs(30)).as_deref() != Ok("READY") {
        let _ = smtp.kill();
        tenantry_testkit::require_service("aiosmtpd", "it did not start (bash .ci/aiosmtpd.sh)");
        return;
    }

    let ca = certs.ca.clone();
    let s = TestServer::sqlite_with(move |settings| {
        settings.smtp_addr = Some(format!("localhost:{port}"));
        settings.smtp_tls = Some("starttls".into());
        settings.smtp_username = Some("billing".into());
        settings.smtp_password = Some("correct horse battery".into());
        settings.smtp_ca_file = Some(ca);
    })
    .await;
    let invoice = create_invoice(&s, "acme").await;
    let subject = format!("Subject: Invoice #{} issued", invoice["number"]);
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        while let Ok(line) = received.recv_timeout(Duration::from_secs(60)) {
            let end = line == "END MESSAGE";
            seen.push(line);
            if end && seen.contains(&subject) {
                return seen;
            }
        }
        seen
    })
    .await
    .unwrap();
    let _ = smtp.kill();
    let _ = smtp.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        seen.iter()
            .any(|l| l.starts_with("AUTH ") && l.ends_with(" ok")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "MESSAGE tls=True auth=True"),
        "the message came over TLS after AUTH: {seen:?}"
    );
    assert!(seen.iter().any(|l| l == "X-Tenant: acme"), "{seen:?}");
}
