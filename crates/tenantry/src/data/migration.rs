//! Versioned SQL migrations, applied per target with a version table.
//!
//! A [`Migration`] is a numbered SQL file compiled into the binary. Each
//! target (PostgreSQL schema, SQLite file) records what it has applied in
//! `tenantry_migrations` with a checksum, so an edited, already-applied file
//! is refused instead of silently diverging between targets. All pending
//! migrations of a target apply in one transaction: a target is never left
//! half-migrated.

/// A list of [`Migration`]s from `migrations/<backend>/<file>.sql` of this
/// crate: `control_migrations!("postgres", [(1, "registry", "0001_registry"), …])`.
macro_rules! control_migrations {
    ($backend:literal, [$(($version:literal, $name:literal, $file:literal)),+ $(,)?]) => {
        &[$(
            $crate::data::Migration {
                version: $version,
                name: $name,
                sql: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"), "/migrations/", $backend, "/", $file, ".sql"
                )),
            }
        ),+]
    };
}
pub(crate) use control_migrations;

/// The control plane's migrations for `$backend`: one list for both
/// backends, each version a file of the same name under each backend's
/// folder (the SQL differs, the history does not).
macro_rules! control_plane_migrations {
    ($backend:literal) => {
        $crate::data::migration::control_migrations!(
            $backend,
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
        )
    };
}
pub(crate) use control_plane_migrations;

/// One SQL migration.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Strictly increasing version.
    pub version: i64,
    /// Short name (`create_orders`).
    pub name: &'static str,
    /// SQL text; may hold several statements.
    pub sql: &'static str,
}

impl Migration {
    /// FNV-1a of the SQL text, hex: detects edits to applied migrations.
    pub fn checksum(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

/// Migration failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// An applied migration's text has changed since.
    #[error("migration {version} ({name}) on {target} was edited after it was applied")]
    Edited {
        /// Target.
        target: String,
        /// Version.
        version: i64,
        /// Name.
        name: String,
    },
    /// Versions are not strictly increasing.
    #[error("migration versions must strictly increase (at {0})")]
    Unordered(i64),
    /// A statement failed; the target's transaction was rolled back.
    #[error("migration {version} ({name}) on {target} failed: {message}")]
    Failed {
        /// Target.
        target: String,
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// Database error text.
        message: String,
    },
    /// Could not reach the database (or name what to migrate in it).
    #[error("migration connection: {0}")]
    Connection(#[source] super::DataError),
    /// The database named in the URL does not exist.
    #[error("database missing: {0}")]
    DatabaseMissing(String),
}

pub(crate) fn check_order(set: &[Migration]) -> Result<(), MigrationError> {
    for pair in set.windows(2) {
        if pair[1].version <= pair[0].version {
            return Err(MigrationError::Unordered(pair[1].version));
        }
    }
    Ok(())
}
