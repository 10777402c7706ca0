//! The server with its app connections through PgBouncer in transaction
//! mode (a pool of 4 server connections) and `--database-pooler
//! transaction`: the leak probe is clean on every tier, sixteen tenants'
//! concurrent reads and writes all succeed and see only their own rows,
//! and the job workers deliver every invoice e-mail.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use common::{TestServer, emails, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tenantry::context::Tier;
use tenantry_testkit::pgbouncer::PgBouncer;

const APP_ROLE: &str = "tenantry_app";

/// The server, the pooler in front of its database, and its outbox.
async fn behind_pgbouncer(outbox: &Path) -> Option<(TestServer, PgBouncer)> {
    let pg = tenantry_testkit::postgres().await?;
    let pooler = PgBouncer::start(pg.url(), &[APP_ROLE], 4)?;
    let app_url = pooler.url(APP_ROLE, pg.name());
    let outbox = outbox.to_owned();
    let server = TestServer::on_postgres(pg, move |settings| {
        settings.app_database_url = Some(app_url);
        settings.database_pooler = Some("transaction".into());
        settings.pool_size = Some(24);
        settings.outbox_dir = Some(outbox);
    })
    .await;
    Some((server, pooler))
}

async fn assert_no_leaks(s: &TestServer, attacker: &str, victim: &str) {
    let report = s.leak_probe(attacker, victim).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.checks.len() > 20, "{report}");
}

#[tokio::test]
async fn the_server_serves_every_tier_and_runs_its_jobs_through_transaction_pooling() {
    let outbox =
        std::env::temp_dir().join(format!("tenantry-outbox-{}", uuid::Uuid::new_v4().simple()));
    let Some((s, pooler)) = behind_pgbouncer(&outbox).await else {
        return;
    };
    let tiers = [Tier::Shared, Tier::Schema, Tier::Database];
    let mut slugs = vec!["acme".to_owned(), "globex".to_owned()];
    for i in 0..14 {
        let slug = format!("pooled{i}");
        s.seed(&slug, tenantry_server::plans::PRO, tiers[i % 3])
            .await;
        slugs.push(slug);
    }

    for (attacker, victim) in [
        ("acme", "pooled1"),
        ("pooled1", "pooled2"),
        ("pooled2", "acme"),
    ] {
        assert_no_leaks(&s, attacker, victim).await;
    }

    // Sixteen tenants at once, each writing and reading its own orders.
    let mut load = tokio::task::JoinSet::new();
    for slug in &slugs {
        let mut own: HashSet<String> = s
            .ids(slug, "/api/orders", "orders")
            .await
            .into_iter()
            .collect();
        let (http, url, host, token) = (
            s.http.clone(),
            s.url("/api/orders"),
            format!("{slug}.localhost:{}", s.addr.port()),
            s.token(slug, "admin"),
        );
        let slug = slug.clone();
        load.spawn(async move {
            for n in 0..25 {
                let (status, order) = status_and_json(
                    http.post(&url)
                        .header("host", &host)
                        .bearer_auth(&token)
                        .json(&json!({ "customer": format!("{slug} {n}"), "total_cents": n })),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{slug}: {order}");
                own.insert(order["id"].as_str().unwrap().to_owned());
                let (status, list) =
                    status_and_json(http.get(&url).header("host", &host).bearer_auth(&token)).await;
                assert_eq!(status, StatusCode::OK, "{slug}: {list}");
                for order in list["orders"].as_array().unwrap() {
                    let id = order["id"].as_str().unwrap();
                    assert!(own.contains(id), "{slug} was shown order {order}");
                }
            }
        });
    }
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }

    // Jobs: each invoice's e-mail is written by a worker that claimed it
    // through the pooler.
    let mut numbers = Vec::new();
    for slug in ["acme", "pooled0", "pooled1", "pooled2"] {
        let invoice = s.invoice_an_order(slug, &format!("pooled-{slug}")).await;
        numbers.push((slug, invoice["number"].as_i64().unwrap()));
    }
    for (slug, number) in numbers {
        let dir = outbox.join(slug);
        let subject = format!("Invoice #{number} issued");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !emails(&dir).iter().any(|m| m.contains(&subject)) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{slug}'s invoice e-mail never came; pooler log:\n{}",
                pooler.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (status, _) = status_and_json(s.as_tenant("acme", Method::GET, "/api/orders")).await;
    assert_eq!(status, StatusCode::OK);
    drop(s);
    let _ = std::fs::remove_dir_all(&outbox);
}
