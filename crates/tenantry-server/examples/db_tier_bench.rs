//! The database-tier benchmark: many tenants, each in its own PostgreSQL
//! database, all active against one server with a fixed connection budget.
//!
//! ```text
//! cargo run --release --example db_tier_bench -- provision OWNER_URL [TENANTS] [CONCURRENCY]
//! cargo run --release --example db_tier_bench -- load BASE_URL OWNER_URL SECRET SERVER_PID [TENANTS] [ROUNDS] [IN_FLIGHT]
//! ```
//!
//! `provision` drops and recreates OWNER_URL's database (and its tenant
//! databases), then creates TENANTS (1,000) database-tier tenants `d0000…`
//! the way `tenantry tenants create --tier database` does — a database
//! each, migrated — and seeds each with the demo's rows. `load` sends
//! ROUNDS (3) rounds of `GET /api/orders` to every tenant, IN_FLIGHT (64)
//! at a time, through a running `tenantry serve` at BASE_URL, while it
//! samples PostgreSQL's count of the app role's sessions; it prints that
//! peak, the server's resident memory (from /proc/SERVER_PID) and the
//! status counts. `bench/db-tier.sh` runs both around a release server.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tenantry::context::Tier;
use tenantry::data::postgres::{migrate, tenant_database_prefix};
use tenantry::edge::{Claims, issue_hs256};
use tenantry_server::settings::Settings;

const APP_ROLE: &str = "tenantry_app";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    match arg(0) {
        Some("provision") => {
            let url = arg(1).context("provision OWNER_URL [TENANTS] [CONCURRENCY]")?;
            let tenants = arg(2).map_or(Ok(1000), str::parse)?;
            let concurrency = arg(3).map_or(Ok(8), str::parse)?;
            provision(url, tenants, concurrency).await
        }
        Some("load") => {
            let usage = "load BASE_URL OWNER_URL SECRET SERVER_PID [TENANTS] [ROUNDS] [IN_FLIGHT]";
            let (base, url, secret) = (
                arg(1).context(usage)?,
                arg(2).context(usage)?,
                arg(3).context(usage)?,
            );
            let pid: u32 = arg(4).context(usage)?.parse()?;
            let tenants = arg(5).map_or(Ok(1000), str::parse)?;
            let rounds = arg(6).map_or(Ok(3), str::parse)?;
            let in_flight = arg(7).map_or(Ok(64), str::parse)?;
            load(base, url, secret, pid, tenants, rounds, in_flight).await
        }
        _ => bail!("usage: db_tier_bench provision … | load …"),
    }
}

fn slug(i: usize) -> String {
    format!("d{i:04}")
}

async fn provision(url: &str, tenants: usize, concurrency: usize) -> anyhow::Result<()> {
    support::recreate_database(url).await?;
    let settings = Settings {
        database_url: Some(url.to_owned()),
        data_dir: Some(std::env::temp_dir().join("tenantry-db-tier-bench")),
        jwt_secret: Some("db-tier-bench-secret-0123456789abcdef".into()),
        pool_size: Some(concurrency * 2),
        ..Settings::default()
    };
    let services = Arc::new(tenantry_server::app::open(&settings.resolve()?).await?);
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (services, next) = (services.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= tenants {
                    return anyhow::Ok(());
                }
                let slug = slug(i);
                tenantry_server::demo::seed_tenant(
                    &services,
                    &slug,
                    &slug,
                    tenantry_server::plans::PRO,
                    Tier::Database,
                )
                .await
                .with_context(|| format!("provisioning {slug}"))?;
            }
        });
    }
    for result in workers.join_all().await {
        result?;
    }
    println!(
        "provisioned {tenants} database-tier tenants ({concurrency} at a time: CREATE DATABASE, migrate, seed) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn token(secret: &str, tenant: &str) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = Claims {
        sub: tenantry_server::demo::user_id(tenant, "member").to_string(),
        tenant: tenant.to_owned(),
        role: Some("member".into()),
        exp,
        ..Claims::default()
    };
    Ok(issue_hs256(secret.as_bytes(), &claims)?)
}

#[allow(clippy::too_many_arguments)]
async fn load(
    base: &str,
    url: &str,
    secret: &str,
    pid: u32,
    tenants: usize,
    rounds: usize,
    in_flight: usize,
) -> anyhow::Result<()> {
    let name = tenantry_server::pg_url::database(url)?.context("the URL names no database")?;
    let owner = migrate::connect(url).await?;
    let rss_before = rss_kib(pid, "VmRSS")?;

    // Peak app-role sessions on the bench's databases, sampled every 10 ms.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        let prefix = tenant_database_prefix(&name);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let row = owner
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND (datname = $2 OR starts_with(datname, $3))",
                        &[&APP_ROLE, &name, &prefix],
                    )
                    .await?;
                peak.fetch_max(row.get(0), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            anyhow::Ok(owner)
        })
    };

    let http = tenantry::https::client()?;
    let tokens: Vec<String> = (0..tenants)
        .map(|i| token(secret, &slug(i)))
        .collect::<Result<_, _>>()?;
    let tokens = Arc::new(tokens);
    let limit = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for round in 0..rounds {
        for i in 0..tenants {
            let permit = limit.clone().acquire_owned().await?;
            let (http, tokens) = (http.clone(), tokens.clone());
            let url = format!("{base}/t/{}/api/orders", slug(i));
            requests.spawn(async move {
                let _permit = permit;
                let response = http.get(url).bearer_auth(&tokens[i]).send().await?;
                let status = response.status().as_u16();
                response.bytes().await?;
                anyhow::Ok((round, status))
            });
        }
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for result in requests.join_all().await {
        let (_, status) = result?;
        *statuses.entry(status).or_default() += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    let owner = sampler.await??;
    let total: usize = statuses.values().sum();
    println!(
        "{total} requests ({rounds} rounds over {tenants} database-tier tenants, {in_flight} in flight) in {elapsed:.2} s = {:.0} req/s; statuses {statuses:?}",
        total as f64 / elapsed
    );
    println!(
        "peak app-role PostgreSQL sessions: {}",
        peak.load(Ordering::SeqCst)
    );
    let now: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            &[&APP_ROLE],
        )
        .await?
        .get(0);
    println!("app-role sessions after the load: {now}");
    println!(
        "server RSS: {} KiB before, {} KiB after, peak {} KiB",
        rss_before,
        rss_kib(pid, "VmRSS")?,
        rss_kib(pid, "VmHWM")?
    );
    Ok(())
}

/// A memory figure of process `pid` from `/proc/PID/status`, in KiB.
fn rss_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("malformed status line")?
        .parse()?)
}
