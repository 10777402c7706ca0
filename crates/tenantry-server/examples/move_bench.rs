//! Run with `cargo run --release --example move_bench -- OWNER_URL [ORDERS] [WRITES_PER_S] [SECONDS_BASELINE]`.
//!
//! The online tier move under load, on the real server (HTTP, RLS,
//! logging and every check on) over PostgreSQL, in the database OWNER_URL
//! names (dropped and recreated). A tenant with ORDERS (100,000) orders,
//! each invoiced, moves shared → database → shared (retention 0: each
//! source is retired at once) while a load generator writes
//! WRITES_PER_S (250) for it — an order, then its invoice — reads its
//! order list, and reads for 20 other tenants. Printed:
//!
//! - writes lost: acknowledged (201) writes missing from the final tier,
//!   checked against the generator's own log (must be 0);
//! - writes duplicated: generator writes present more than once (0);
//! - the longest write of the whole run, and how many took over a second;
//! - the longest write latency within a second of each cutover step;
//! - reads answered with an error, the moving tenant's and the others';
//! - each move's total time and its steps';
//! - the other tenants' read p50/p99 during the moves against a baseline
//!   of SECONDS_BASELINE (20) without a move.

#[path = "support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tenantry::context::Tier;
use tenantry::edge::{Claims, issue_hs256};
use tenantry_server::settings::Settings;

const SECRET: &str = "move-bench-secret-0123456789abcdef0123";
const OTHERS: usize = 20;

/// One request of the load: when it started and ended, and its answer.
#[derive(Clone)]
struct Sample {
    started: SystemTime,
    took: Duration,
    ok: bool,
}

#[derive(Default)]
struct Log {
    writes: Vec<Sample>,
    /// Generator tags (the order's customer) of acknowledged orders, and
    /// ids of acknowledged invoices.
    acked_orders: Vec<String>,
    acked_invoices: Vec<String>,
    mover_reads: Vec<Sample>,
    other_reads: Vec<Sample>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: move_bench OWNER_URL [ORDERS] [WRITES_PER_S] [SECONDS_BASELINE]")?;
    let orders: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let rate: u64 = args.next().map_or(Ok(250), |a| a.parse())?;
    let baseline: u64 = args.next().map_or(Ok(20), |a| a.parse())?;
    support::recreate_database(&url).await?;
    let data_dir = std::env::temp_dir().join(format!("tenantry-move-bench-{}", std::process::id()));
    let support::Serving {
        services,
        lifecycle,
        addr,
        stop: stop_server,
        workers: _workers,
    } = support::serve(Settings {
        database_url: Some(url.clone()),
        data_dir: Some(data_dir.clone()),
        jwt_secret: Some(SECRET.into()),
        ..Settings::default()
    })
    .await?;

    let mover = tenantry_server::demo::seed_tenant(
        &services,
        "mover",
        "Mover Inc",
        tenantry_server::plans::ENTERPRISE,
        Tier::Shared,
    )
    .await?;
    let mut others = Vec::new();
    for i in 0..OTHERS {
        let slug = format!("other{i}");
        tenantry_server::demo::seed_tenant(
            &services,
            &slug,
            &slug,
            tenantry_server::plans::PRO,
            Tier::Shared,
        )
        .await?;
        others.push(slug);
    }
    let filled = Instant::now();
    fill(&url, mover.id, orders).await?;
    println!(
        "mover: {orders} orders, each invoiced, written in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let client = Client {
        http: tenantry_testkit::http(),
        addr,
    };

    // Baseline: the same load, no move.
    let log = Arc::new(Mutex::new(Log::default()));
    let (stop, load) = client.load("quiet", rate, &others, log.clone());
    tokio::time::sleep(Duration::from_secs(baseline)).await;
    stop.send(true)?;
    load.await?;
    let quiet = std::mem::take(&mut *lock(&log));
    print_reads("baseline (no move)", &quiet);

    // The moves, under the same load.
    let (stop, load) = client.load("moving", rate, &others, log.clone());
    let mut cutovers = Vec::new();
    let mut total = Duration::ZERO;
    for to in [Tier::Database, Tier::Shared] {
        let record = services
            .tenants
            .find(&tenantry::registry::TenantKey::Id(mover.id))
            .await?
            .context("the mover")?;
        let from = record.tier;
        let started = Instant::now();
        let id = tenantry_server::lifecycle::tier_move::start(
            &lifecycle,
            &record,
            to,
            None,
            Duration::ZERO,
            false,
            "bench",
        )
        .await?;
        let done = tenantry_server::lifecycle::finished(&lifecycle, id).await?;
        anyhow::ensure!(
            done.state == tenantry::workflow::WorkflowState::Succeeded,
            "the move to {to}: {:?} {:#?}",
            done.error,
            done.steps
        );
        let took = started.elapsed();
        total += took;
        println!(
            "move {from} → {to}: {:.1} s ({})",
            took.as_secs_f64(),
            support::step_times(&done)
        );
        let cutover = done
            .steps
            .iter()
            .find(|s| s.name == "cutover")
            .context("a cutover step")?;
        cutovers.push((
            to,
            cutover.started_at.context("cutover start")?,
            cutover.finished_at.context("cutover end")?,
        ));
    }
    stop.send(true)?;
    load.await?;
    let busy = std::mem::take(&mut *lock(&log));
    print_reads("during the moves", &busy);

    let writes_ok = busy.writes.iter().filter(|w| w.ok).count();
    let writes_failed = busy.writes.len() - writes_ok;
    let span = busy
        .writes
        .iter()
        .map(|w| w.started)
        .max()
        .zip(busy.writes.iter().map(|w| w.started).min())
        .and_then(|(last, first)| last.duration_since(first).ok())
        .unwrap_or_default();
    println!(
        "writes: {} acknowledged, {writes_failed} answered with an error, {:.0} writes/s over {:.1} s",
        writes_ok,
        writes_ok as f64 / span.as_secs_f64().max(0.001),
        span.as_secs_f64()
    );
    // Every run says how long its slowest write took, whenever it was.
    let longest = busy.writes.iter().map(|w| w.took).max().unwrap_or_default();
    let over_a_second = busy
        .writes
        .iter()
        .filter(|w| w.took > Duration::from_secs(1))
        .count();
    println!(
        "longest write of the run: {:.0} ms ({over_a_second} over 1 s)",
        ms(longest)
    );
    for (to, from, until) in &cutovers {
        let window = (
            *from - Duration::from_secs(1),
            *until + Duration::from_secs(1),
        );
        let worst = busy
            .writes
            .iter()
            .filter(|w| w.started + w.took >= window.0 && w.started <= window.1)
            .map(|w| w.took)
            .max()
            .unwrap_or_default();
        println!(
            "cutover to {to} ({:.0} ms): longest write within a second of it {:.0} ms",
            ms(until.duration_since(*from).unwrap_or_default()),
            ms(worst)
        );
    }
    let (lost, duplicated) = check_writes(&url, mover.id, &busy).await?;
    println!(
        "writes lost: {lost} (of {} orders and {} invoices acknowledged); writes duplicated: {duplicated}",
        busy.acked_orders.len(),
        busy.acked_invoices.len()
    );
    println!("total move time: {:.1} s", total.as_secs_f64());

    let _ = stop_server.send(());
    drop(services);
    support::recreate_database(&url).await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

/// The log, even if a load task panicked holding it.
fn lock(log: &Mutex<Log>) -> std::sync::MutexGuard<'_, Log> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn print_reads(label: &str, log: &Log) {
    for (who, reads) in [("mover", &log.mover_reads), ("others", &log.other_reads)] {
        let mut took: Vec<Duration> = reads.iter().filter(|r| r.ok).map(|r| r.took).collect();
        took.sort();
        let errors = reads.iter().filter(|r| !r.ok).count();
        println!(
            "{label}: {who} reads p50 {:.1} ms  p99 {:.1} ms  ({} reads, {errors} errors)",
            ms(percentile(&took, 50)),
            ms(percentile(&took, 99)),
            reads.len()
        );
    }
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    addr: std::net::SocketAddr,
}

impl Client {
    fn token(slug: &str) -> String {
        let exp = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + 3600;
        issue_hs256(
            SECRET.as_bytes(),
            &Claims {
                sub: tenantry_server::demo::user_id(slug, "admin").to_string(),
                tenant: slug.to_owned(),
                role: Some("admin".into()),
                exp,
                ..Claims::default()
            },
        )
        .unwrap_or_default()
    }

    fn request(&self, slug: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("http://{}{path}", self.addr))
            .header("host", format!("{slug}.localhost:{}", self.addr.port()))
            .bearer_auth(Self::token(slug))
    }

    /// Sends `request`; the sample and, on `want`, the JSON body.
    async fn timed(
        request: reqwest::RequestBuilder,
        want: reqwest::StatusCode,
    ) -> (Sample, Option<serde_json::Value>) {
        let started = SystemTime::now();
        let clock = Instant::now();
        let answer = request.send().await;
        let (ok, body) = match answer {
            Ok(r) if r.status() == want => (true, r.json::<serde_json::Value>().await.ok()),
            _ => (false, None),
        };
        (
            Sample {
                started,
                took: clock.elapsed(),
                ok,
            },
            body,
        )
    }

    /// The load until told to stop: writers at `rate` writes/s in all for
    /// the mover (an order, then its invoice), its reads at 50/s, and 10
    /// reads/s for each of `others`.
    fn load(
        &self,
        phase: &'static str,
        rate: u64,
        others: &[String],
        log: Arc<Mutex<Log>>,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        const WRITERS: u64 = 8;
        for w in 0..WRITERS {
            let (client, log, stopped) = (self.clone(), log.clone(), stopped.clone());
            // Each pass is two writes.
            let every = Duration::from_micros(2 * 1_000_000 * WRITERS / rate.max(1));
            tasks.spawn(async move {
                let mut pace = tokio::time::interval(every);
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut n = 0u64;
                while !*stopped.borrow() {
                    pace.tick().await;
                    n += 1;
                    let tag = format!("gen-{phase}-{w}-{n}");
                    let order = client
                        .request("mover", reqwest::Method::POST, "/api/orders")
                        .json(&serde_json::json!({ "customer": tag, "total_cents": n }));
                    let (sample, body) = Self::timed(order, reqwest::StatusCode::CREATED).await;
                    let ok = sample.ok;
                    lock(&log).writes.push(sample);
                    let Some(id) = body
                        .filter(|_| ok)
                        .and_then(|b| b["id"].as_str().map(str::to_owned))
                    else {
                        continue;
                    };
                    lock(&log).acked_orders.push(tag);
                    let invoice = client
                        .request("mover", reqwest::Method::POST, "/api/invoices")
                        .json(&serde_json::json!({ "order_id": id }));
                    let (sample, body) = Self::timed(invoice, reqwest::StatusCode::CREATED).await;
                    let mut log = lock(&log);
                    if let Some(id) = body.and_then(|b| b["id"].as_str().map(str::to_owned)) {
                        log.acked_invoices.push(id);
                    }
                    log.writes.push(sample);
                }
            });
        }
        let readers: Vec<(String, Duration, bool)> =
            std::iter::once(("mover".to_owned(), Duration::from_millis(20), true))
                .chain(
                    others
                        .iter()
                        .map(|slug| (slug.clone(), Duration::from_millis(100), false)),
                )
                .collect();
        for (slug, every, is_mover) in readers {
            let (client, log, stopped) = (self.clone(), log.clone(), stopped.clone());
            tasks.spawn(async move {
                let mut pace = tokio::time::interval(every);
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while !*stopped.borrow() {
                    pace.tick().await;
                    let read = client.request(&slug, reqwest::Method::GET, "/api/orders?limit=20");
                    let (sample, _) = Self::timed(read, reqwest::StatusCode::OK).await;
                    let mut log = lock(&log);
                    if is_mover {
                        log.mover_reads.push(sample);
                    } else {
                        log.other_reads.push(sample);
                    }
                }
            });
        }
        let all = tokio::spawn(async move { while tasks.join_next().await.is_some() {} });
        (stop, all)
    }
}

/// Orders and invoices of the generator in the mover's final tier, as the
/// owner scoped to the mover: (acknowledged ones missing, ones present
/// more than once).
async fn check_writes(
    url: &str,
    tenant: tenantry::context::TenantId,
    log: &Log,
) -> anyhow::Result<(usize, usize)> {
    // The mover is back on the shared tier: the control database.
    let owner = tenantry::data::postgres::migrate::connect(url).await?;
    owner
        .batch_execute(&format!("SET app.tenant_id = '{tenant}'"))
        .await?;
    let rows = owner
        .query(
            "SELECT customer, count(*) FROM orders WHERE customer LIKE 'gen-moving-%' GROUP BY customer",
            &[],
        )
        .await?;
    let present: std::collections::HashMap<String, i64> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let duplicated = present.values().filter(|n| **n > 1).count();
    let mut lost = log
        .acked_orders
        .iter()
        .filter(|tag| !present.contains_key(*tag))
        .count();
    let invoice_ids: Vec<uuid::Uuid> = log
        .acked_invoices
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    let found: i64 = owner
        .query_one(
            "SELECT count(*) FROM invoices WHERE id = ANY($1)",
            &[&invoice_ids],
        )
        .await?
        .get(0);
    lost += invoice_ids.len() - usize::try_from(found)?;
    Ok((lost, duplicated))
}

/// `orders` orders for tenant `id`, each invoiced, as the owner (bulk SQL;
/// RLS is forced on the owner too, so it writes as the tenant); the
/// tenant's counters follow, so new orders get new numbers.
async fn fill(url: &str, id: tenantry::context::TenantId, orders: usize) -> anyhow::Result<()> {
    let owner = tenantry::data::postgres::migrate::connect(url).await?;
    owner
        .batch_execute(&format!(
            "SET app.tenant_id = '{id}';
             INSERT INTO orders (id, tenant_id, number, customer, total_cents, status)
             SELECT gen_random_uuid(), '{id}', 1000 + n, 'Customer ' || n, n, 'open'
               FROM generate_series(1, {orders}) AS n;
             INSERT INTO invoices (id, tenant_id, order_id, number, amount_cents, status)
             SELECT gen_random_uuid(), tenant_id, id, number, total_cents, 'open'
               FROM orders WHERE tenant_id = '{id}' AND number > 1000;
             INSERT INTO counters (tenant_id, name, value) VALUES
               ('{id}', 'orders', 1000 + {orders}), ('{id}', 'invoices', 1000 + {orders})
             ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value;
             ANALYZE orders; ANALYZE invoices;"
        ))
        .await?;
    Ok(())
}
