//! `/metrics`: Prometheus text — request durations by route template, tier
//! and plan; requests and job attempts per tenant for the busiest tenants
//! (the rest as `other`); job wait and run times; queue depth per lane;
//! tenant-record cache hits and misses; database connections by pool
//! (PostgreSQL).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use tenantry::jobs::{Lane, TenantQueueStats};

use super::AppState;

/// Serves the exposition (on the admin listener only: it names tenants).
pub(crate) async fn render(State(app): State<AppState>) -> impl IntoResponse {
    let mut text = app.services.http_metrics.render();
    text.push_str(&app.services.job_metrics.render());
    text.push_str(&app.services.limit_metrics.render());
    let mut depths = Vec::new();
    for lane in Lane::ALL {
        let stats =
            tenantry::context::run_as_system("metrics", app.services.queue.stats(lane)).await;
        if let Err(e) = &stats {
            tracing::warn!(error = %e, %lane, "queue depth unavailable for /metrics");
        }
        depths.push((lane, stats.ok()));
    }
    write_queue_depths(&mut text, &depths);
    let (hits, misses) = app.services.tenants.cache_stats();
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
    let (hits, misses) = app.services.summaries.counts();
    let _ = writeln!(
        text,
        "# HELP tenantry_cache_lookups_total Application-data lookups through the tenant cache, by cache, answered from it (hit) or computed (miss)."
    );
    let _ = writeln!(text, "# TYPE tenantry_cache_lookups_total counter");
    for (result, n) in [("hit", hits), ("miss", misses)] {
        let _ = writeln!(
            text,
            "tenantry_cache_lookups_total{{cache=\"invoice_summary\",result=\"{result}\"}} {n}"
        );
    }
    write_stuck_workflows(&mut text, &app).await;
    if let tenantry::data::Database::Postgres(db) = &app.services.db {
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

/// Queue depth per lane. A lane whose stats could not be read has no
/// `jobs_queued` / `jobs_running` sample at all — a made-up 0 would read as
/// "the queue is empty" exactly when it may be stuck — and
/// `jobs_queue_stats_up` 0, to alert on.
fn write_queue_depths(text: &mut String, depths: &[(Lane, Option<Vec<TenantQueueStats>>)]) {
    let _ = writeln!(
        text,
        "# HELP jobs_queue_stats_up Whether the queue's depth could be read (1) or not (0), per lane."
    );
    let _ = writeln!(text, "# TYPE jobs_queue_stats_up gauge");
    for (lane, stats) in depths {
        let _ = writeln!(
            text,
            "jobs_queue_stats_up{{lane=\"{lane}\"}} {}",
            u8::from(stats.is_some())
        );
    }
    let _ = writeln!(
        text,
        "# HELP jobs_queued Jobs waiting, per lane (every tenant)."
    );
    let _ = writeln!(text, "# TYPE jobs_queued gauge");
    for (lane, stats) in depths {
        if let Some(stats) = stats {
            let queued: i64 = stats.iter().map(|t| t.queued).sum();
            let _ = writeln!(text, "jobs_queued{{lane=\"{lane}\"}} {queued}");
        }
    }
    let _ = writeln!(
        text,
        "# HELP jobs_running Jobs running, per lane (every tenant, every worker)."
    );
    let _ = writeln!(text, "# TYPE jobs_running gauge");
    for (lane, stats) in depths {
        if let Some(stats) = stats {
            let running: i64 = stats.iter().map(|t| t.running).sum();
            let _ = writeln!(text, "jobs_running{{lane=\"{lane}\"}} {running}");
        }
    }
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

/// `tenant_lifecycle_stuck{kind,step}`: live workflows whose step is past
/// its deadline (bounded labels: kinds and step names are the app's own).
/// No sample when none is stuck; none at all, and a warning, when the
/// store cannot be read.
async fn write_stuck_workflows(text: &mut String, app: &AppState) {
    let live = match app.services.workflow_store.live().await {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!(error = %e, "workflows unavailable for /metrics");
            return;
        }
    };
    let now = std::time::SystemTime::now();
    let mut stuck: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for workflow in &live {
        if let Some(step) = workflow.overdue_step(now) {
            *stuck
                .entry((workflow.kind.clone(), step.name.clone()))
                .or_default() += 1;
        }
    }
    let _ = writeln!(
        text,
        "# HELP tenant_lifecycle_stuck Lifecycle workflows with a step past its deadline, by kind and step."
    );
    let _ = writeln!(text, "# TYPE tenant_lifecycle_stuck gauge");
    for ((kind, step), n) in stuck {
        let _ = writeln!(
            text,
            "tenant_lifecycle_stuck{{kind=\"{kind}\",step=\"{step}\"}} {n}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_lane_has_no_depth_rather_than_zero() {
        let mut text = String::new();
        write_queue_depths(
            &mut text,
            &[(Lane::Interactive, Some(Vec::new())), (Lane::Batch, None)],
        );
        assert!(
            text.contains("jobs_queued{lane=\"interactive\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("jobs_queue_stats_up{lane=\"interactive\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("jobs_queue_stats_up{lane=\"batch\"} 0"),
            "{text}"
        );
        assert!(!text.contains("jobs_queued{lane=\"batch\"}"), "{text}");
        assert!(!text.contains("jobs_running{lane=\"batch\"}"), "{text}");
    }
}
