//! A PgBouncer of the test's own in **transaction** pooling mode, in front
//! of the machine's PostgreSQL: consecutive transactions of one client may
//! run on different server connections, as in production behind one.
//!
//! `.ci/pgbouncer.sh` installs it (Debian's package, pinned). PgBouncer
//! refuses to run as root, so as root it is told to become `postgres`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pg_cluster::{free_port, is_root};

const BINARY: &str = "/usr/sbin/pgbouncer";

/// A running PgBouncer; killed and its files removed when dropped.
pub struct PgBouncer {
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl PgBouncer {
    /// Starts one that lets `users` (trust auth) reach every database of
    /// the server at `upstream` (a `postgres://` URL: its host and port are
    /// used) through at most `pool_size` server connections per database
    /// and user. `None` after a loud skip when PgBouncer is not installed
    /// (a failure under `CI=true`).
    pub fn start(upstream: &str, users: &[&str], pool_size: usize) -> Option<PgBouncer> {
        if !std::path::Path::new(BINARY).exists() {
            crate::require_service("PgBouncer", "not installed; run .ci/pgbouncer.sh");
            return None;
        }
        let config: tokio_postgres::Config = upstream.parse().expect("upstream URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let upstream_port = config.get_ports().first().copied().unwrap_or(5432);
        let dir = std::env::temp_dir().join(format!(
            "tenantry-pgbouncer-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("PgBouncer directory");
        let port = free_port();
        let users_file = dir.join("users.txt");
        let list: String = users.iter().map(|u| format!("\"{u}\" \"\"\n")).collect();
        std::fs::write(&users_file, list).expect("users file");
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n\
                 * = host={host} port={upstream_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 1000\n\
                 ignore_startup_parameters = extra_float_digits\n",
                users = users_file.display(),
            ),
        )
        .expect("PgBouncer configuration");
        make_readable(&dir);
        let mut command = Command::new(BINARY);
        if is_root() {
            command.args(["-u", "postgres"]);
        }
        let log = std::fs::File::create(dir.join("pgbouncer.log")).expect("log file");
        let child = command
            .arg(&ini)
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("PgBouncer starts");
        let mut bouncer = PgBouncer { dir, child, port };
        bouncer.wait_until_listening();
        Some(bouncer)
    }

    /// The URL of `database` as `user` through this PgBouncer.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("PgBouncer exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "PgBouncer did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_readable(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    // The `postgres` user reads the files and writes nothing here but the
    // log, which is opened by this process.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for entry in std::fs::read_dir(dir).expect("list").flatten() {
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
}
