//! The noisy-neighbour load generator: steady, open-loop traffic from many
//! normal tenants plus one tenant far over its quota, against a running
//! `tenantry serve`; prints the normal tenants' latency and every class's
//! status counts.
//!
//! ```text
//! cargo run --release --example noisy_neighbour -- BASE_URL SECRET ORDERS_TSV \
//!     NORMAL_TENANTS NORMAL_RPS NOISY_RPS DURATION_S LABEL
//! ```
//!
//! ORDERS_TSV holds `slug<TAB>order id` lines (bench/run.sh writes one). The
//! first slug (sorted) is the noisy tenant: it lists its orders
//! (`GET /api/orders?limit=100`) at NOISY_RPS in all (0: no noisy tenant).
//! The next NORMAL_TENANTS slugs each read one of their orders
//! (`GET /api/orders/{id}`) at NORMAL_RPS. Requests leave on a fixed
//! schedule whatever the server does (open loop), and latency is measured
//! from the *scheduled* time, so a stalled server shows as latency rather
//! than as fewer requests (no coordinated omission).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use md5::Digest;
use tenantry::edge::{Claims, issue_hs256};

/// Outcomes of one class of traffic.
#[derive(Default)]
struct Tally {
    latencies_ok: Vec<Duration>,
    statuses: BTreeMap<String, u64>,
}

fn token(secret: &str, slug: &str) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    // The contract's user of the tenant, as bench/seed-tenantry.sql creates
    // it (`md5('user:' || slug)` as a UUID): the edge checks membership.
    let digest = md5::Md5::digest(format!("user:{slug}"));
    let claims = Claims {
        sub: uuid::Uuid::from_slice(&digest)?.to_string(),
        tenant: slug.to_owned(),
        role: Some("member".to_owned()),
        exp: now + 3600,
        ..Claims::default()
    };
    Ok(issue_hs256(secret.as_bytes(), &claims)?)
}

/// Sends GETs of `paths` (round-robin) as `slug` at `rps` for `duration`.
#[allow(clippy::too_many_arguments)]
async fn drive(
    http: reqwest::Client,
    base: String,
    host: String,
    token: String,
    paths: Vec<String>,
    rps: f64,
    duration: Duration,
    tally: Arc<Mutex<Tally>>,
) {
    let period = Duration::from_secs_f64(1.0 / rps);
    let start = tokio::time::Instant::now();
    // Tenants start spread over one period, not all at once.
    let offset = period.mul_f64(fastrand_fraction(&host));
    let mut sent = Vec::new();
    let mut n: u32 = 0;
    loop {
        let due = start + offset + period * n;
        if due.duration_since(start) >= duration {
            break;
        }
        tokio::time::sleep_until(due).await;
        let request = http
            .get(format!("{base}{}", paths[n as usize % paths.len()]))
            .header("host", &host)
            .bearer_auth(&token);
        let tally = tally.clone();
        sent.push(tokio::spawn(async move {
            let status = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    // Read the body: the request is done when it has arrived.
                    let _ = response.bytes().await;
                    status.as_u16().to_string()
                }
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "error".to_owned(),
            };
            let latency = due.elapsed();
            let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
            if status == "200" {
                tally.latencies_ok.push(latency);
            }
            *tally.statuses.entry(status).or_default() += 1;
        }));
        n += 1;
    }
    for request in sent {
        let _ = request.await;
    }
}

/// A stable fraction in [0, 1) for `key`, to stagger tenants' schedules.
fn fastrand_fraction(key: &str) -> f64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (hash % 10_000) as f64 / 10_000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [
        base,
        secret,
        orders,
        normal,
        normal_rps,
        noisy_rps,
        secs,
        label,
    ] = &args[..]
    else {
        bail!(
            "usage: noisy_neighbour BASE_URL SECRET ORDERS_TSV NORMAL_TENANTS NORMAL_RPS NOISY_RPS DURATION_S LABEL"
        );
    };
    let normal: usize = normal.parse().context("NORMAL_TENANTS")?;
    let normal_rps: f64 = normal_rps.parse().context("NORMAL_RPS")?;
    let noisy_rps: f64 = noisy_rps.parse().context("NOISY_RPS")?;
    let duration = Duration::from_secs(secs.parse().context("DURATION_S")?);
    let port = base
        .rsplit(':')
        .next()
        .unwrap_or("80")
        .trim_end_matches('/');

    let mut by_slug: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(orders)
        .context("ORDERS_TSV")?
        .lines()
    {
        if let Some((slug, id)) = line.split_once('\t') {
            by_slug
                .entry(slug.to_owned())
                .or_default()
                .push(id.to_owned());
        }
    }
    let slugs: Vec<&String> = by_slug.keys().collect();
    if slugs.len() < normal + 1 {
        bail!("{} tenants in {orders}, need {}", slugs.len(), normal + 1);
    }
    let http = tenantry::https::client_builder()?
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(1024)
        .build()?;
    let normal_tally = Arc::new(Mutex::new(Tally::default()));
    let noisy_tally = Arc::new(Mutex::new(Tally::default()));
    let mut drivers = Vec::new();
    for slug in &slugs[1..=normal] {
        let paths = by_slug[*slug]
            .iter()
            .take(50)
            .map(|id| format!("/api/orders/{id}"))
            .collect();
        drivers.push(tokio::spawn(drive(
            http.clone(),
            base.clone(),
            format!("{slug}.app.localhost:{port}"),
            token(secret, slug)?,
            paths,
            normal_rps,
            duration,
            normal_tally.clone(),
        )));
    }
    if noisy_rps > 0.0 {
        let noisy = slugs[0];
        // Several senders, so one sender's scheduling is not the limit.
        let senders = (noisy_rps / 250.0).ceil().max(1.0);
        for _ in 0..senders as usize {
            drivers.push(tokio::spawn(drive(
                http.clone(),
                base.clone(),
                format!("{noisy}.app.localhost:{port}"),
                token(secret, noisy)?,
                vec!["/api/orders?limit=100".to_owned()],
                noisy_rps / senders,
                duration,
                noisy_tally.clone(),
            )));
        }
    }
    let started = Instant::now();
    for driver in drivers {
        driver.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let normal = std::mem::take(&mut *normal_tally.lock().unwrap_or_else(|e| e.into_inner()));
    let noisy = std::mem::take(&mut *noisy_tally.lock().unwrap_or_else(|e| e.into_inner()));
    let mut ok = normal.latencies_ok;
    ok.sort();
    let total = |t: &BTreeMap<String, u64>| t.values().sum::<u64>();
    println!(
        "| {label} | {:.1} | {:.1} | {:.1} | {:.1} | {:?} | {:?} ({:.0} req/s offered) |",
        percentile(&ok, 50.0),
        percentile(&ok, 90.0),
        percentile(&ok, 99.0),
        percentile(&ok, 100.0),
        normal.statuses,
        noisy.statuses,
        total(&noisy.statuses) as f64 / elapsed,
    );
    Ok(())
}
