//! `/metrics`: Prometheus text — request durations by route template, tier
//! and plan; requests and job attempts per tenant for the busiest tenants
//! (the rest as `other`); job wait and run times; queue depth per lane;
//! tenant-record cache hits and misses; database connections by pool
//! (PostgreSQL).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tenantry::jobs::Lane;

use super::AppState;

/// Serves the exposition (public, like `/healthz`: bind the server where
/// only the scraper reaches it).
pub(crate) async fn render(State(app): State<AppState>) -> impl IntoResponse {
    let mut text = app.metrics.render();
    text.push_str(&app.job_metrics.render());
    text.push_str(&app.limit_metrics.render());
    let _ = writeln!(
        text,
        "# HELP jobs_queued Jobs waiting, per lane (every tenant)."
    );
    let _ = writeln!(text, "# TYPE jobs_queued gauge");
    let mut running = String::new();
    for lane in [Lane::Interactive, Lane::Batch] {
        let stats = tenantry::context::run_as_system("metrics", app.events.queue.stats(lane)).await;
        let (queued, active) = stats.map_or((0, 0), |s| {
            s.iter()
                .fold((0, 0), |(q, r), t| (q + t.queued, r + t.running))
        });
        let _ = writeln!(text, "jobs_queued{{lane=\"{lane}\"}} {queued}");
        let _ = writeln!(running, "jobs_running{{lane=\"{lane}\"}} {active}");
    }
    let _ = writeln!(
        text,
        "# HELP jobs_running Jobs running, per lane (every tenant, every worker)."
    );
    let _ = writeln!(text, "# TYPE jobs_running gauge");
    text.push_str(&running);
    let (hits, misses) = app.tenants.cache_stats();
    let _ = writeln!(
        text,
        "# HELP tenant_registry_lookups_total Tenant-record lookups, answered from the cache (hit) or the store (miss)."
    );
    let _ = writeln!(text, "# TYPE tenant_registry_lookups_total counter");
    let _ = writeln!(
        text,
        "tenant_registry_lookups_total{{result=\"hit\"}} {hits}"
    );
    let _ = writeln!(
        text,
        "tenant_registry_lookups_total{{result=\"miss\"}} {misses}"
    );
    if let tenantry::data::Database::Postgres(db) = &app.db {
        write_pool_stats(&mut text, &db.pool_stats());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Connections by pool (the shared pool serves the shared and schema tiers;
/// the database tier has a pool per tenant, summed here) and the budget.
fn write_pool_stats(text: &mut String, stats: &tenantry::data::postgres::PoolStats) {
    let _ = writeln!(
        text,
        "# HELP db_connection_budget Connections all pools may open together."
    );
    let _ = writeln!(text, "# TYPE db_connection_budget gauge");
    let _ = writeln!(text, "db_connection_budget {}", stats.budget);
    let _ = writeln!(
        text,
        "# HELP db_connections Open connections by pool and state."
    );
    let _ = writeln!(text, "# TYPE db_connections gauge");
    let pools = [
        ("shared", stats.shared),
        ("schema", stats.schema),
        ("tenant_databases", stats.tenant_databases),
    ];
    for (pool, usage) in pools {
        let in_use = usage.open.saturating_sub(usage.idle);
        let _ = writeln!(
            text,
            "db_connections{{pool=\"{pool}\",state=\"in_use\"}} {in_use}"
        );
        let _ = writeln!(
            text,
            "db_connections{{pool=\"{pool}\",state=\"idle\"}} {}",
            usage.idle
        );
    }
    let _ = writeln!(
        text,
        "# HELP db_connection_waiters Callers waiting for a connection, by pool."
    );
    let _ = writeln!(text, "# TYPE db_connection_waiters gauge");
    for (pool, usage) in pools {
        let _ = writeln!(
            text,
            "db_connection_waiters{{pool=\"{pool}\"}} {}",
            usage.waiting
        );
    }
}
