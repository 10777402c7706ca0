//! The API suite, run against the real server on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{TestServer, status_and_json, token_with};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::context::Tier;
use tenantry::registry::TenantState;

#[tokio::test]
async fn api_on_sqlite() {
    let s = TestServer::sqlite().await;
    // A database-tier tenant: its own SQLite file, in the same server.
    s.seed(
        "umbrella",
        tenantry_server::plans::ENTERPRISE,
        Tier::Database,
    )
    .await;
    suite(&s, "acme", "globex").await;
    suite(&s, "umbrella", "acme").await;
    suite(&s, "acme", "umbrella").await;
    server_wide(&s).await;
}

/// Shared-tier `acme` and `globex`, schema-tier `initech` and database-tier
/// `umbrella`, all in one server.
#[tokio::test]
async fn api_on_postgres_across_tiers() {
    let Some(s) = TestServer::postgres().await else {
        return;
    };
    s.seed("initech", tenantry_server::plans::PRO, Tier::Schema)
        .await;
    s.seed(
        "umbrella",
        tenantry_server::plans::ENTERPRISE,
        Tier::Database,
    )
    .await;
    suite(&s, "acme", "globex").await;
    suite(&s, "initech", "acme").await;
    suite(&s, "acme", "initech").await;
    suite(&s, "umbrella", "initech").await;
    suite(&s, "initech", "umbrella").await;
    suite(&s, "acme", "umbrella").await;
    server_wide(&s).await;
}

/// The testkit drops tenant databases by the prefix tenantry names them with.
#[test]
fn testkit_knows_the_tenant_database_prefix() {
    for name in ["tenantry", "tenantry_test_0123", ""] {
        assert_eq!(
            tenantry_testkit::tenant_database_prefix(name),
            tenantry::data::postgres::tenant_database_prefix(name)
        );
    }
}

/// Everything that involves a pair of tenants: `a` acts, `b` is the other.
async fn suite(s: &TestServer, a: &str, b: &str) {
    println!("API suite on {} with {a} and {b}", s.backend_name());
    orders_crud(s, a).await;
    pagination(s, b).await;
    invoices_flow(s, b).await;
    users_need_admin(s, a, b).await;
    bad_input_is_a_clear_400(s, a).await;
    foreign_ids_are_404_everywhere(s, a, b).await;
    edge_refusals(s, a, b).await;
}

/// Checks that create fixed tenants: once per server.
async fn server_wide(s: &TestServer) {
    resolvers(s).await;
    tenant_states(s).await;
}

async fn orders_crud(s: &TestServer, a: &str) {
    let (status, created) = status_and_json(
        s.as_tenant(a, Method::POST, "/api/orders")
            .json(&json!({"customer": "Zed", "total_cents": 1234})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["customer"], "Zed");
    assert_eq!(created["total_cents"], 1234);
    assert_eq!(created["status"], "open");
    let id = created["id"].as_str().unwrap().to_owned();

    let (status, got) =
        status_and_json(s.as_tenant(a, Method::GET, &format!("/api/orders/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["number"], created["number"]);

    let (status, patched) = status_and_json(
        s.as_tenant(a, Method::PATCH, &format!("/api/orders/{id}"))
            .json(&json!({"status": "paid"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["status"], "paid");
    assert_eq!(patched["customer"], "Zed", "absent fields are kept");

    let status = s
        .as_tenant(a, Method::DELETE, &format!("/api/orders/{id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let status = s
        .as_tenant(a, Method::GET, &format!("/api/orders/{id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn pagination(s: &TestServer, b: &str) {
    let (_, first) = status_and_json(s.as_tenant(b, Method::GET, "/api/orders?limit=2")).await;
    let page: Vec<i64> = first["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_i64().unwrap())
        .collect();
    assert_eq!(page.len(), 2);
    assert!(page[0] > page[1], "newest first");
    let before = first["next_before"].as_i64().unwrap();
    let (_, second) = status_and_json(s.as_tenant(
        b,
        Method::GET,
        &format!("/api/orders?limit=2&before={before}"),
    ))
    .await;
    let next: Vec<i64> = second["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_i64().unwrap())
        .collect();
    assert!(next.iter().all(|n| *n < before), "{next:?} after {before}");
    assert!(!next.is_empty());
}

async fn invoices_flow(s: &TestServer, b: &str) {
    let (_, order) = status_and_json(
        s.as_tenant(b, Method::POST, "/api/orders")
            .json(&json!({"customer": "Inv", "total_cents": 999})),
    )
    .await;
    let order_id = order["id"].as_str().unwrap();
    let (status, invoice) = status_and_json(
        s.as_tenant(b, Method::POST, "/api/invoices")
            .json(&json!({"order_id": order_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    assert_eq!(invoice["amount_cents"], 999);
    let (status, _) = status_and_json(
        s.as_tenant(b, Method::POST, "/api/invoices")
            .json(&json!({"order_id": order_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "one invoice per order");

    let status = s
        .as_tenant(b, Method::DELETE, &format!("/api/orders/{order_id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "an invoiced order cannot be deleted"
    );

    let invoice_id = invoice["id"].as_str().unwrap();
    let (status, paid) =
        status_and_json(s.as_tenant(b, Method::POST, &format!("/api/invoices/{invoice_id}/pay")))
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paid["status"], "paid");
    assert!(paid["paid_at"].is_string());
    let (status, _) =
        status_and_json(s.as_tenant(b, Method::POST, &format!("/api/invoices/{invoice_id}/pay")))
            .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn users_need_admin(s: &TestServer, a: &str, b: &str) {
    let member = s.token(a, "member");
    let (status, _) = status_and_json(
        s.request(a, &member, Method::POST, "/api/users")
            .json(&json!({"email": format!("x@{a}.example"), "name": "X"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, users) = status_and_json(s.request(a, &member, Method::GET, "/api/users")).await;
    assert_eq!(status, StatusCode::OK);
    let mine: Vec<&str> = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(!mine.is_empty(), "the member sees its own tenant's users");
    let theirs = s.ids(b, "/api/users", "users").await;
    assert!(
        theirs.iter().all(|id| !mine.contains(&id.as_str())),
        "{a} sees none of {b}'s users"
    );

    // Unique per run: the suite runs several times against one server.
    let local = format!("new-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let email = format!("{local}@{a}.example");
    let (status, user) = status_and_json(
        s.as_tenant(a, Method::POST, "/api/users")
            .json(&json!({"email": email.to_uppercase(), "name": "New"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], email, "e-mails are stored lowercase");
    let (status, conflict) = status_and_json(
        s.as_tenant(a, Method::POST, "/api/users")
            .json(&json!({"email": email, "name": "Dup"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The database's own text (constraint names, key values, tenant ids)
    // stays in the logs.
    assert_eq!(conflict, json!({"error": "a user with that e-mail exists"}));
    // The same e-mail is free in another tenant.
    let (status, _) = status_and_json(
        s.as_tenant(b, Method::POST, "/api/users")
            .json(&json!({"email": email, "name": "Twin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn bad_input_is_a_clear_400(s: &TestServer, a: &str) {
    let before = s.ids(a, "/api/orders?limit=100", "orders").await.len();
    let cases = [
        (json!({"customer": "", "total_cents": 1}), Some("customer")),
        (
            json!({"customer": "A", "total_cents": -1}),
            Some("total_cents"),
        ),
        (json!({"customer": "A", "total_cents": "12"}), None),
        (json!({"customer": "A"}), None),
        (
            json!({"customer": "A", "total_cents": 1, "tenant_id": "x"}),
            None,
        ),
    ];
    for (body, field) in cases {
        let (status, answer) =
            status_and_json(s.as_tenant(a, Method::POST, "/api/orders").json(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        if let Some(field) = field {
            assert_eq!(answer["field"], field);
        }
    }
    let (status, answer) = status_and_json(
        s.as_tenant(a, Method::POST, "/api/orders")
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    for query in ["limit=0", "limit=101", "limit=abc", "before=x"] {
        let (status, _) =
            status_and_json(s.as_tenant(a, Method::GET, &format!("/api/orders?{query}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    let (status, _) = status_and_json(s.as_tenant(a, Method::GET, "/api/orders/not-a-uuid")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let after = s.ids(a, "/api/orders?limit=100", "orders").await.len();
    assert_eq!(before, after, "no bad request wrote anything");
}

async fn foreign_ids_are_404_everywhere(s: &TestServer, a: &str, b: &str) {
    let other_order = s.ids(b, "/api/orders", "orders").await.remove(0);
    let other_user = s.ids(b, "/api/users", "users").await.remove(0);
    let other_invoice = s.ids(b, "/api/invoices", "invoices").await.remove(0);
    let attempts = [
        (Method::GET, format!("/api/orders/{other_order}"), None),
        (
            Method::PATCH,
            format!("/api/orders/{other_order}"),
            Some(json!({"customer": "pwned"})),
        ),
        (Method::DELETE, format!("/api/orders/{other_order}"), None),
        (Method::GET, format!("/api/users/{other_user}"), None),
        (
            Method::PATCH,
            format!("/api/users/{other_user}"),
            Some(json!({"name": "pwned"})),
        ),
        (Method::DELETE, format!("/api/users/{other_user}"), None),
        (Method::GET, format!("/api/invoices/{other_invoice}"), None),
        (
            Method::POST,
            format!("/api/invoices/{other_invoice}/pay"),
            None,
        ),
        (
            Method::POST,
            "/api/invoices".to_owned(),
            Some(json!({"order_id": other_order})),
        ),
    ];
    for (method, path, body) in attempts {
        let mut req = s.as_tenant(a, method.clone(), &path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let (status, answer) = status_and_json(req).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{method} {path} as {a} → {answer}"
        );
    }
    // And nothing of the other tenant changed.
    let (_, order) =
        status_and_json(s.as_tenant(b, Method::GET, &format!("/api/orders/{other_order}"))).await;
    assert_ne!(order["customer"], "pwned");
    let (status, _) =
        status_and_json(s.as_tenant(b, Method::GET, &format!("/api/users/{other_user}"))).await;
    assert_eq!(status, StatusCode::OK);
}

async fn edge_refusals(s: &TestServer, a: &str, b: &str) {
    let own_token = s.token(a, "admin");
    let other_token = s.token(b, "admin");
    let cases = [
        (
            s.request(a, &other_token, Method::GET, "/api/orders"),
            StatusCode::FORBIDDEN,
        ),
        (
            s.http
                .get(s.url("/api/orders"))
                .header("host", format!("{a}.localhost:{}", s.addr.port())),
            StatusCode::UNAUTHORIZED,
        ),
        (
            s.request(a, "garbage", Method::GET, "/api/orders"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            s.request(
                a,
                &token_with(common::SECRET, a, "admin", -600),
                Method::GET,
                "/api/orders",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            s.request(
                a,
                &token_with("another-secret-0123456789", a, "admin", 600),
                Method::GET,
                "/api/orders",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            s.request(
                "nosuch",
                &s.token("nosuch", "admin"),
                Method::GET,
                "/api/orders",
            ),
            StatusCode::NOT_FOUND,
        ),
        // Own host, another tenant in the header: every claim must match.
        (
            s.request(a, &own_token, Method::GET, "/api/orders")
                .header("x-tenant-id", b),
            StatusCode::FORBIDDEN,
        ),
        (
            s.request(a, &own_token, Method::GET, &format!("/t/{b}/api/orders")),
            StatusCode::FORBIDDEN,
        ),
        (
            s.http.get(s.url("/api/orders")).bearer_auth(&own_token),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (i, (req, expected)) in cases.into_iter().enumerate() {
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), expected, "case {i}");
        assert!(
            response.headers().contains_key("x-request-id"),
            "case {i}: every answer has a request id"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "case {i}: {body}");
    }
    let (_, mismatch) =
        status_and_json(s.request(a, &other_token, Method::GET, "/api/orders")).await;
    assert_eq!(mismatch, json!({"error": "tenant mismatch"}));

    let echoed = s
        .as_tenant(a, Method::GET, "/api/orders")
        .header("x-request-id", "probe-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "probe-123");
    let replaced = s
        .as_tenant(a, Method::GET, "/api/orders")
        .header("x-request-id", "bad id\t!")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id\t!");
}

async fn resolvers(s: &TestServer) {
    let token = s.token("acme", "member");
    let by_prefix = s
        .http
        .get(s.url("/t/acme/api/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_prefix.status(), StatusCode::OK);
    let by_header = s
        .http
        .get(s.url("/api/orders"))
        .bearer_auth(&token)
        .header("x-tenant-id", "acme")
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::OK);
    let acme = s.record("acme").await;
    let by_id = s
        .http
        .get(s.url("/api/orders"))
        .bearer_auth(&token)
        .header("x-tenant-id", acme.id.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.status(), StatusCode::OK);

    let shop = s
        .services
        .tenants
        .create(tenantry::registry::NewTenant {
            id: None,
            slug: "shop".into(),
            name: "Shop".into(),
            plan: tenantry_server::plans::PRO,
            tier: tenantry::context::Tier::Shared,
            state: TenantState::Active,
            domains: vec!["orders.shop.example".into()],
            database_server: None,
        })
        .await
        .unwrap();
    s.add_member(&shop, &shop.id.to_string(), "member").await;
    let custom = s
        .http
        .get(s.url("/api/orders"))
        .header("host", "orders.shop.example")
        .bearer_auth(s.token(&shop.id.to_string(), "member"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        custom.status(),
        StatusCode::OK,
        "custom domain, token naming the tenant by id"
    );
    let body: serde_json::Value = custom.json().await.unwrap();
    assert_eq!(
        body["orders"],
        json!([]),
        "a new tenant sees no one else's orders"
    );
}

async fn tenant_states(s: &TestServer) {
    let globex = s.record("globex").await;
    s.services
        .tenants
        .set_state(globex.id, TenantState::Suspended)
        .await
        .unwrap();
    let (status, body) = status_and_json(s.as_tenant("globex", Method::GET, "/api/orders")).await;
    assert_eq!(
        (status, body),
        (StatusCode::FORBIDDEN, json!({"error": "tenant suspended"})),
        "seen at once, not after the TTL"
    );
    s.services
        .tenants
        .set_state(globex.id, TenantState::Active)
        .await
        .unwrap();
    assert_eq!(
        s.as_tenant("globex", Method::GET, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let fresh = s
        .services
        .tenants
        .create(tenantry::registry::NewTenant {
            id: None,
            slug: "fresh".into(),
            name: "Fresh".into(),
            plan: tenantry_server::plans::FREE,
            tier: tenantry::context::Tier::Shared,
            state: TenantState::Provisioning,
            domains: vec![],
            database_server: None,
        })
        .await
        .unwrap();
    let response = s
        .as_tenant("fresh", Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    s.services
        .tenants
        .set_state(fresh.id, TenantState::Deleting)
        .await
        .unwrap();
    assert_eq!(
        s.as_tenant("fresh", Method::GET, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn jwks_tokens_are_accepted_when_configured() {
    jwks_tokens(false).await;
    jwks_tokens(true).await;
}

async fn jwks_tokens(allow_hs256: bool) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tenantry/tests/fixtures");
    let jwks = fixtures.join("jwks-a.json").display().to_string();
    let s = TestServer::sqlite_with(|settings| {
        settings.jwks = Some(jwks);
        settings.jwt_allow_hs256 = allow_hs256;
    })
    .await;
    let sign = |key_file: &str| {
        tenantry::edge::install_jwt_crypto();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("ec-a".into());
        let claims = tenantry::edge::Claims {
            sub: tenantry_server::demo::user_id("acme", "member").to_string(),
            tenant: "acme".into(),
            role: None,
            exp: jsonwebtoken::get_current_timestamp() + 600,
            ..tenantry::edge::Claims::default()
        };
        let key =
            EncodingKey::from_ec_pem(&std::fs::read(fixtures.join(key_file)).unwrap()).unwrap();
        encode(&header, &claims, &key).unwrap()
    };
    let ok = s
        .request("acme", &sign("es256-a.pem"), Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let forged = s
        .request("acme", &sign("es256-b.pem"), Method::GET, "/api/orders")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // Beside a JWKS the shared secret is no key, unless explicitly allowed.
    assert_eq!(
        s.as_tenant("acme", Method::GET, "/api/orders")
            .send()
            .await
            .unwrap()
            .status(),
        if allow_hs256 {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    );
}
