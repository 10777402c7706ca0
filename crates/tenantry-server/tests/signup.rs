//! Self-service sign-up through the real server: a new tenant registered
//! `provisioning`, onboarded by the server's own lifecycle workers to
//! `active` with its admin, who is welcomed by e-mail; bad input refused with nothing written; a slug
//! taken is a 409; one client address is limited.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::registry::{TenantKey, TenantState};
use tenantry::workflow::{StepState, WorkflowId, WorkflowState};

async fn sign_up(s: &TestServer, body: Value) -> (StatusCode, Value) {
    let response = s
        .http
        .post(s.url("/signup"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn signup_flow(s: &TestServer) {
    let (status, body) = sign_up(
        s,
        json!({"slug": "initech", "name": "Initech", "admin_email": "Boss@Initech.Example"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["slug"], "initech");
    assert_eq!(body["state"], "provisioning");
    let id = WorkflowId(body["workflow"].as_i64().unwrap());

    // The server's lifecycle worker runs the onboarding.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let workflow = loop {
        let record = s.services.workflow_store.get(id).await.unwrap().unwrap();
        if !record.state.is_live() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {}",
            record.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(workflow.state, WorkflowState::Succeeded, "{workflow:?}");
    assert!(workflow.steps.iter().all(|s| s.state == StepState::Done));
    assert_eq!(workflow.input["admin_email"], "boss@initech.example");
    let tenant = s
        .services
        .tenants
        .find(&TenantKey::Slug("initech".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tenant.state, TenantState::Active);
    assert_eq!(tenant.plan.as_str(), "free");

    // The first admin is welcomed by e-mail (a job in the tenant's name).
    let outbox = s.data_dir.join("outbox").join("initech");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let welcome = loop {
        let found = std::fs::read_dir(&outbox)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .find(|m| m.contains("Subject: Welcome to initech"));
        if let Some(mail) = found {
            break mail;
        }
        assert!(tokio::time::Instant::now() < deadline, "no welcome e-mail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(welcome.contains("To: boss@initech.example"), "{welcome}");
    assert!(welcome.contains("X-Tenant: initech"), "{welcome}");

    // Taken, whoever asks.
    let (status, body) = sign_up(
        s,
        json!({"slug": "initech", "admin_email": "other@initech.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        s.services
            .workflow_store
            .list(Some(tenant.id), 10)
            .await
            .unwrap()
            .len(),
        1,
        "no second onboarding"
    );

    let (status, _) = sign_up(s, json!({"slug": "system", "admin_email": "a@b.example"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "reserved");

    // Bad input: a clear 400, nothing registered.
    for (body, field) in [
        (
            json!({"slug": "umbrella", "admin_email": "nobody"}),
            "admin_email",
        ),
        (
            json!({"slug": "Not A Slug", "admin_email": "a@b.example"}),
            "slug",
        ),
    ] {
        let (status, answer) = sign_up(s, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["field"], field, "{answer}");
    }
    let (status, answer) = sign_up(
        s,
        json!({"slug": "umbrella", "admin_email": "a@b.example", "plan": "enterprise"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no choosing a plan: {answer}"
    );
    assert!(
        s.services
            .tenants
            .find(&TenantKey::Slug("umbrella".into()))
            .await
            .unwrap()
            .is_none(),
        "a refused sign-up registered nothing"
    );
}

#[tokio::test]
async fn a_tenant_signs_itself_up_on_sqlite() {
    signup_flow(&TestServer::sqlite().await).await;
}

#[tokio::test]
async fn a_tenant_signs_itself_up_on_postgres() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    signup_flow(&s).await;
}

#[tokio::test]
async fn one_address_cannot_sign_up_without_limit() {
    let s = TestServer::sqlite().await;
    let mut refused = None;
    for n in 0..12 {
        let response = s
            .http
            .post(s.url("/signup"))
            .json(&json!({"slug": format!("burst-{n}"), "admin_email": "not an address"}))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    let refused = refused.expect("a burst of sign-ups from one address is limited");
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
}
