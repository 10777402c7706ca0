//! The `tenantry` command line, run as a real process on SQLite.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{ServerProcess, tenantry_cli as tenantry};

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn tenants_lifecycle_and_tokens() {
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let created = stdout_json(&tenantry(
        &dir.0,
        &[
            "tenants",
            "create",
            "--slug",
            "initech",
            "--plan",
            "pro",
            "--domain",
            "App.Initech.Example",
            "--admin-email",
            "Boss@Initech.Example",
        ],
    ));
    assert_eq!(created["slug"], "initech");
    assert_eq!(created["plan"], "pro");
    assert_eq!(created["state"], "active");
    assert_eq!(
        created["domains"],
        serde_json::json!(["app.initech.example"])
    );

    let listed = tenantry(&dir.0, &["tenants", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).starts_with("initech\t"));

    assert_eq!(
        stdout_json(&tenantry(&dir.0, &["tenants", "suspend", "initech"]))["state"],
        "suspended"
    );
    assert_eq!(
        stdout_json(&tenantry(&dir.0, &["tenants", "resume", "initech"]))["state"],
        "active"
    );
    assert_eq!(
        stdout_json(&tenantry(&dir.0, &["tenants", "show", "initech"]))["state"],
        "active"
    );

    // Tokens are for real users: initech has an admin and no member yet.
    let no_member = tenantry(
        &dir.0,
        &["token", "--tenant", "initech", "--role", "member"],
    );
    assert!(!no_member.status.success());
    assert!(String::from_utf8_lossy(&no_member.stderr).contains("has no member user"));
    // The token verifies with the secret the server generated into the data dir.
    let token = tenantry(
        &dir.0,
        &[
            "token", "--tenant", "initech", "--role", "admin", "--ttl", "5m",
        ],
    );
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap();
    let secret = std::fs::read_to_string(dir.0.join("jwt-secret")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let claims = rt
        .block_on(
            tenantry::edge::TokenVerifier::hs256(secret.trim().as_bytes())
                .verify_claims(token.trim()),
        )
        .unwrap();
    assert_eq!(
        (claims["tenant"].as_str(), claims["role"].as_str()),
        (Some("initech"), Some("admin"))
    );
    let sub = claims["sub"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(sub).is_ok(), "the admin user's id");
    let exp = claims["exp"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(exp > now && exp <= now + 300);
}

#[test]
fn bad_input_fails_cleanly() {
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    for (args, expected) in [
        (
            &["tenants", "create", "--slug", "Bad Slug"][..],
            "invalid tenant slug",
        ),
        (
            &["tenants", "create", "--slug", "acme", "--plan", "platinum"][..],
            "platinum",
        ),
        (&["tenants", "suspend", "nobody"][..], "no tenant"),
        (
            &[
                "tenants",
                "create",
                "--slug",
                "acme",
                "--admin-email",
                "boss at acme",
            ][..],
            "not an e-mail address",
        ),
        (
            &["tenants", "create", "--slug", "deep", "--tier", "schema"][..],
            "needs PostgreSQL",
        ),
        (
            &[
                "token",
                "--tenant",
                "acme",
                "--role",
                "admin",
                "--ttl",
                "5 parsecs",
            ][..],
            "bad duration",
        ),
        // A token's rights are asked for, never defaulted.
        (&["token", "--tenant", "acme"][..], "--role"),
        (
            &[
                "token", "--tenant", "acme", "--role", "admin", "--ttl", "30d",
            ][..],
            "between 1s and 24h",
        ),
        (
            &["token", "--tenant", "nobody", "--role", "admin"][..],
            "no tenant",
        ),
    ] {
        let output = tenantry(&dir.0, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let listed = tenantry(&dir.0, &["tenants", "list"]);
    assert!(
        listed.stdout.is_empty(),
        "a refused create wrote nothing: {}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let duplicate = |slug| tenantry(&dir.0, &["tenants", "create", "--slug", slug]);
    assert!(duplicate("acme").status.success());
    let again = duplicate("acme");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already taken"));
}

/// The probe as a user runs it: `tenantry serve --demo` in one process,
/// `tenantry probe` in another, tokens from `tenantry token`.
#[test]
fn probe_command_against_a_running_server() {
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let server = ServerProcess::start(&dir.0, &["--demo"]);
    let (addr, port) = (server.addr.clone(), server.port.to_string());
    let token = |slug: &str| {
        let out = tenantry(&dir.0, &["token", "--tenant", slug, "--role", "admin"]);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let probe = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["probe", "--base-url", &format!("http://{addr}")])
        .args([
            "--a-slug",
            "acme",
            "--a-host",
            &format!("acme.localhost:{port}"),
        ])
        .args([
            "--b-slug",
            "globex",
            "--b-host",
            &format!("globex.localhost:{port}"),
        ])
        .args([
            "--path-prefix",
            "/t/{slug}",
            "--tenant-header",
            "x-tenant-id",
        ])
        .env("PROBE_A_TOKEN", token("acme"))
        .env("PROBE_B_TOKEN", token("globex"))
        .output()
        .unwrap();
    drop(server);
    let report = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    // Every check passed, none untested; the count grows with the API.
    assert!(
        report.contains(" passed, 0 failed (0 leaks, 0 failed controls, 0 untested)"),
        "{report}"
    );
    let passed: usize = report
        .split("probe: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 40, "{passed} checks:\n{report}");
}

#[test]
fn jobs_share_changes_only_what_it_is_given() {
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let run = |args: &[&str]| {
        let output = tenantry(&dir.0, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    run(&["tenants", "create", "--slug", "initech", "--plan", "pro"]);
    // A cap alone keeps the pro plan's weight of 2.
    let first = run(&["jobs", "share", "initech", "--cap", "8"]);
    assert!(
        first.contains("weight 2, cap 8, unlimited a minute"),
        "{first}"
    );
    let second = run(&["jobs", "share", "initech", "--per-minute", "60"]);
    assert!(second.contains("weight 2, cap 8, 60 a minute"), "{second}");
    let stats = run(&["jobs", "stats"]);
    let row = stats
        .lines()
        .find(|l| l.starts_with("initech") && l.contains("batch"))
        .unwrap_or_else(|| panic!("{stats}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[4..6], ["2", "8"], "weight and cap as set: {row}");
    let nothing = tenantry(&dir.0, &["jobs", "share", "initech"]);
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to change"));
}

/// The start-up hint works as printed: `tenantry …` when that name on the
/// `PATH` is this binary, `cargo run -q -- …` for a cargo-built binary that
/// is not installed.
#[test]
fn the_start_up_hint_names_a_command_that_runs_this_binary() {
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let hint = |server: &ServerProcess| {
        server
            .banner
            .iter()
            .find_map(|line| line.trim_start().strip_prefix("token:"))
            .expect("a token hint")
            .trim()
            .to_owned()
    };

    // As the tests run it: built by cargo (a `debug` directory), not on PATH.
    let built =
        ServerProcess::start_with_env(&dir.0.join("a"), &["--demo"], &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(
        hint(&built),
        "cargo run -q -- token --tenant acme --role admin"
    );
    drop(built);

    // Installed: `tenantry` on the PATH is this binary (a link to it here).
    let bin = dir.0.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tenantry"), bin.join("tenantry")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let installed =
        ServerProcess::start_with_env(&dir.0.join("b"), &["--demo"], &[("PATH", &path)]);
    let printed = hint(&installed);
    assert_eq!(printed, "tenantry token --tenant acme --role admin");
    // …and the printed command, run as printed on that PATH, mints a token.
    let mut words = printed.split_whitespace();
    let token = Command::new(words.next().unwrap())
        .args(words)
        .arg("--data-dir")
        .arg(dir.0.join("b"))
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&token.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );
}

/// Reading the registry opens what it reads: `tenants list` on a fresh
/// PostgreSQL database migrates the control plane it lists from, but
/// neither migrates the tenant plane nor needs it; `tenants create` does.
#[tokio::test]
async fn a_read_only_command_leaves_the_tenant_plane_alone() {
    let Some(pg) = tenantry_testkit::postgres().await else {
        return;
    };
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let (client, connection) = tokio_postgres::connect(pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let has_orders = || async {
        client
            .query_one("SELECT to_regclass('public.orders') IS NOT NULL", &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    let listed = tenantry(&dir.0, &["tenants", "list", "--database-url", pg.url()]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(listed.stdout.is_empty(), "no tenants yet");
    assert!(
        !has_orders().await,
        "`tenants list` migrated the tenant plane"
    );

    let created = tenantry(
        &dir.0,
        &[
            "tenants",
            "create",
            "--slug",
            "initech",
            "--database-url",
            pg.url(),
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(
        has_orders().await,
        "creating a tenant readies the tenant plane"
    );
}

/// A reader that stops early (`tenantry tenants show acme | head -1`) ends
/// the command quietly with success, not with a panic on the broken pipe.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let dir = DataDir(
        std::env::temp_dir().join(format!("tenantry-cli-{}", uuid::Uuid::new_v4().simple())),
    );
    let created = tenantry(&dir.0, &["tenants", "create", "--slug", "initech"]);
    assert!(created.status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args(["tenants", "show", "initech", "--data-dir"])
        .arg(&dir.0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command has opened its database.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}
