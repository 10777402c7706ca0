//! The API contract, checked by outside tools against a live server:
//! `openapi-spec-validator` accepts `/openapi.json`, and schemathesis runs
//! every check (`-c all`: status codes and bodies as documented, schema-valid
//! requests accepted, schema-violating ones refused, no server error) over
//! every operation as `acme`'s admin, on SQLite and on PostgreSQL. It is
//! also the HTTP-level fuzzer: every response body it saw is searched for
//! `globex`'s ids and names, which must never appear.
//!
//! `.ci/schemathesis.sh` installs both tools (pinned) into
//! `$HOME/.cache/tenantry-venv` (or `$TENANTRY_VENV`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;
use serde_json::Value;

/// Examples per operation and phase: enough to reach every documented
/// constraint from both sides; `TENANTRY_CONTRACT_EXAMPLES` raises it for
/// long fuzzing runs (`bench/RESULTS.md`).
fn examples() -> String {
    std::env::var("TENANTRY_CONTRACT_EXAMPLES").unwrap_or_else(|_| "40".into())
}

fn tools() -> Option<PathBuf> {
    let venv = std::env::var_os("TENANTRY_VENV").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tenantry-venv"),
        PathBuf::from,
    );
    let bin = venv.join("bin");
    if bin.join("st").exists() && bin.join("openapi-spec-validator").exists() {
        Some(bin)
    } else {
        tenantry_testkit::require_service(
            "schemathesis and openapi-spec-validator",
            &format!("not in {}; run .ci/schemathesis.sh", venv.display()),
        );
        None
    }
}

fn without_limits(settings: &mut tenantry_server::settings::Settings) {
    // The fuzzer sends far more than any plan's rate; 429s would hide
    // the answers under test.
    settings.limits = Some("off".into());
}

#[tokio::test]
async fn the_api_keeps_its_contract_on_sqlite() {
    let Some(bin) = tools() else {
        return;
    };
    let server = TestServer::sqlite_with(without_limits).await;
    check_contract(&server, &bin).await;
}

#[tokio::test]
async fn the_api_keeps_its_contract_on_postgres() {
    let Some(bin) = tools() else {
        return;
    };
    let Some(server) = TestServer::postgres_with(without_limits).await else {
        return;
    };
    check_contract(&server, &bin).await;
}

async fn check_contract(server: &TestServer, bin: &Path) {
    let work = std::env::temp_dir().join(format!(
        "tenantry-contract-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work).unwrap();
    let spec = work.join("openapi.json");
    std::fs::write(&spec, server.openapi().await.to_string()).unwrap();
    let validated = Command::new(bin.join("openapi-spec-validator"))
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "the document is not valid OpenAPI: {}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // What acme must never be shown.
    let globex = server.record("globex").await;
    let mut foreign = vec![globex.id.to_string(), "(globex)".to_owned()];
    foreign.extend(server.ids("globex", "/api/orders", "orders").await);
    foreign.extend(server.ids("globex", "/api/users", "users").await);

    // Changing users last: the fuzzer may demote or delete the admin whose
    // token it holds, after which admin-only operations answer only 403.
    let users_changed = ["users_update", "users_delete"];
    let mut first = vec![];
    for id in users_changed {
        first.extend(["--exclude-operation-id", id]);
    }
    let mut last = vec![];
    for id in users_changed {
        last.extend(["--include-operation-id", id]);
    }
    let mut requests = 0;
    for (pass, selection) in [("first", first), ("last", last)] {
        let har = work.join(format!("{pass}.har"));
        let mut st = Command::new(bin.join("st"));
        st.arg("run")
            .arg(server.url("/openapi.json"))
            .args([
                "-c",
                "all",
                "--max-examples",
                &examples(),
                "--seed",
                "20261127",
            ])
            .args(["--request-timeout", "30", "--report", "har"])
            .arg("--report-har-path")
            .arg(&har)
            .arg("-H")
            .arg(format!(
                "Authorization: Bearer {}",
                server.token("acme", "admin")
            ))
            .arg("-H")
            .arg(format!("Host: acme.localhost:{}", server.addr.port()))
            .args(&selection)
            .env("NO_COLOR", "1");
        // The server runs on this test's runtime: wait off it.
        let output = tokio::task::spawn_blocking(move || st.output())
            .await
            .unwrap()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "schemathesis ({pass} pass) found failures:\n{report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(report.contains("passed"), "{report}");
        requests += scan_for_foreign_bytes(&har, &foreign);
    }
    assert!(requests > 500, "only {requests} requests were made");
    println!("{requests} requests, no server error, no failure, nothing of globex's");
    let _ = std::fs::remove_dir_all(&work);
}

/// Searches every response in the HAR file for any of `foreign`; the
/// number of requests it holds.
fn scan_for_foreign_bytes(har: &Path, foreign: &[String]) -> usize {
    let har: Value = serde_json::from_slice(&std::fs::read(har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    for entry in entries {
        let body = entry["response"]["content"]["text"].as_str().unwrap_or("");
        let headers = entry["response"]["headers"].to_string();
        for needle in foreign {
            assert!(
                !body.contains(needle.as_str()) && !headers.contains(needle.as_str()),
                "acme was shown globex's {needle:?} by {} {}: {body}",
                entry["request"]["method"],
                entry["request"]["url"]
            );
        }
    }
    entries.len()
}
