//! Authentication as an attacker and an ex-employee see it: nothing about
//! which tenants exist leaks before (or beside) a valid token, and a user
//! removed or demoted loses those rights at once, whatever their token says.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json, token_for};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn anonymous_callers_cannot_tell_real_tenants_from_made_up_ones() {
    let s = TestServer::sqlite().await;
    let port = s.addr.port();
    // Warm the cache with the real tenants, then count what reaches the store.
    for slug in ["acme", "globex"] {
        let (status, _) = status_and_json(s.as_tenant(slug, Method::GET, "/api/orders")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, store_lookups_before) = s.services.tenants.cache_stats();

    let anonymous = |host: String, path: &str| s.http.get(s.url(path)).header("host", host);
    let mut answers = Vec::new();
    for (i, tenant) in ["acme", "nosuch"].into_iter().enumerate() {
        for request in [
            anonymous(format!("{tenant}.localhost:{port}"), "/api/orders"),
            anonymous(
                format!("127.0.0.1:{port}"),
                &format!("/t/{tenant}/api/orders"),
            ),
            anonymous(
                format!("{tenant}.localhost:{port}"),
                "/files/invoices/x/receipt.txt",
            ),
            anonymous(
                format!("{tenant}.localhost:{port}"),
                "/files/invoices/x/receipt.txt?expires=9999999999&signature=00",
            ),
            s.http
                .get(s.url("/api/orders"))
                .header("x-tenant-id", tenant)
                .bearer_auth("not-a-token"),
        ] {
            let (status, body) = status_and_json(request).await;
            answers.push((i, status, body));
        }
    }
    for (_, status, body) in &answers {
        assert_eq!(
            (*status, body),
            (
                StatusCode::UNAUTHORIZED,
                &json!({"error": "missing or invalid bearer token"})
            ),
            "every anonymous request gets the same answer: {answers:?}"
        );
    }
    // Made-up names from anonymous callers cost no registry query; signed
    // paths do look the claimed tenant up, once per made-up name.
    for i in 0..20 {
        let (status, _) = status_and_json(anonymous(
            format!("guess{i}.localhost:{port}"),
            "/api/orders",
        ))
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (_, store_lookups_after) = s.services.tenants.cache_stats();
    assert_eq!(
        store_lookups_after - store_lookups_before,
        1,
        "only the signed path's made-up tenant was looked up"
    );
}

#[tokio::test]
async fn a_token_holder_cannot_tell_another_tenant_from_a_made_up_one() {
    let s = TestServer::sqlite().await;
    let token = s.token("acme", "member");
    let claim = |header: &str| {
        s.http
            .get(s.url("/api/orders"))
            .bearer_auth(&token)
            .header("x-tenant-id", header.to_owned())
    };
    let (status, body) = status_and_json(claim("acme")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, before) = s.services.tenants.cache_stats();
    let other = status_and_json(claim("globex")).await;
    let made_up = status_and_json(claim("nosuch")).await;
    let made_up_id = status_and_json(claim(&uuid::Uuid::new_v4().to_string())).await;
    let expected = (StatusCode::FORBIDDEN, json!({"error": "tenant mismatch"}));
    assert_eq!(other, expected);
    assert_eq!(made_up, expected);
    assert_eq!(made_up_id, expected);
    let (_, after) = s.services.tenants.cache_stats();
    assert_eq!(
        after, before,
        "claims are compared with the token's tenant, never looked up"
    );
}

#[tokio::test]
async fn a_demoted_or_removed_user_loses_access_at_once() {
    for s in [
        Some(TestServer::sqlite().await),
        TestServer::postgres().await,
    ]
    .into_iter()
    .flatten()
    {
        let email = format!("boss-{}@acme.example", uuid::Uuid::new_v4().simple());
        let (status, user) = status_and_json(
            s.as_tenant("acme", Method::POST, "/api/users")
                .json(&json!({"email": email, "name": "Boss", "role": "admin"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        let id: uuid::Uuid = user["id"].as_str().unwrap().parse().unwrap();
        // A 12-hour admin token, minted while the user was an admin.
        let boss = token_for(common::SECRET, "acme", id, "admin", 12 * 3600);
        let as_boss = |method: Method, path: &str| s.request("acme", &boss, method, path);
        let new_user = || {
            let email = format!("hire-{}@acme.example", uuid::Uuid::new_v4().simple());
            json!({"email": email, "name": "Hire"})
        };
        let (status, _) =
            status_and_json(as_boss(Method::POST, "/api/users").json(&new_user())).await;
        assert_eq!(status, StatusCode::CREATED, "an admin may add users");

        let (status, _) = status_and_json(
            s.as_tenant("acme", Method::PATCH, &format!("/api/users/{id}"))
                .json(&json!({"role": "member"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) =
            status_and_json(as_boss(Method::POST, "/api/users").json(&new_user())).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "demoted: the token's role no longer counts"
        );
        let (status, _) = status_and_json(as_boss(Method::GET, "/api/orders")).await;
        assert_eq!(status, StatusCode::OK, "still a member");

        let (status, _) =
            status_and_json(s.as_tenant("acme", Method::DELETE, &format!("/api/users/{id}"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = status_and_json(as_boss(Method::GET, "/api/orders")).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "removed: the token opens nothing"
        );
    }
}

#[tokio::test]
async fn a_token_for_someone_who_never_was_a_member_is_refused() {
    let s = TestServer::sqlite().await;
    let stranger = token_for(common::SECRET, "acme", uuid::Uuid::new_v4(), "admin", 600);
    let (status, _) =
        status_and_json(s.request("acme", &stranger, Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A member's token cannot be lifted to admin by what it claims.
    let member = tenantry_server::demo::user_id("acme", "member");
    let lifted = token_for(common::SECRET, "acme", member, "admin", 600);
    let (status, _) = status_and_json(
        s.request("acme", &lifted, Method::POST, "/api/users")
            .json(&json!({"email": "x@acme.example", "name": "X"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
