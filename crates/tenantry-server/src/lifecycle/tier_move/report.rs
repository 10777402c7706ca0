//! Where a tier move stands, for the CLI: whether a command watching it
//! may stop, why it stopped, and its steps and route as JSON.

use crate::error::{Doing as _, ServerError};
use tenantry::registry::TenantRecord;
use tenantry::workflow::{StepState, WorkflowRecord, WorkflowState};

use super::{TIER_MOVE, TierMove};
use crate::services::Services;

/// Whether a CLI command that runs move `record` here may stop watching:
/// it is cut over (the retention wait is the server's), held, stopped
/// by a mismatch, or over.
pub fn far_enough(record: &WorkflowRecord) -> bool {
    let step = |name: &str| record.steps.iter().find(|s| s.name == name);
    let done = |name: &str| step(name).is_some_and(|s| s.state == StepState::Done);
    let held = serde_json::from_value::<TierMove>(record.input.clone()).is_ok_and(|i| i.hold);
    record.state != WorkflowState::Running
        || done("cutover")
        || (held && done("dual_write"))
        || stopped(record).is_some()
}

/// Why move `record` is not going on by itself, if it is not: a verify
/// mismatch (waiting for `--resume` or `--rollback`), or its end.
pub fn stopped(record: &WorkflowRecord) -> Option<String> {
    match record.state {
        WorkflowState::Running => record
            .steps
            .iter()
            .find(|s| s.name == "verify" && s.state != StepState::Done)
            .and_then(|s| s.last_error.as_deref())
            .filter(|e| e.contains("differ"))
            .map(|e| format!("the move is stopped at verify: {e}; `--resume` repairs the target from the source, `--rollback` undoes the move")),
        WorkflowState::Succeeded | WorkflowState::Compensating => None,
        state => Some(format!(
            "the move {state}: {}",
            record.error.as_deref().unwrap_or("no reason recorded")
        )),
    }
}

/// Where `record`'s move stands, as JSON: its latest tier-move workflow
/// (the running one, or the last), its steps, and the tenant's route.
pub(crate) async fn show(
    services: &Services,
    record: &TenantRecord,
) -> Result<serde_json::Value, ServerError> {
    let record = services
        .tenants
        .find(&tenantry::registry::TenantKey::Id(record.id))
        .await?
        .doing(|| format!("tenant {} vanished", record.slug))?;
    let latest = services
        .workflow_store
        .list(Some(record.id), 50)
        .await?
        .into_iter()
        .find(|w| w.kind == TIER_MOVE)
        .doing(|| format!("{} has never moved", record.slug))?;
    let steps: Vec<serde_json::Value> = latest
        .steps
        .iter()
        .map(|s| {
            serde_json::json!({
                "step": s.name,
                "state": s.state.to_string(),
                "attempts": s.attempts,
                "error": s.last_error,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "workflow": latest.id.0,
        "tenant": record.slug,
        "move": describe(&latest.input),
        "state": latest.state.to_string(),
        "error": latest.error,
        "tier": record.tier.to_string(),
        "moving_to": record.moving_to.map(|t| t.to_string()),
        "mirror_synced": record.mirror_synced,
        "route_version": record.route_version,
        "steps": steps,
    }))
}

/// The move's progress for `tenants move SLUG` without an order.
pub(crate) fn describe(input: &serde_json::Value) -> Option<String> {
    let input: TierMove = serde_json::from_value(input.clone()).ok()?;
    let mut text = format!("{} → {}", input.from, input.to);
    if let Some(server) = &input.to_server {
        text += &format!(" on {server}");
    }
    if input.hold {
        text += " (held before the cutover: `--cutover` releases it)";
    }
    if let Some(at) = input.retire_after_ms {
        let at = jiff::Timestamp::from_millisecond(i64::try_from(at).unwrap_or(i64::MAX))
            .map(|t| t.to_string())
            .unwrap_or_default();
        text += &format!("; the source is retired after {at}");
    }
    Some(text)
}
