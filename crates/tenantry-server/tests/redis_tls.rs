//! Redis over TLS (`rediss://`) with certificates made by the test: the
//! server's certificate is verified, host name included.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::{Child, Command, Stdio};

use tenantry_testkit::certs::TestCerts;
use tenantry_testkit::pg_cluster::free_port;

/// A TLS-only `redis-server` on a free port, killed when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    fn start(certs: &TestCerts) -> Option<TlsRedis> {
        let port = free_port();
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(&certs.cert)
            .arg("--tls-key-file")
            .arg(&certs.key)
            .arg("--tls-ca-cert-file")
            .arg(&certs.ca)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tenantry_testkit::require_service("redis-server (with TLS)", &e.to_string());
                return None;
            }
        };
        let mut redis = TlsRedis { child, port };
        // Ready when it accepts connections; a server that exits is a failure.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not listen"
            );
            std::thread::yield_now();
        }
        Some(redis)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tenantry tenants list` with `--redis-url url` (it subscribes to
/// registry changes at start-up, so a bad TLS connection fails it).
fn list_tenants(
    dir: &std::path::Path,
    url: &str,
    ca: Option<&std::path::Path>,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    command
        .args(["tenants", "list", "--redis-url", url, "--data-dir"])
        .arg(dir)
        .env_remove("TENANTRY_DATABASE_URL")
        .env_remove("SSL_CERT_FILE");
    if let Some(ca) = ca {
        command.env("SSL_CERT_FILE", ca);
    }
    command.output().unwrap()
}

#[test]
fn rediss_verifies_the_server_certificate_and_its_name() {
    let dir = std::env::temp_dir().join(format!("tenantry-rtls-{}", uuid::Uuid::new_v4().simple()));
    let certs = TestCerts::generate(&dir.join("certs"), "tenantry test CA", &["localhost"]);
    let Some(redis) = TlsRedis::start(&certs) else {
        return;
    };
    let data = dir.join("data");
    let port = redis.port;

    let trusted = list_tenants(
        &data,
        &format!("rediss://localhost:{port}"),
        Some(&certs.ca),
    );
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let unknown_ca = list_tenants(&data, &format!("rediss://localhost:{port}"), None);
    assert!(
        !unknown_ca.status.success(),
        "a certificate from an untrusted CA"
    );
    let wrong_name = list_tenants(
        &data,
        &format!("rediss://127.0.0.1:{port}"),
        Some(&certs.ca),
    );
    assert!(
        !wrong_name.status.success(),
        "a certificate for another name"
    );
    let plain = list_tenants(&data, &format!("redis://localhost:{port}"), None);
    assert!(
        !plain.status.success(),
        "a TLS-only server refuses plain text"
    );
    drop(redis);
    let _ = std::fs::remove_dir_all(dir);
}
