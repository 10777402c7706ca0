//! An operator's deletion cannot be undone by the tenant or by a failure:
//! a tenant near its storage quota is still offboarded to the end (the
//! export is not charged to it), an offboarding that fails leaves the
//! tenant suspended (never active again on its own), and resuming a
//! tenant during its grace period cancels the deletion rather than serve
//! a tenant that is about to be purged.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json, tenantry_cli_text};
use reqwest::{Method, StatusCode};
use tenantry::workflow::WorkflowState;

/// Stores `body` as attachment `name` of a new invoice of `slug`'s; where
/// it landed on disk (local backend).
async fn attach(s: &TestServer, slug: &str, name: &str, body: Vec<u8>) -> std::path::PathBuf {
    let invoice = s
        .invoice_an_order(slug, &uuid::Uuid::new_v4().to_string())
        .await;
    let id = invoice["id"].as_str().unwrap();
    let (status, stored) = status_and_json(
        s.as_tenant(
            slug,
            Method::PUT,
            &format!("/api/invoices/{id}/attachments/{name}"),
        )
        .header("content-type", "application/octet-stream")
        .body(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    find_file(&s.data_dir.join("objects"), name).expect("the attachment is on disk")
}

fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
    }
    None
}

/// The state of `slug`'s newest workflow.
async fn newest_workflow(s: &TestServer, slug: &str) -> tenantry::workflow::WorkflowRecord {
    let record = s.record(slug).await;
    let mut workflows = s
        .services
        .workflow_store
        .list(Some(record.id), 1)
        .await
        .unwrap();
    workflows.pop().expect("a workflow")
}

async fn orders_status(s: &TestServer, slug: &str) -> StatusCode {
    s.as_tenant(slug, Method::GET, "/api/orders")
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_ninety_percent_of_its_quota_is_offboarded_to_the_end() {
    let s = TestServer::sqlite_with(|c| c.storage_quota_mb = Some(1)).await;
    attach(&s, "acme", "scan.bin", vec![7; 900 * 1024]).await;
    let (ok, out, err) =
        tenantry_cli_text(&s.data_dir, &["tenants", "delete", "acme", "--grace", "0s"]);
    assert!(ok, "the deletion ran to its end:\n{out}\n{err}");
    let (clean, out, err) = tenantry_cli_text(&s.data_dir, &["tenants", "residue", "acme"]);
    assert!(clean, "{out}{err}");
    assert_eq!(orders_status(&s, "acme").await, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_offboarding_leaves_the_tenant_suspended() {
    let s = TestServer::sqlite().await;
    let file = attach(&s, "acme", "note.txt", b"a note".to_vec()).await;
    // The tenant's objects sit under `<root>/invoices/<id>/note.txt`: a
    // plain file where its `exports/` directory would go makes the export
    // fail, whatever the process's rights.
    let root = file.parent().unwrap().parent().unwrap().parent().unwrap();
    std::fs::write(root.join("exports"), b"in the way").unwrap();

    let (ok, out, err) =
        tenantry_cli_text(&s.data_dir, &["tenants", "delete", "acme", "--grace", "0s"]);
    assert!(!ok, "the export cannot be written:\n{out}\n{err}");
    let (_, shown, _) = tenantry_cli_text(&s.data_dir, &["tenants", "show", "acme"]);
    assert!(shown.contains("suspended"), "{shown}");
    assert_eq!(
        orders_status(&s, "acme").await,
        StatusCode::FORBIDDEN,
        "an operator asked for the deletion: the tenant is not served again"
    );
    let workflow = newest_workflow(&s, "acme").await;
    assert_eq!(workflow.state, WorkflowState::Failed, "{workflow:?}");
    // An operator can still give it back its service, on purpose.
    let (ok, _, err) = tenantry_cli_text(&s.data_dir, &["tenants", "resume", "acme"]);
    assert!(ok, "{err}");
    assert_eq!(orders_status(&s, "acme").await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_during_the_grace_period_cancels_the_deletion() {
    let s = TestServer::sqlite().await;
    let (ok, out, err) =
        tenantry_cli_text(&s.data_dir, &["tenants", "delete", "acme", "--grace", "1h"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"suspended\""), "{out}");
    assert_eq!(orders_status(&s, "acme").await, StatusCode::FORBIDDEN);

    let (ok, out, err) = tenantry_cli_text(&s.data_dir, &["tenants", "resume", "acme"]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert_eq!(orders_status(&s, "acme").await, StatusCode::OK);
    let workflow = newest_workflow(&s, "acme").await;
    assert_eq!(
        workflow.state,
        WorkflowState::Cancelled,
        "the deletion no longer runs toward the purge: {workflow:?}"
    );
}
