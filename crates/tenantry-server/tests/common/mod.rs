//! An in-process server on port 0 for integration tests, on SQLite or on a
//! throwaway PostgreSQL database, seeded with the demo tenants.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::PathBuf;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tenantry::edge::{Claims, issue_hs256};
use tenantry_server::config::Config;
use tenantry_server::services::Services;
use tenantry_server::settings::Settings;
use tenantry_testkit::PgTestDb;

pub const SECRET: &str = "integration-test-secret-0123456789";

/// A server in the test's own process (its workers and its acknowledger
/// run on the test's runtime). A test that runs the CLI while one runs
/// uses a multi-thread runtime: state changes wait for every serving
/// process's acknowledgement, which a current-thread runtime blocked in
/// `Command::output` cannot give.
pub struct TestServer {
    pub addr: std::net::SocketAddr,
    /// The operator listener (`/metrics`).
    pub admin_addr: std::net::SocketAddr,
    pub http: reqwest::Client,
    pub config: Config,
    pub services: Services,
    /// The app's lifecycle (its workflow kinds over `services`).
    pub lifecycle: tenantry_server::lifecycle::Lifecycle,
    shutdown: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
    // Workers and cron; dropping it aborts them.
    _background: tenantry_server::app::Background,
    pub data_dir: PathBuf,
    pub pg: Option<PgTestDb>,
}

impl TestServer {
    pub async fn sqlite() -> TestServer {
        Self::start(None, |_| {}).await
    }

    /// SQLite, with the settings adjusted by `tweak` before start-up.
    pub async fn sqlite_with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start(None, tweak).await
    }

    /// `None` (after a loud skip) when PostgreSQL is absent outside CI.
    pub async fn postgres() -> Option<TestServer> {
        let pg = tenantry_testkit::postgres().await?;
        Some(Self::start(Some(pg), |_| {}).await)
    }

    /// PostgreSQL, with the settings adjusted by `tweak` before start-up.
    pub async fn postgres_with(tweak: impl FnOnce(&mut Settings)) -> Option<TestServer> {
        let pg = tenantry_testkit::postgres().await?;
        Some(Self::start(Some(pg), tweak).await)
    }

    /// On the given PostgreSQL database (e.g. one reached through a pooler
    /// the test set up in front of it), with `tweak`.
    pub async fn on_postgres(pg: PgTestDb, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start(Some(pg), tweak).await
    }

    async fn start(pg: Option<PgTestDb>, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let data_dir =
            std::env::temp_dir().join(format!("tenantry-test-{}", uuid::Uuid::new_v4().simple()));
        let mut settings = Settings {
            data_dir: Some(data_dir.clone()),
            database_url: pg.as_ref().map(|p| p.url().to_owned()),
            jwt_secret: Some(SECRET.to_owned()),
            base_domain: Some("localhost".to_owned()),
            pool_size: Some(8),
            ..Settings::default()
        };
        tweak(&mut settings);
        let config = settings.resolve().expect("config");
        let services = tenantry_server::app::open(&config).await.expect("services");
        tenantry_server::demo::seed(&services).await.expect("seed");
        let app = tenantry_server::app::build(&config, &services);
        let lifecycle = app.lifecycle.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin_addr = admin.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (admin_tx, admin_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tenantry_server::run(listener, app.api, async {
            let _ = rx.await;
        }));
        tokio::spawn(tenantry_server::run(admin, app.admin, async {
            let _ = admin_rx.await;
        }));
        let background =
            tenantry_server::app::workers(&config, &lifecycle).expect("background jobs");
        TestServer {
            _background: background,
            addr,
            admin_addr,
            http: tenantry_testkit::http(),
            config,
            services,
            lifecycle,
            shutdown: Some((tx, admin_tx)),
            data_dir,
            pg,
        }
    }

    /// Creates tenant `slug` on `plan` and `tier`, provisioned and filled
    /// with the demo's rows, as `tenants create` plus the demo seed would.
    pub async fn seed(
        &self,
        slug: &str,
        plan: tenantry::context::Plan,
        tier: tenantry::context::Tier,
    ) -> tenantry::registry::TenantRecord {
        tenantry_server::demo::seed_tenant(&self.services, slug, slug, plan, tier)
            .await
            .unwrap()
    }

    /// Adds to `tenant` the user that [`token_with`] mints tokens for when
    /// it names the tenant as `token_tenant` (its slug or its id).
    pub async fn add_member(
        &self,
        tenant: &tenantry::registry::TenantRecord,
        token_tenant: &str,
        role: &str,
    ) {
        let id = tenantry_server::demo::user_id(token_tenant, role);
        let email = format!("{role}-{}@example.test", id.simple());
        tenantry_server::demo::add_user(&self.services, tenant, id, &email, role)
            .await
            .unwrap();
    }

    /// The admin listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        metrics_at(&self.http, &self.admin_url("/metrics")).await
    }

    /// The served `/openapi.json`.
    pub async fn openapi(&self) -> Value {
        self.http
            .get(self.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The leak probe: `attacker`'s admin tries every operation of the
    /// served document with `victim`'s ids, hosts, prefixes and headers.
    pub async fn leak_probe(&self, attacker: &str, victim: &str) -> tenantry_probe::Report {
        let access = |slug: &str| tenantry_probe::TenantAccess {
            slug: slug.into(),
            host: format!("{slug}.localhost:{}", self.addr.port()),
            token: self.token(slug, "admin"),
        };
        tenantry_probe::Probe {
            base_url: format!("http://{}", self.addr),
            openapi: self.openapi().await,
            attacker: access(attacker),
            victim: access(victim),
            path_prefix: Some("/t/{slug}".into()),
            tenant_header: Some("x-tenant-id".into()),
        }
        .run()
        .await
        .unwrap()
    }

    pub fn backend_name(&self) -> &'static str {
        self.services.db.backend_name()
    }

    pub fn token(&self, tenant: &str, role: &str) -> String {
        token_with(SECRET, tenant, role, 3600)
    }

    /// A request claiming `slug` by subdomain, with `slug`'s admin token.
    pub fn as_tenant(&self, slug: &str, method: Method, path: &str) -> RequestBuilder {
        self.request(slug, &self.token(slug, "admin"), method, path)
    }

    /// A request claiming `host_slug` by subdomain with `token`.
    pub fn request(
        &self,
        host_slug: &str,
        token: &str,
        method: Method,
        path: &str,
    ) -> RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .header(
                "host",
                format!("{host_slug}.localhost:{}", self.addr.port()),
            )
            .bearer_auth(token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL on the operator listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// GETs a list endpoint as `slug` and returns the ids under `key`.
    pub async fn ids(&self, slug: &str, path: &str, key: &str) -> Vec<String> {
        let body: Value = self
            .as_tenant(slug, Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Tenant `slug`'s registry record (it must exist).
    #[allow(dead_code)] // not every test binary needs it
    pub async fn record(&self, slug: &str) -> std::sync::Arc<tenantry::registry::TenantRecord> {
        self.services
            .tenants
            .find(&tenantry::registry::TenantKey::Slug(slug.to_owned()))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no tenant {slug}"))
    }

    /// Invoices one of `slug`'s orders that has no invoice yet, with
    /// `request_id` as the request's id; the new invoice.
    #[allow(dead_code)] // not every test binary invoices
    pub async fn invoice_an_order(&self, slug: &str, request_id: &str) -> Value {
        let (_, invoices) =
            status_and_json(self.as_tenant(slug, Method::GET, "/api/invoices")).await;
        let taken: Vec<&Value> = invoices["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["order_id"])
            .collect();
        let order = self
            .ids(slug, "/api/orders", "orders")
            .await
            .into_iter()
            .map(Value::String)
            .find(|id| !taken.contains(&id))
            .expect("an order without an invoice");
        let (status, invoice) = status_and_json(
            self.as_tenant(slug, Method::POST, "/api/invoices")
                .header("x-request-id", request_id)
                .json(&serde_json::json!({ "order_id": order })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{invoice}");
        invoice
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some((api, admin)) = self.shutdown.take() {
            let _ = api.send(());
            let _ = admin.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A token for demo tenant `tenant`'s user with `role` (a real member, as
/// the edge's membership check requires).
pub fn token_with(secret: &str, tenant: &str, role: &str, ttl: i64) -> String {
    let user = tenantry_server::demo::user_id(tenant, role);
    token_for(secret, tenant, user, role, ttl)
}

/// A token for user `user` of `tenant` with `role`, living `ttl` seconds.
pub fn token_for(secret: &str, tenant: &str, user: uuid::Uuid, role: &str, ttl: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        sub: user.to_string(),
        tenant: tenant.to_owned(),
        role: Some(role.to_owned()),
        exp: (now + ttl) as u64,
        ..Claims::default()
    };
    issue_hs256(secret.as_bytes(), &claims).unwrap()
}

pub async fn status_and_json(req: RequestBuilder) -> (StatusCode, Value) {
    let response = req.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A `tenantry serve` child process on a free port; killed when dropped.
pub struct ServerProcess {
    child: std::process::Child,
    pub addr: String,
    pub port: u16,
    /// The start-up banner: the `listening` line and the hints under it.
    pub banner: Vec<String>,
}

impl ServerProcess {
    /// Starts `tenantry serve --listen 127.0.0.1:0 --data-dir DIR ARGS…` and
    /// waits for its banner (which names the bound port).
    pub fn start(data_dir: &std::path::Path, args: &[&str]) -> ServerProcess {
        Self::start_with_env(data_dir, args, &[])
    }

    /// [`start`](Self::start) with `env` added to the process's environment.
    pub fn start_with_env(
        data_dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("TENANTRY_DATABASE_URL")
            .env_remove("TENANTRY_JWT_SECRET")
            .stdout(if std::env::var_os("TENANTRY_TEST_SERVER_LOG").is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::null()
            })
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr for the life of the process: closing the pipe early
        // would make the server's next write to stderr fail (and `eprintln!`
        // panic), and never reading it could block the server on a full pipe.
        let stderr = child.stderr.take().unwrap();
        let (found, banner) = std::sync::mpsc::channel();
        // `TENANTRY_TEST_SERVER_LOG=1` shows the process's log (debugging).
        let echo = std::env::var_os("TENANTRY_TEST_SERVER_LOG").is_some();
        std::thread::spawn(move || {
            let mut found = Some(found);
            let mut banner: Vec<String> = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[server] {line}");
                }
                if found.is_none() {
                    continue;
                }
                if line.starts_with("tenantry listening on http://") || !banner.is_empty() {
                    banner.push(line.clone());
                }
                // The banner ends with the `try:` hint.
                if line.trim_start().starts_with("try:")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(std::mem::take(&mut banner));
                }
            }
        });
        let banner = banner
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server printed no banner (did it exit?)");
        let addr = banner[0]
            .strip_prefix("tenantry listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        ServerProcess {
            child,
            addr,
            port,
            banner,
        }
    }
}

impl ServerProcess {
    /// A request to this process as `slug` (by subdomain) with `token`.
    pub fn request(
        &self,
        http: &reqwest::Client,
        token: &str,
        slug: &str,
        method: Method,
        path: &str,
    ) -> RequestBuilder {
        http.request(method, format!("http://{}{path}", self.addr))
            .header("host", format!("{slug}.localhost:{}", self.port))
            .bearer_auth(token)
    }

    /// This process's `/metrics`.
    pub async fn metrics(&self, http: &reqwest::Client) -> String {
        metrics_at(http, &format!("http://{}/metrics", self.admin_addr())).await
    }

    /// The operator listener's address, from the banner's `admin:` line.
    pub fn admin_addr(&self) -> String {
        self.banner
            .iter()
            .find_map(|line| line.trim_start().strip_prefix("admin:"))
            .and_then(|rest| rest.trim().strip_prefix("http://"))
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .expect("the banner names the admin listener")
            .to_owned()
    }

    /// The process id (its acknowledgements name it `host:pid`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends the process `signal` (`STOP`, `CONT`, …) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// `kill -9`: the process gets no chance to finish anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two `tenantry serve` processes sharing a fresh data directory and
/// `redis` (the first seeds the demo tenants): the directory, then both.
pub fn two_servers(redis: &str) -> (std::path::PathBuf, ServerProcess, ServerProcess) {
    let dir = std::env::temp_dir().join(format!("tenantry-2p-{}", uuid::Uuid::new_v4().simple()));
    let a = ServerProcess::start(&dir, &["--demo", "--redis-url", redis]);
    let b = ServerProcess::start(&dir, &["--redis-url", redis]);
    (dir, a, b)
}

/// Whether flag `key` is on in the answer of `flags` (a `GET /api/flags`).
pub async fn flag_enabled(flags: RequestBuilder, key: &str) -> bool {
    let body: Value = flags.send().await.unwrap().json().await.unwrap();
    body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .and_then(|f| f["enabled"].as_bool())
        .unwrap_or_else(|| panic!("no flag {key} in {body}"))
}

/// A token from `tenantry token` for `slug`'s first user with `role`.
pub fn cli_token(data_dir: &std::path::Path, slug: &str, role: &str) -> String {
    let output = tenantry_cli(data_dir, &["token", "--tenant", slug, "--role", role]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The Prometheus text at `url`.
pub async fn metrics_at(http: &reqwest::Client, url: &str) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of sample `series` (its name and labels, exactly as written)
/// in exposition `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Runs the `tenantry` binary with `--data-dir DIR`.
pub fn tenantry_cli(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TENANTRY_DATABASE_URL")
        .env_remove("TENANTRY_JWT_SECRET")
        .output()
        .unwrap()
}

/// [`tenantry_cli`] as (succeeded, stdout, stderr).
pub fn tenantry_cli_text(data_dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = tenantry_cli(data_dir, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The test Redis's URL, or `None` after a loud skip.
pub async fn redis() -> Option<String> {
    let redis =
        std::env::var("TENANTRY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    match tenantry::cache::RedisCache::connect(&redis).await {
        Ok(_) => Some(redis),
        Err(e) => {
            tenantry_testkit::require_service("Redis", &format!("{redis}: {e}"));
            None
        }
    }
}

/// Whether `line` is the server's own housekeeping as the system tenant
/// (a cron tick entering it or reporting what it enqueued, a `system.*`
/// job), which may log in any test's window: the hourly cleanup runs at
/// minute 15.
#[allow(dead_code)] // not every test binary captures logs
pub fn housekeeping(line: &Value) -> bool {
    let entering_system = line["fields"]["message"] == "entering system tenant";
    let system_job = line["spans"].as_array().is_some_and(|spans| {
        spans.iter().any(|s| {
            s["kind"]
                .as_str()
                .is_some_and(|kind| kind.starts_with("system."))
        })
    });
    let cron_tick = line["target"] == "tenantry::jobs::cron";
    entering_system || system_job || cron_tick
}

/// Whether a JSON log line was emitted inside a job's span.
pub fn in_job(line: &Value) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["name"] == "job"))
}

/// A webhook endpoint on loopback: every request's headers and body.
pub async fn receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, String)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let tx = tx.clone();
                async move {
                    tx.send((headers, body)).unwrap();
                    "ok"
                }
            }),
        )
        .route(
            "/slow",
            axum::routing::post(std::future::pending::<&'static str>),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rx)
}

/// Changes `slug`'s settings by `changes` and rotates its webhook signing
/// secret; the new secret.
pub async fn configure_webhooks(s: &TestServer, slug: &str, changes: Value) -> String {
    let (_, mut settings) = status_and_json(s.as_tenant(slug, Method::GET, "/api/settings")).await;
    for (key, value) in changes.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let (status, body) = status_and_json(
        s.as_tenant(slug, Method::PUT, "/api/settings")
            .json(&settings),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, secret) =
        status_and_json(s.as_tenant(slug, Method::POST, "/api/webhooks/secret")).await;
    assert_eq!(status, StatusCode::CREATED, "{secret}");
    secret["secret"].as_str().unwrap().to_owned()
}

/// `slug`'s webhook delivery log.
pub async fn deliveries(s: &TestServer, slug: &str) -> Vec<Value> {
    let (_, log) =
        status_and_json(s.as_tenant(slug, Method::GET, "/api/webhooks/deliveries")).await;
    log["deliveries"].as_array().unwrap().clone()
}

/// The `.eml` files in `dir` (a tenant's outbox), as text.
pub fn emails(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}
