//! Self-service sign-up through the real server, when the operator opened
//! it: a request is answered by e-mail (a confirmation, or word that the
//! slug is taken — never to the anonymous caller), one address gets one
//! such e-mail per window, the confirmation registers the tenant
//! `provisioning` and the server's own lifecycle workers onboard it to
//! `active` with its admin, who is welcomed; reserved and look-alike
//! slugs and bad input are refused with nothing written; clients (an
//! address, an IPv6 /64, behind a trusted proxy the forwarded one) and all
//! sign-ups together are limited.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantry::registry::{TenantKey, TenantState};
use tenantry::workflow::{StepState, WorkflowId, WorkflowState};

/// `POST /signup` from a client of its own (a fresh IPv6 /64 each time,
/// forwarded by the proxy on loopback), so no per-client limit is met.
async fn sign_up(s: &TestServer, body: Value) -> (StatusCode, Value) {
    static CLIENTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = CLIENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let client = format!("2001:db8:fff:{n:x}::1");
    sign_up_from(s, Some(&client), body).await
}

/// `POST /signup`, through a proxy that forwarded `client` when given.
async fn sign_up_from(s: &TestServer, client: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut request = s.http.post(s.url("/signup")).json(&body);
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A server with sign-up open, behind a proxy on loopback.
async fn open_for_signup(postgres: bool) -> Option<TestServer> {
    let open = |c: &mut tenantry_server::settings::Settings| {
        c.signup = true;
        c.trusted_proxies = Some("127.0.0.1/32,::1".into());
    };
    if postgres {
        TestServer::postgres_with(open).await
    } else {
        Some(TestServer::sqlite_with(open).await)
    }
}

/// The sign-up e-mails `to` got (the platform's outbox: no tenant yet).
fn signup_mails(s: &TestServer, to: &str) -> Vec<String> {
    let outbox = s.data_dir.join("outbox").join("system");
    std::fs::read_dir(&outbox)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains("Subject: Your sign-up for"))
        .collect()
}

/// Waits for the one sign-up e-mail to `to` (a job of the queue's).
async fn the_signup_mail(s: &TestServer, to: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut mails = signup_mails(s, to);
        if let Some(mail) = mails.pop() {
            assert!(mails.is_empty(), "one e-mail: {mails:?}");
            return mail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sign-up e-mail to {to}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The confirmation an e-mail carries (the JSON to send back).
fn confirmation_in(mail: &str) -> Value {
    let start = mail.find("-d '").expect("a confirmation in the e-mail") + 4;
    let end = start + mail[start..].find('\'').unwrap();
    serde_json::from_str(&mail[start..end]).unwrap()
}

async fn confirm(s: &TestServer, confirmation: &Value) -> (StatusCode, Value) {
    let response = s
        .http
        .post(s.url("/signup/confirm"))
        .json(confirmation)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn signup_flow(s: &TestServer) {
    let (status, asked) = sign_up(
        s,
        json!({"slug": "initech", "name": "Initech", "admin_email": "Boss@Initech.Example"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    assert_eq!(asked["status"], "check your e-mail");
    assert!(
        s.services
            .tenants
            .find(&TenantKey::Slug("initech".into()))
            .await
            .unwrap()
            .is_none(),
        "nothing is registered before the address is confirmed"
    );
    let mail = the_signup_mail(s, "boss@initech.example").await;
    let confirmation = confirmation_in(&mail);

    let mut altered = confirmation.clone();
    altered["slug"] = json!("initrode");
    let (status, answer) = confirm(s, &altered).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let (status, body) = confirm(s, &confirmation).await;
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

    // A confirmation is used once: the slug is then taken.
    let (status, body) = confirm(s, &confirmation).await;
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

    // Asking for a taken slug is answered like any other; the e-mail says.
    let (status, answer) = sign_up(
        s,
        json!({"slug": "initech", "admin_email": "other@initech.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "check your e-mail", "admin_email": "other@initech.example"})
    );
    let taken = the_signup_mail(s, "other@initech.example").await;
    assert!(taken.contains("that name is taken"), "{taken}");
    assert!(
        !taken.contains("-d '"),
        "no confirmation for a taken slug: {taken}"
    );

    // Reserved and look-alike slugs: refused whoever asks (no secret there).
    for slug in [
        "system",
        "admin",
        "www",
        "api",
        "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        "xn--pypal-4ve",
    ] {
        let (status, answer) =
            sign_up(s, json!({"slug": slug, "admin_email": "a@b.example"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{slug}: {answer}");
        assert_eq!(answer["field"], "slug", "{answer}");
    }

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
    signup_flow(&open_for_signup(false).await.unwrap()).await;
}

#[tokio::test]
async fn a_tenant_signs_itself_up_on_postgres() {
    let Some(s) = open_for_signup(true).await else {
        return;
    };
    signup_flow(&s).await;
}

#[tokio::test]
async fn sign_up_is_closed_unless_the_operator_opens_it() {
    let s = TestServer::sqlite().await;
    let (status, answer) = sign_up(
        &s,
        json!({"slug": "initech", "admin_email": "boss@initech.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, _) = confirm(&s, &json!({"slug": "initech", "name": "x", "admin_email": "boss@initech.example", "signature": "t=1,v1=00"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_address_gets_one_sign_up_mail_per_window() {
    let s = open_for_signup(false).await.unwrap();
    for (n, client) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .into_iter()
        .enumerate()
    {
        let (status, answer) = sign_up_from(
            &s,
            Some(client),
            json!({"slug": format!("paypal-security-{n}"), "admin_email": "victim@mail.example"}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let first = the_signup_mail(&s, "victim@mail.example").await;
    assert!(first.contains("paypal-security-0"), "{first}");
    // Had the victim's other two been queued (before this one, in the same
    // lane), they would have been sent by the time this one is.
    let (status, _) = sign_up_from(
        &s,
        Some("198.51.100.4"),
        json!({"slug": "umbrella", "admin_email": "boss@umbrella.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    the_signup_mail(&s, "boss@umbrella.example").await;
    assert_eq!(signup_mails(&s, "victim@mail.example").len(), 1);
}

/// Counts sign-ups from `client` until one is refused; how many passed.
async fn until_refused(s: &TestServer, client: &str, tag: &str) -> (usize, Value) {
    for n in 0..40 {
        let (status, answer) = sign_up_from(
            s,
            Some(client),
            json!({"slug": format!("{tag}-{n}"), "admin_email": "not an address"}),
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            return (n, answer);
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    }
    panic!("{client} was never limited");
}

#[tokio::test]
async fn one_client_is_limited_per_address_and_per_ipv6_slash_64() {
    let s = open_for_signup(false).await.unwrap();
    let (passed, answer) = until_refused(&s, "203.0.113.7", "v4").await;
    assert!(passed >= 1, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("this client"),
        "{answer}"
    );
    // Another address of the same /64 is the same client...
    let (status, _) = sign_up_from(
        &s,
        Some("2001:db8:1:2::1"),
        json!({"slug": "x-1", "admin_email": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (passed_v6, _) = until_refused(&s, "2001:db8:1:2::2", "v6").await;
    let (status, _) = sign_up_from(
        &s,
        Some("2001:db8:1:2:ffff::9"),
        json!({"slug": "x-2", "admin_email": "nope"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "same /64, same limit"
    );
    assert!(passed_v6 >= 1);
    // ... another /64 is not.
    let (status, _) = sign_up_from(
        &s,
        Some("2001:db8:1:3::1"),
        json!({"slug": "x-3", "admin_email": "nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn all_sign_ups_together_are_limited() {
    let s = open_for_signup(false).await.unwrap();
    let mut refused = None;
    for n in 0..200u32 {
        // A new /64 every time: no one client is limited.
        let client = format!("2001:db8:{:x}:{:x}::1", n / 256 + 100, n % 256);
        let (status, answer) = sign_up_from(
            &s,
            Some(&client),
            json!({"slug": format!("campaign-{n}"), "admin_email": "not an address"}),
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a campaign from many clients is limited in all");
    assert!(
        refused["error"].as_str().unwrap().contains("at the moment"),
        "{refused}"
    );
}
