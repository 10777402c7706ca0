//! A PostgreSQL server of the test's own: `initdb` into a temporary
//! directory, started on a free port — for what the machine's shared
//! server must not be put through (TLS settings, restarts, a crash).
//!
//! PostgreSQL refuses to run as root, so as root (CI) the cluster belongs
//! to the `postgres` user and its commands run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::certs::TestCerts;

/// A running cluster; stopped and removed when dropped.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    options: String,
}

impl PgCluster {
    /// Starts a trust-auth cluster on 127.0.0.1, with TLS from `tls` when
    /// given. `None` after a loud skip when the server binaries are absent
    /// (a failure under `CI=true`).
    pub fn start(tls: Option<&TestCerts>) -> Option<PgCluster> {
        let Some(bin) = server_binaries() else {
            crate::require_service(
                "PostgreSQL server binaries (initdb, pg_ctl)",
                "none under /usr/lib/postgresql/*/bin",
            );
            return None;
        };
        let as_postgres = is_root();
        let dir =
            std::env::temp_dir().join(format!("tenantry-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let port = free_port();
        let mut options = format!(
            "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c max_connections=60",
            dir.display()
        );
        if let Some(certs) = tls {
            // The server reads its key as the cluster's owner, mode 0600.
            let key = dir.join("server.key");
            let cert = dir.join("server.pem");
            std::fs::copy(&certs.key, &key).expect("copy key");
            std::fs::copy(&certs.cert, &cert).expect("copy certificate");
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert.display(),
                key.display()
            ));
        }
        let cluster = PgCluster {
            dir,
            bin,
            port,
            as_postgres,
            options,
        }
        .init();
        cluster.pg_ctl(&["start", "-w", "-t", "30"]);
        Some(cluster)
    }

    /// The URL of database `database` as the `postgres` superuser, with
    /// `query` (`sslmode=…`) appended.
    pub fn url(&self, database: &str, query: &str) -> String {
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}{query}",
            self.port
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    /// Starts it again after [`Self::stop`], on the same port.
    pub fn start_again(&self) {
        self.pg_ctl(&["start", "-w", "-t", "30"]);
    }

    fn init(self) -> Self {
        if self.as_postgres {
            chown_to_postgres(&self.dir);
        }
        let data = self.data_dir();
        let status = self
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(
            status.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        self
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_ctl(&self, args: &[&str]) {
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .arg("-o")
            .arg(&self.options)
            .args(args)
            .output()
            .expect("pg_ctl runs");
        assert!(
            output.status.success(),
            "pg_ctl {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["stop", "-m", "immediate", "-w"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown postgres {}", path.display());
}

/// A port nobody listens on now (the OS's pick, released at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
