//! Run with `cargo run --release --example fleet_bench -- OWNER_URL [TENANTS] [CONCURRENCY]`.
//!
//! The fleet-migration benchmark: TENANTS (1,000) schema-tier tenants with
//! 100 orders each. Times, with the fleet runner (CONCURRENCY workers) and
//! with a naive loop over one connection (what per-schema frameworks do):
//! a no-op run (everything up to date) and a real migration (a column with
//! a default, plus an index). The database in OWNER_URL is dropped and
//! recreated first.

#[path = "support/mod.rs"]
mod support;

use std::time::Instant;

use anyhow::Context;
use tenantry::context::Tier;
use tenantry::data::Migration;
use tenantry::data::postgres::fleet::{self, FleetOptions};
use tenantry::data::postgres::migrate;
use tenantry::registry::{NewTenant, TenantState};
use tenantry_server::migrations::PG_APP_MIGRATIONS;
use tenantry_server::settings::Settings;

const APP_ROLE: &str = "tenantry_app";

fn set_with(extra: &[(i64, &'static str, &'static str)]) -> &'static [Migration] {
    let mut set = PG_APP_MIGRATIONS.to_vec();
    set.extend(
        extra
            .iter()
            .map(|&(version, name, sql)| Migration { version, name, sql }),
    );
    Box::leak(set.into_boxed_slice())
}

const V2: (i64, &str, &str) = (
    2,
    "order_note",
    "ALTER TABLE orders ADD COLUMN note text NOT NULL DEFAULT ''; CREATE INDEX orders_note_idx ON orders (note);",
);
const V3: (i64, &str, &str) = (
    3,
    "order_tag",
    "ALTER TABLE orders ADD COLUMN tag text NOT NULL DEFAULT ''; CREATE INDEX orders_tag_idx ON orders (tag);",
);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: fleet_bench OWNER_URL [TENANTS] [CONCURRENCY]")?;
    let count: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(8), |a| a.parse())?;

    support::recreate_database(&url).await?;
    let data_dir = std::env::temp_dir().join("tenantry-fleet-bench");
    let settings = Settings {
        database_url: Some(url.clone()),
        data_dir: Some(data_dir),
        jwt_secret: Some("fleet-bench-secret-0123456789abcdef".into()),
        ..Settings::default()
    };
    let services = tenantry_server::app::connect(&settings.resolve()?).await?;
    let started = Instant::now();
    for i in 0..count {
        services
            .tenants
            .create(NewTenant {
                id: None,
                slug: format!("s{i:04}"),
                name: format!("Tenant {i}"),
                plan: tenantry_server::plans::FREE,
                tier: Tier::Schema,
                state: TenantState::Active,
                domains: vec![],
                database_server: None,
            })
            .await?;
    }
    println!(
        "registered {count} schema-tier tenants in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let targets = tenantry_server::fleet::targets(&services, None, &[]).await?;
    let options = FleetOptions {
        concurrency,
        max_failures: 0,
    };
    let timed = |label: &'static str, set: &'static [Migration]| {
        let (url, targets) = (url.clone(), targets.clone());
        async move {
            let started = Instant::now();
            let report = fleet::run(&url, APP_ROLE, set, targets, options, &|_| {}).await?;
            anyhow::ensure!(report.failed.is_empty(), "{:?}", report.failed.first());
            println!(
                "fleet ({concurrency} workers) {label}: {:.2} s — {} migrated, {} up to date",
                started.elapsed().as_secs_f64(),
                report.migrated.len(),
                report.up_to_date.len()
            );
            anyhow::Ok(())
        }
    };
    timed(
        "provision (create + migrate every schema)",
        PG_APP_MIGRATIONS,
    )
    .await?;
    seed_rows(&url).await?;
    timed("no-op", PG_APP_MIGRATIONS).await?;
    timed(
        "real migration (column with default + index)",
        set_with(&[V2]),
    )
    .await?;
    timed("no-op after it", set_with(&[V2])).await?;

    // The naive way: one connection, one schema after another.
    let mut client = migrate::connect(&url).await?;
    for (label, set) in [
        ("no-op", set_with(&[V2])),
        (
            "real migration (another column + index)",
            set_with(&[V2, V3]),
        ),
    ] {
        let started = Instant::now();
        let mut migrated = 0;
        for target in &targets {
            migrated +=
                usize::from(migrate::apply(&mut client, &target.schema, set, APP_ROLE).await? > 0);
        }
        println!(
            "naive loop (1 connection) {label}: {:.2} s — {migrated} migrated",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "targets: {} (the shared schema and {count} tenant schemas)",
        targets.len()
    );
    Ok(())
}

/// 100 orders in every tenant schema (as the owner, so RLS does not apply).
async fn seed_rows(url: &str) -> anyhow::Result<()> {
    let client = migrate::connect(url).await?;
    let started = Instant::now();
    let ids = client
        .query("SELECT id FROM tenantry.tenants WHERE tier = 'schema'", &[])
        .await?;
    for row in ids {
        let id: uuid::Uuid = row.get(0);
        let schema = tenantry::data::postgres::schema_for(tenantry::TenantId::from_uuid(id));
        client
            .batch_execute(&format!(
                "INSERT INTO {schema}.orders (id, tenant_id, number, customer, total_cents, status)
                 SELECT gen_random_uuid(), '{id}', n, 'Customer ' || n, n * 100, 'open' FROM generate_series(1, 100) AS n"
            ))
            .await?;
    }
    println!(
        "seeded 100 orders in each schema in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
