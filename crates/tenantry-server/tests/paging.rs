//! Every list endpoint is paged: a bounded page by default, a 400 beyond
//! the largest, and a cursor that walks the whole list exactly once.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashSet;

use common::{TestServer, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn lists_are_paged_on_sqlite_and_postgres() {
    for s in [
        Some(TestServer::sqlite().await),
        TestServer::postgres().await,
    ]
    .into_iter()
    .flatten()
    {
        for i in 0..7 {
            let (status, _) = status_and_json(
                s.as_tenant("acme", Method::POST, "/api/users")
                    .json(&json!({"email": format!("page{i}@acme.example"), "name": "P"})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        for order in s.ids("acme", "/api/orders?limit=100", "orders").await {
            s.as_tenant("acme", Method::POST, "/api/invoices")
                .json(&json!({"order_id": order}))
                .send()
                .await
                .unwrap();
        }
        let users = walk(&s, "/api/users", "users", "after", "next_after").await;
        assert_eq!(users.len(), 9, "two demo users and seven new ones");
        let invoices = walk(&s, "/api/invoices", "invoices", "before", "next_before").await;
        assert_eq!(invoices.len(), 5, "every demo order invoiced");

        for path in [
            "/api/users",
            "/api/invoices",
            "/api/orders",
            "/api/jobs/dead",
        ] {
            for bad in ["limit=0", "limit=101", "limit=-1", "limit=x"] {
                let (status, body) =
                    status_and_json(s.as_tenant("acme", Method::GET, &format!("{path}?{bad}")))
                        .await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{bad}: {body}");
            }
        }
        let (status, dead) =
            status_and_json(s.as_tenant("acme", Method::GET, "/api/jobs/dead?limit=1")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(dead["dead"].as_array().unwrap().len(), 1);
        let before = dead["next_before"]
            .as_i64()
            .expect("a full page has a next one");
        let (_, rest) = status_and_json(s.as_tenant(
            "acme",
            Method::GET,
            &format!("/api/jobs/dead?limit=100&before={before}"),
        ))
        .await;
        assert!(
            rest["dead"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["id"].as_i64().unwrap() < before),
            "{rest}"
        );
    }
}

/// Follows `cursor` pages of 2 through `path`; every id, checked unique.
async fn walk(s: &TestServer, path: &str, key: &str, param: &str, next: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<Value> = None;
    for _ in 0..50 {
        let url = match &cursor {
            None => format!("{path}?limit=2"),
            Some(Value::String(c)) => format!("{path}?limit=2&{param}={c}"),
            Some(c) => format!("{path}?limit=2&{param}={c}"),
        };
        let (status, page) = status_and_json(s.as_tenant("acme", Method::GET, &url)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let items = page[key].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match page.get(next) {
            Some(c) => cursor = Some(c.clone()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no item twice: {seen:?}");
    seen
}
