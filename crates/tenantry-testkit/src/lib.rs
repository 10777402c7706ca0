//! Test helpers for tenantry: real backends or a loud skip.
//!
//! Tests that need a service call [`postgres`] (or [`require_service`]): when
//! the service is reachable they get it; when it is not, they print a loud
//! SKIP line and return — unless `CI=true`, where a missing service fails the
//! test, so CI always exercises every backend.

#[cfg(feature = "cache")]
pub mod cache;
pub mod certs;
#[cfg(feature = "control")]
pub mod control;
#[cfg(feature = "jobs")]
pub mod jobs;
pub mod pg_cluster;
pub mod pgbouncer;
pub mod proxy;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::NoTls;

/// The PostgreSQL server tests use, overridable with `TENANTRY_TEST_PG`.
pub fn postgres_base_url() -> String {
    std::env::var("TENANTRY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Whether this run is CI (`CI=true`), where missing services are failures.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a missing service: panics in CI, prints a loud skip otherwise.
///
/// Returns normally only when the test should be skipped.
pub fn require_service(service: &str, why: &str) {
    if in_ci() {
        panic!("{service} is required in CI (CI=true) but is unavailable: {why}");
    }
    static WARNED: AtomicBool = AtomicBool::new(false);
    let first = !WARNED.swap(true, Ordering::Relaxed);
    eprintln!(
        "\n!!!!!! SKIPPED: {service} unavailable ({why}); start it or run under CI=true to fail instead{}\n",
        if first { "" } else { " (again)" }
    );
}

/// A throwaway PostgreSQL database, dropped (with its connections) when
/// the value is dropped.
pub struct PgTestDb {
    name: String,
    url: String,
}

impl PgTestDb {
    /// The database's URL as the `postgres` superuser (the owner role).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The prefix of the databases tenantry creates for database-tier tenants
/// of the deployment whose control database is `name`. Must match
/// `tenantry::data::postgres::tenant_database_prefix` (a server test
/// checks); repeated here so the testkit does not depend on tenantry.
pub fn tenant_database_prefix(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("tdb_{hash:08x}_")
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", postgres_base_url());
        let name = self.name.clone();
        // The test database and its database-tier tenants' databases.
        let drop_all = async move |client: &tokio_postgres::Client| {
            let tenants = client
                .query(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                    &[&tenant_database_prefix(&name)],
                )
                .await
                .ok()?;
            let names = tenants
                .iter()
                .map(|row| row.get::<_, String>(0))
                .chain([name.clone()]);
            for db in names {
                let sql = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
                client.batch_execute(&sql).await.ok()?;
            }
            Some(())
        };
        // Drop may run inside a runtime; a separate thread with its own
        // runtime works from anywhere.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin, NoTls).await.ok()?;
                tokio::spawn(conn);
                drop_all(&client).await
            })
        })
        .join();
    }
}

/// Creates a fresh database, or skips (see [`require_service`]) with `None`.
pub async fn postgres() -> Option<PgTestDb> {
    let base = postgres_base_url();
    let admin = format!("{base}/postgres");
    let client = match tokio_postgres::connect(&admin, NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => {
            require_service("PostgreSQL", &format!("{admin}: {e}"));
            return None;
        }
    };
    let name = format!("tenantry_test_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
    {
        require_service("PostgreSQL", &format!("CREATE DATABASE failed: {e}"));
        return None;
    }
    Some(PgTestDb {
        url: format!("{base}/{name}"),
        name,
    })
}

/// An in-memory `Write` target for log output; clones share the buffer.
///
/// Hand `move || captured.clone()` to a `tracing_subscriber` builder's
/// `with_writer`, then read what was logged with [`CapturedLogs::json_lines`].
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Bytes captured so far (to read only what comes after a point).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was captured yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every line captured from byte `start` on, as JSON; panics on a line
    /// that is not JSON (a test failure: the log format is JSON).
    pub fn json_lines(&self, start: usize) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.lock()[start..].to_vec()).expect("logs are UTF-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The S3-compatible server the tests use (`.ci/seaweedfs.sh` starts one):
/// `TENANTRY_TEST_S3` or `http://127.0.0.1:8333`, with the access key
/// `tenantry` / `tenantry-test-secret`. `None` (after a loud skip, or a
/// panic in CI) when nothing listens there.
pub fn s3_endpoint() -> Option<String> {
    let endpoint =
        std::env::var("TENANTRY_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:8333".to_owned());
    if reachable(&endpoint) {
        Some(endpoint)
    } else {
        require_service(
            "S3 (SeaweedFS)",
            &format!("nothing answers at {endpoint}; run .ci/seaweedfs.sh"),
        );
        None
    }
}

/// The OpenBao (Vault-compatible) dev server the tests use
/// (`.ci/openbao.sh` starts one): `TENANTRY_TEST_OPENBAO` or
/// `http://127.0.0.1:8200`, root token [`OPENBAO_TOKEN`], transit mounted.
/// `None` (after a loud skip, or a panic in CI) when nothing listens there.
pub fn openbao_addr() -> Option<String> {
    let addr = std::env::var("TENANTRY_TEST_OPENBAO")
        .unwrap_or_else(|_| "http://127.0.0.1:8200".to_owned());
    if reachable(&addr) {
        Some(addr)
    } else {
        require_service(
            "OpenBao",
            &format!("nothing answers at {addr}; run .ci/openbao.sh"),
        );
        None
    }
}

/// The root token of [`openbao_addr`]'s dev server.
pub const OPENBAO_TOKEN: &str = "tenantry-dev-root";

/// Whether a TCP connection to `url`'s host and port succeeds within 2 s.
fn reachable(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        })
}

/// An HTTP client for tests: tenantry's HTTPS set-up (rustls with ring;
/// reqwest itself is built without a default TLS provider).
pub fn http() -> reqwest::Client {
    tenantry::https::client().expect("the platform's TLS roots load")
}

/// Drops every bucket of the test S3 server named `prefix` or
/// `prefix-…`, with their objects: each bucket holds a SeaweedFS volume of
/// its own, and a server that keeps every test's buckets runs out. Goes
/// through SeaweedFS's filer (`TENANTRY_TEST_S3_FILER`, default
/// `http://127.0.0.1:8888`), which S3 itself has no call for. Best effort.
pub async fn s3_drop_buckets(prefix: &str) {
    let filer = s3_filer();
    let http = http();
    for name in s3_buckets(prefix).await {
        let _ = http
            .delete(format!(
                "{filer}/buckets/{name}?recursive=true&ignoreRecursiveError=true"
            ))
            .send()
            .await;
    }
}

fn s3_filer() -> String {
    std::env::var("TENANTRY_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:8888".to_owned())
}

/// The test S3 server's buckets named `prefix` or `prefix-…`, as its filer
/// lists them (not through S3, so a test can check what S3 calls did).
pub async fn s3_buckets(prefix: &str) -> Vec<String> {
    let Ok(listing) = http()
        .get(format!("{}/buckets/?limit=10000", s3_filer()))
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Vec::new();
    };
    let Ok(listing) = listing.json::<serde_json::Value>().await else {
        return Vec::new();
    };
    listing["Entries"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| entry["FullPath"].as_str())
        .map(|path| path.trim_start_matches("/buckets/").to_owned())
        .filter(|name| name == prefix || name.starts_with(&format!("{prefix}-")))
        .collect()
}

/// The access key of [`s3_endpoint`]'s server.
pub const S3_ACCESS_KEY: &str = "tenantry";
/// The secret key of [`s3_endpoint`]'s server.
pub const S3_SECRET_KEY: &str = "tenantry-test-secret";

/// A field of a captured JSON log line, read from its spans (where the
/// tenant context puts `tenant_id`, `tenant_slug` and `request_id`).
pub fn span_field<'a>(line: &'a serde_json::Value, field: &str) -> Option<&'a serde_json::Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span.get(field))
}
