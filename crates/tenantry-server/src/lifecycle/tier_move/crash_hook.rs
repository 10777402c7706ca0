//! The crash test's hook into the tier move: with
//! `TENANTRY_TEST_CRASH_AT` and `TENANTRY_TEST_CRASH_FILE` set, a step
//! stops for good at a chosen point, to be killed there (see
//! `tests/tier_move_crash.rs`). Unset, it costs one look-up of a cached
//! value per step.

use tenantry::workflow::{StepContext, StepState};

use crate::services::Services;

/// The name of the step (or compensation) `ctx` runs.
pub(super) async fn current_step(services: &Services, ctx: &StepContext) -> String {
    if crash_points().is_none() {
        return String::new();
    }
    match services.workflow_store.get(ctx.workflow).await {
        Ok(Some(record)) => record
            .steps
            .iter()
            .find(|s| matches!(s.state, StepState::Running | StepState::Compensating))
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The crash test's hook: `TENANTRY_TEST_CRASH_AT=STEP:before|after` and
/// `TENANTRY_TEST_CRASH_FILE=PATH` make the first attempt of that step
/// create PATH and stop there for good, to be killed (before its effect,
/// or after it and before it is recorded done). Unset, it costs one
/// look-up of a cached value.
fn crash_points() -> Option<&'static (String, std::path::PathBuf)> {
    static AT: std::sync::OnceLock<Option<(String, std::path::PathBuf)>> =
        std::sync::OnceLock::new();
    AT.get_or_init(|| {
        let at = std::env::var("TENANTRY_TEST_CRASH_AT").ok()?;
        let file = std::env::var_os("TENANTRY_TEST_CRASH_FILE")?;
        Some((at, file.into()))
    })
    .as_ref()
}

pub(super) async fn crash_point(step: &str, phase: &str, attempt: u32) {
    let Some((at, file)) = crash_points() else {
        return;
    };
    if attempt == 1 && *at == format!("{step}:{phase}") {
        tracing::warn!(
            step,
            phase,
            "tier move: stopping here to be killed (crash test)"
        );
        let _ = std::fs::write(file, at);
        std::future::pending::<()>().await;
    }
}
