//! Run with `cargo run --release --example lifecycle_bench -- OWNER_URL [SIGNUPS] [ROWS] [OBJECTS]`.
//!
//! The lifecycle benchmark, on the real server (HTTP, RLS, logging and
//! every check on) over PostgreSQL, in the database OWNER_URL names (it is
//! dropped and recreated):
//!
//! - **Onboarding**: SIGNUPS (100) sign-ups per tier, one after another,
//!   each timed from the sign-up call to the first `200` the new admin gets
//!   from `GET /api/orders`, without and with a warm pool of SIGNUPS
//!   targets per tier (filled before the run; its filling time is printed
//!   too). p50 and p99 per tier.
//! - **Offboarding**: a shared-tier tenant with ROWS (100,000) orders and
//!   OBJECTS (1,000) attachments, deleted with no grace period: the export
//!   and every store cleared.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use anyhow::Context;
use tenantry::context::{TenantId, Tier};
use tenantry::edge::{Claims, issue_hs256};
use tenantry::registry::{NewTenant, TenantState};
use tenantry_server::settings::Settings;

const SECRET: &str = "lifecycle-bench-secret-0123456789abcdef";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: lifecycle_bench OWNER_URL [SIGNUPS] [ROWS] [OBJECTS]")?;
    let signups: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let rows: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let objects: usize = args.next().map_or(Ok(1_000), |a| a.parse())?;
    support::recreate_database(&url).await?;
    let data_dir =
        std::env::temp_dir().join(format!("tenantry-lifecycle-bench-{}", std::process::id()));

    for warm in [false, true] {
        let server = Server::start(&url, &data_dir, if warm { signups } else { 0 }).await?;
        if warm {
            let started = Instant::now();
            let made =
                tenantry_server::provision::fill_warm_pool(&server.services, signups).await?;
            println!(
                "warm pool: {made} targets made in {:.1} s (off the sign-up path)",
                started.elapsed().as_secs_f64()
            );
        }
        for tier in [Tier::Shared, Tier::Schema, Tier::Database] {
            let mut times = Vec::with_capacity(signups);
            for i in 0..signups {
                let slug = format!("{}{}{i}", if warm { "w" } else { "c" }, &tier.as_str()[..2]);
                times.push(server.sign_up_to_first_200(&slug, tier).await?);
            }
            times.sort();
            println!(
                "onboarding {tier:>8}, warm pool {}: p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  ({signups} sign-ups)",
                if warm { "on " } else { "off" },
                ms(times[times.len() / 2]),
                ms(times[(times.len() * 99 / 100).min(times.len() - 1)]),
                ms(times[times.len() - 1]),
            );
        }
        server.stop().await;
    }

    let server = Server::start(&url, &data_dir, 0).await?;
    server.offboarding(rows, objects).await?;
    server.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Server {
    url: String,
    services: tenantry_server::services::Services,
    lifecycle: tenantry_server::lifecycle::Lifecycle,
    addr: std::net::SocketAddr,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    _workers: tenantry_server::app::Background,
}

impl Server {
    async fn start(
        url: &str,
        data_dir: &std::path::Path,
        warm_pool: usize,
    ) -> anyhow::Result<Self> {
        let support::Serving {
            services,
            lifecycle,
            addr,
            stop,
            workers,
        } = support::serve(Settings {
            database_url: Some(url.to_owned()),
            data_dir: Some(data_dir.to_owned()),
            jwt_secret: Some(SECRET.into()),
            warm_pool: Some(warm_pool),
            ..Settings::default()
        })
        .await?;
        Ok(Self {
            url: url.to_owned(),
            services,
            lifecycle,
            addr,
            http: tenantry_testkit::http(),
            stop,
            _workers: workers,
        })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
    }

    fn token(&self, slug: &str, user: uuid::Uuid) -> anyhow::Result<String> {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            + 3600;
        Ok(issue_hs256(
            SECRET.as_bytes(),
            &Claims {
                sub: user.to_string(),
                tenant: slug.to_owned(),
                role: Some("admin".into()),
                exp,
                ..Claims::default()
            },
        )?)
    }

    async fn get(
        &self,
        slug: &str,
        token: &str,
        path: &str,
    ) -> anyhow::Result<reqwest::StatusCode> {
        Ok(self
            .http
            .get(format!("http://{}{path}", self.addr))
            .header("host", format!("{slug}.localhost:{}", self.addr.port()))
            .bearer_auth(token)
            .send()
            .await?
            .status())
    }

    /// One sign-up, timed to the admin's first 200.
    async fn sign_up_to_first_200(&self, slug: &str, tier: Tier) -> anyhow::Result<Duration> {
        let email = format!("admin@{slug}.example");
        let started = Instant::now();
        let (record, _) = tenantry_server::lifecycle::onboard(
            &self.lifecycle,
            NewTenant {
                id: None,
                slug: slug.to_owned(),
                name: slug.to_owned(),
                plan: tenantry_server::plans::FREE,
                tier,
                state: TenantState::Active,
                domains: vec![],
                database_server: None,
            },
            Some(email.clone()),
            "bench",
        )
        .await?;
        let token = self.token(
            slug,
            tenantry_server::lifecycle::first_admin_id(record.id, &email),
        )?;
        loop {
            let status = self.get(slug, &token, "/api/orders").await?;
            if status == reqwest::StatusCode::OK {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "{slug} still answers {status}"
            );
            // The client retries as `Retry-After` would have it, but finer.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A tenant with `rows` orders and `objects` attachments, deleted.
    async fn offboarding(&self, rows: usize, objects: usize) -> anyhow::Result<()> {
        let record = tenantry_server::demo::seed_tenant(
            &self.services,
            "leaving",
            "Leaving Ltd",
            tenantry_server::plans::PRO,
            Tier::Shared,
        )
        .await?;
        fill(&self.services, &self.url, record.id, rows, objects).await?;
        let started = Instant::now();
        let id =
            tenantry_server::lifecycle::offboard(&self.lifecycle, &record, Duration::ZERO, "bench")
                .await?;
        let record = tenantry_server::lifecycle::finished(&self.lifecycle, id).await?;
        anyhow::ensure!(
            record.state == tenantry::workflow::WorkflowState::Succeeded,
            "{record:?}"
        );
        let total = started.elapsed();
        println!(
            "offboarding a shared-tier tenant with {rows} orders and {objects} objects: {:.1} s ({})",
            total.as_secs_f64(),
            support::step_times(&record)
        );
        Ok(())
    }
}

/// `rows` orders (half of them invoiced) and `objects` attachments for
/// tenant `id`, as the owner (bulk SQL) and through the storage API.
async fn fill(
    services: &tenantry_server::services::Services,
    url: &str,
    id: TenantId,
    rows: usize,
    objects: usize,
) -> anyhow::Result<()> {
    let owner = tenantry::data::postgres::migrate::connect(url).await?;
    // RLS is forced on the owner too: write as the tenant.
    owner
        .batch_execute(&format!(
            "SET app.tenant_id = '{id}';
             INSERT INTO orders (id, tenant_id, number, customer, total_cents, status)
             SELECT gen_random_uuid(), '{id}', 1000 + n, 'Customer ' || n, n, 'open'
               FROM generate_series(1, {rows}) AS n;
             INSERT INTO invoices (id, tenant_id, order_id, number, amount_cents, status)
             SELECT gen_random_uuid(), tenant_id, id, number, total_cents, 'open'
               FROM orders WHERE tenant_id = '{id}' AND number > 1000 AND number % 2 = 0;"
        ))
        .await?;
    let record = services
        .tenants
        .find(&tenantry::registry::TenantKey::Id(id))
        .await?
        .context("the tenant")?;
    let ctx = tenantry_server::demo::context_for(&record)?;
    for i in 0..objects {
        let key = tenantry::storage::ObjectKey::parse(&format!("invoices/bench/file-{i}.txt"))?;
        ctx.clone()
            .scope(services.storage.put(&key, vec![b'x'; 1024].into()))
            .await?;
    }
    Ok(())
}
