//! The control plane's migrations on SQLite (its stores are written once,
//! over [`ControlDb`](crate::data::control::ControlDb)).

use crate::data::Migration;

/// Control-plane migrations for `control.db`.
pub const CONTROL_MIGRATIONS: &[Migration] = crate::data::migration::control_migrations!(
    "sqlite",
    [
        (1, "registry", "0001_registry"),
        (2, "fleet", "0002_fleet"),
        (3, "database_server", "0003_database_server"),
        (4, "secrets", "0004_secrets"),
        (5, "config", "0005_config"),
        (6, "jobs", "0006_jobs"),
        (7, "job_limits_cron", "0007_job_limits_cron"),
        (8, "job_trace", "0008_job_trace"),
        (9, "plan_names", "0009_plan_names"),
        (10, "workflows", "0010_workflows"),
        (11, "lifecycle_lane", "0011_lifecycle_lane"),
        (12, "failed_state", "0012_failed_state"),
        (13, "deletions", "0013_deletions"),
        (14, "warm_targets", "0014_warm_targets"),
        (15, "tier_moves", "0015_tier_moves"),
        (16, "route_acks", "0016_route_acks"),
        (17, "mirror_synced", "0017_mirror_synced"),
        (18, "route_changes_index", "0018_route_changes_index"),
    ]
);
