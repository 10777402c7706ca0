//! `/metrics`: Prometheus text — request durations by route template, tier
//! and plan; requests and job attempts per tenant for the busiest tenants
//! (the rest as `other`); job wait and run times; queue depth per lane.

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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
