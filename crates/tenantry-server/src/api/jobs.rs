//! `/api/jobs`: the tenant's background jobs — queue depth and running
//! jobs per lane, dead letters, retrying or discarding one. Admin only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tenantry::jobs::JobQueue;
use tenantry::jobs::{DeadJob, DeadPage, JobError, Lane};
use utoipa::{IntoParams, ToSchema};

use super::extract::{Admin, Params};
use super::{ApiError, AppState};

/// One lane's numbers for this tenant.
#[derive(Serialize, ToSchema)]
pub(crate) struct LaneStats {
    /// `interactive` or `batch`.
    pub(crate) lane: String,
    /// Jobs waiting.
    pub(crate) queued: i64,
    /// Jobs running now.
    pub(crate) running: i64,
    /// Whether an operator paused them.
    pub(crate) paused: bool,
}

/// A job that will not run again.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeadLetter {
    /// Id.
    pub(crate) id: i64,
    /// Lane.
    pub(crate) lane: String,
    /// Kind.
    pub(crate) kind: String,
    /// Attempts made.
    pub(crate) attempts: i32,
    /// Why it died.
    pub(crate) reason: String,
}

impl From<DeadJob> for DeadLetter {
    fn from(d: DeadJob) -> Self {
        Self {
            id: d.id,
            lane: d.lane.to_string(),
            kind: d.kind,
            attempts: d.attempts,
            reason: d.reason,
        }
    }
}

/// The tenant's queues.
#[derive(Serialize, ToSchema)]
pub(crate) struct JobsView {
    /// Per lane.
    pub(crate) lanes: Vec<LaneStats>,
}

/// The tenant's dead letters.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeadList {
    /// Newest first.
    pub(crate) dead: Vec<DeadLetter>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_before: Option<i64>,
}

/// Paging through dead letters, newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListDead {
    /// Page size, 1–100 (default 50).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false, minimum = 1, maximum = 100)]
    pub(crate) limit: Option<i64>,
    /// Only dead letters with a smaller id (the previous page's `next_before`).
    #[serde(default, deserialize_with = "super::integer::query")]
    #[param(nullable = false, minimum = 1)]
    pub(crate) before: Option<i64>,
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::BacklogFull { .. } => ApiError::Conflict(e.to_string()),
            // The queue's database: unavailable is a 503, as everywhere.
            JobError::Data(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A dead letter's id; anything but a number names no dead letter (404,
/// like every id the tenant cannot see).
fn dead_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// The tenant's job queues: waiting and running jobs per lane.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses((status = 200, description = "the tenant's queue", body = JobsView), (status = 403, description = "admin role required")))]
pub(crate) async fn get(
    State(queue): State<Arc<dyn JobQueue>>,
    _: Admin,
) -> Result<Json<JobsView>, ApiError> {
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let stats = queue.stats(lane).await?;
        let (queued, running, paused) = stats
            .first()
            .map_or((0, 0, false), |s| (s.queued, s.running, s.paused));
        lanes.push(LaneStats {
            lane: lane.to_string(),
            queued,
            running,
            paused,
        });
    }
    Ok(Json(JobsView { lanes }))
}

/// The tenant's dead letters: jobs that will not run again, and why.
#[utoipa::path(get, path = "/api/jobs/dead", tag = "jobs", params(ListDead),
    responses((status = 200, description = "a page of dead letters", body = DeadList), (status = 400, description = "bad paging parameters"), (status = 403, description = "admin role required")))]
pub(crate) async fn dead(
    State(app): State<AppState>,
    _: Admin,
    Params(q): Params<ListDead>,
) -> Result<Json<DeadList>, ApiError> {
    let limit = super::page::limit(q.limit, 50)?;
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::field("before", "must be at least 1"));
    }
    let page = DeadPage {
        limit: u32::try_from(limit).unwrap_or(1),
        before: q.before,
    };
    let dead: Vec<DeadLetter> = app
        .services
        .queue
        .dead_letters(page)
        .await?
        .into_iter()
        .map(DeadLetter::from)
        .collect();
    let next_before = super::page::next(&dead, limit, |d| d.id);
    Ok(Json(DeadList { dead, next_before }))
}

/// Queue a dead letter again, with fresh attempts.
#[utoipa::path(post, path = "/api/jobs/dead/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "Dead letter id", example = 1)),
    responses((status = 204, description = "queued again"), (status = 403, description = "admin role required"), (status = 404, description = "no such dead letter for this tenant")))]
pub(crate) async fn retry(
    State(queue): State<Arc<dyn JobQueue>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if queue.retry_dead(dead_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Discard a dead letter.
#[utoipa::path(delete, path = "/api/jobs/dead/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "Dead letter id", example = 1)),
    responses((status = 204, description = "discarded"), (status = 403, description = "admin role required"), (status = 404, description = "no such dead letter for this tenant")))]
pub(crate) async fn discard(
    State(queue): State<Arc<dyn JobQueue>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if queue.discard_dead(dead_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
