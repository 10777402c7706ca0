//! No write of a held tenant in any process: a live `tenantry serve`
//! process takes a tenant's writes in a tight loop while the CLI, another
//! process, suspends or deletes it — without Redis, on SQLite and on
//! PostgreSQL. Once the command returns, no write of the tenant succeeds
//! there, and a deleted tenant leaves no residue a minute later (past
//! every cache's TTL, the writes going on all along); a server that was
//! stopped (SIGSTOP) meanwhile holds the deletion up, named, and refuses
//! the tenant before it serves anything once continued.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::ServerProcess;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const SECRET: &str = "held-everywhere-test-secret-0123456789abcdef";

/// Where the processes keep their data: a fresh directory, and on
/// PostgreSQL the database's URL.
struct Deployment {
    dir: PathBuf,
    args: Vec<String>,
    _pg: Option<tenantry_testkit::PgTestDb>,
}

impl Deployment {
    async fn new(postgres: bool) -> Option<Deployment> {
        let dir =
            std::env::temp_dir().join(format!("tenantry-held-{}", uuid::Uuid::new_v4().simple()));
        let mut args = vec!["--jwt-secret".to_owned(), SECRET.to_owned()];
        let pg = if postgres {
            let pg = tenantry_testkit::postgres().await?;
            args.extend(["--database-url".to_owned(), pg.url().to_owned()]);
            Some(pg)
        } else {
            None
        };
        Some(Deployment { dir, args, _pg: pg })
    }

    fn serve(&self, extra: &[&str]) -> ServerProcess {
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.extend(extra);
        ServerProcess::start(&self.dir, &args)
    }

    /// Runs `tenantry ARGS…` against this deployment: (succeeded, stdout, stderr).
    fn cli(&self, args: &[&str]) -> (bool, String, String) {
        cli(&self.dir, &self.args, args)
    }
}

fn cli(dir: &Path, deployment: &[String], args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .args(deployment)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("TENANTRY_DATABASE_URL")
        .env_remove("TENANTRY_JWT_SECRET")
        .env_remove("TENANTRY_REDIS_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One write: when it was sent, and the answer's status (none: no answer).
#[derive(Clone, Copy, Debug)]
struct Attempt {
    sent: Instant,
    status: Option<StatusCode>,
}

/// Writes orders as `slug` through `server` one after another, as fast as
/// they are answered, until `enough` says stop; every attempt.
fn write_in_a_loop(
    server: &ServerProcess,
    slug: &str,
    enough: impl Fn(&[Attempt]) -> bool + Send + 'static,
) -> (
    Arc<Mutex<Vec<Attempt>>>,
    tokio::task::JoinHandle<Vec<Attempt>>,
) {
    let http = tenantry_testkit::http();
    let token = common::token_with(SECRET, slug, "admin", 3600);
    let url = format!("http://{}/api/orders", server.addr);
    let host = format!("{slug}.localhost:{}", server.port);
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let writer = tokio::spawn(async move {
        let mut n = 0;
        loop {
            n += 1;
            let sent = Instant::now();
            let status = http
                .request(Method::POST, &url)
                .header("host", &host)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "customer": format!("loop {n}"), "total_cents": n }))
                .send()
                .await
                .ok()
                .map(|r| r.status());
            {
                let mut all = seen.lock().unwrap();
                all.push(Attempt { sent, status });
                if enough(&all) {
                    return all.clone();
                }
            }
            // A tight loop, not a flood: the other tests share the cores.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    });
    (attempts, writer)
}

/// Waits (yielding) until the loop has had a write accepted.
async fn until_accepted(attempts: &Mutex<Vec<Attempt>>) {
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while !attempts
        .lock()
        .unwrap()
        .iter()
        .any(|a| a.status == Some(StatusCode::CREATED))
    {
        assert!(Instant::now() < deadline, "no write was accepted at all");
        tokio::task::yield_now().await;
    }
}

/// The writes sent after `since`.
fn sent_after(attempts: &[Attempt], since: Instant) -> Vec<Attempt> {
    attempts
        .iter()
        .filter(|a| a.sent >= since)
        .copied()
        .collect()
}

/// Runs a CLI command on a blocking thread (the writer keeps going).
async fn cli_meanwhile(deployment: &Deployment, args: &[&str]) -> (bool, String, String) {
    let (dir, deployment_args) = (deployment.dir.clone(), deployment.args.clone());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&dir, &deployment_args, &args)
    })
    .await
    .unwrap()
}

/// The count of `table`'s rows of `slug`, from `tenants export`.
fn rows(deployment: &Deployment, slug: &str, table: &str) -> u64 {
    let (ok, out, err) = deployment.cli(&["tenants", "export", slug]);
    assert!(ok, "{err}");
    let export: Value = serde_json::from_str(&out).unwrap();
    export["rows"][table].as_u64().unwrap()
}

/// Writes as acme through `server` in a loop while `command` runs in the
/// CLI, and after it returned: at least 50 more writes, for at least
/// `after`. Every attempt, and when the command returned.
async fn writes_around(
    deployment: &Deployment,
    server: &ServerProcess,
    command: &[&str],
    after: std::time::Duration,
) -> (Vec<Attempt>, Instant) {
    let returned: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = returned.clone();
    let (attempts, writer) = write_in_a_loop(server, "acme", move |all| {
        seen.lock()
            .unwrap()
            .is_some_and(|at| sent_after(all, at).len() >= 50 && at.elapsed() >= after)
    });
    until_accepted(&attempts).await;
    let (ok, _, err) = cli_meanwhile(deployment, command).await;
    assert!(ok, "{command:?}: {err}");
    let at = Instant::now();
    *returned.lock().unwrap() = Some(at);
    (writer.await.unwrap(), at)
}

async fn no_write_after_deletion(postgres: bool) {
    let Some(deployment) = Deployment::new(postgres).await else {
        return;
    };
    let server = deployment.serve(&["--demo"]);
    // Past a minute after the deletion: every cache's TTL has run out, so
    // whatever a stale record could have let through, it would have.
    let (all, at) = writes_around(
        &deployment,
        &server,
        &["tenants", "delete", "acme", "--grace", "0s"],
        std::time::Duration::from_secs(61),
    )
    .await;

    let accepted = all
        .iter()
        .filter(|a| a.status == Some(StatusCode::CREATED))
        .count();
    assert!(accepted > 0, "writes were accepted before the deletion");
    let late = sent_after(&all, at);
    assert!(late.len() >= 50);
    let unknown = common::token_with(SECRET, "no-such-tenant", "admin", 3600);
    let (unknown_status, unknown_body) = common::status_and_json(
        tenantry_testkit::http()
            .get(format!("http://{}/api/orders", server.addr))
            .header("host", format!("no-such-tenant.localhost:{}", server.port))
            .bearer_auth(unknown),
    )
    .await;
    assert_eq!(unknown_status, StatusCode::NOT_FOUND, "{unknown_body}");
    for attempt in &late {
        assert_eq!(
            attempt.status,
            Some(unknown_status),
            "a write of the deleted tenant sent after its deletion record closed: {attempt:?}"
        );
    }
    let deleted = common::token_with(SECRET, "acme", "admin", 3600);
    let (status, body) = common::status_and_json(
        tenantry_testkit::http()
            .get(format!("http://{}/api/orders", server.addr))
            .header("host", format!("acme.localhost:{}", server.port))
            .bearer_auth(deleted),
    )
    .await;
    assert_eq!(
        (status, &body),
        (unknown_status, &unknown_body),
        "the deleted tenant's token is answered like an unknown tenant's"
    );

    let (clean, out, err) = deployment.cli(&["tenants", "residue", "acme"]);
    assert!(clean, "residue a minute after the deletion: {out}{err}");
    drop(server);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

async fn no_write_after_suspension(postgres: bool) {
    let Some(deployment) = Deployment::new(postgres).await else {
        return;
    };
    let server = deployment.serve(&["--demo"]);
    let before = rows(&deployment, "acme", "orders");
    let (all, at) = writes_around(
        &deployment,
        &server,
        &["tenants", "suspend", "acme"],
        std::time::Duration::ZERO,
    )
    .await;
    for attempt in sent_after(&all, at) {
        assert_eq!(
            attempt.status,
            Some(StatusCode::FORBIDDEN),
            "a write sent after the suspension returned: {attempt:?}"
        );
    }
    let (ok, _, err) = deployment.cli(&["tenants", "resume", "acme"]);
    assert!(ok, "{err}");
    let accepted = all
        .iter()
        .filter(|a| a.status == Some(StatusCode::CREATED))
        .count() as u64;
    assert_eq!(
        rows(&deployment, "acme", "orders"),
        before + accepted,
        "exactly the accepted writes are stored: none that was refused (or unanswered)"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

#[tokio::test]
async fn no_write_after_deletion_on_sqlite() {
    no_write_after_deletion(false).await;
}

#[tokio::test]
async fn no_write_after_deletion_on_postgres() {
    no_write_after_deletion(true).await;
}

#[tokio::test]
async fn no_write_after_suspension_on_sqlite() {
    no_write_after_suspension(false).await;
}

#[tokio::test]
async fn no_write_after_suspension_on_postgres() {
    no_write_after_suspension(true).await;
}

/// A second server, stopped while the tenant is deleted, holds the
/// deletion (named in the step's error) until it is continued; then it
/// refuses the tenant before serving anything.
#[tokio::test]
async fn a_stopped_server_holds_the_deletion_and_refuses_the_tenant_when_continued() {
    let Some(deployment) = Deployment::new(false).await else {
        return;
    };
    let a = deployment.serve(&["--demo"]);
    let b = deployment.serve(&[]);
    let token = common::token_with(SECRET, "acme", "admin", 3600);
    let http = tenantry_testkit::http();
    let orders = |server: &ServerProcess| {
        server
            .request(&http, &token, "acme", Method::GET, "/api/orders")
            .send()
    };
    for server in [&a, &b] {
        assert_eq!(orders(server).await.unwrap().status(), StatusCode::OK);
    }

    b.signal("STOP");
    let deleting = {
        let (dir, args) = (deployment.dir.clone(), deployment.args.clone());
        tokio::task::spawn_blocking(move || {
            cli(&dir, &args, &["tenants", "delete", "acme", "--grace", "0s"])
        })
    };
    let settings = tenantry_server::settings::Settings {
        data_dir: Some(deployment.dir.clone()),
        jwt_secret: Some(SECRET.into()),
        ..tenantry_server::settings::Settings::default()
    };
    let services = tenantry_server::app::connect(&settings.resolve().unwrap())
        .await
        .unwrap();
    let acme = a_record(&services, "acme").await;
    let named = format!(":{}", b.pid());
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let error = loop {
        let workflows = services
            .workflow_store
            .list(Some(acme.id), 5)
            .await
            .unwrap();
        let error = workflows
            .iter()
            .flat_map(|w| w.steps.iter())
            .filter_map(|s| s.last_error.clone())
            .find(|e| e.contains(&named));
        if let Some(error) = error {
            break error;
        }
        assert!(
            Instant::now() < deadline,
            "no step names the stopped process {named}: {workflows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(error.contains("did not acknowledge"), "{error}");
    assert_eq!(
        orders(&a).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "the live server refuses the tenant meanwhile"
    );
    let residue = deployment.cli(&["tenants", "residue", "acme"]);
    assert!(
        !residue.0,
        "nothing is deleted while a live server has not acknowledged"
    );

    b.signal("CONT");
    // A new connection: the pooled one went idle while the server slept.
    let first = b
        .request(
            &tenantry_testkit::http(),
            &token,
            "acme",
            Method::GET,
            "/api/orders",
        )
        .send()
        .await
        .unwrap()
        .status();
    assert!(
        first == StatusCode::FORBIDDEN || first == StatusCode::NOT_FOUND,
        "the continued server's first answer for the tenant is a refusal, not {first}"
    );
    let (ok, _, err) = deleting.await.unwrap();
    assert!(ok, "the deletion goes on once the server is back: {err}");
    let (clean, out, err) = deployment.cli(&["tenants", "residue", "acme"]);
    assert!(clean, "{out}{err}");
    drop((a, b));
    let _ = std::fs::remove_dir_all(&deployment.dir);
}

async fn a_record(
    services: &tenantry_server::services::Services,
    slug: &str,
) -> std::sync::Arc<tenantry::registry::TenantRecord> {
    services
        .tenants
        .find(&tenantry::registry::TenantKey::Slug(slug.into()))
        .await
        .unwrap()
        .unwrap()
}
