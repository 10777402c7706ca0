//! Fleet migrations: one migration set applied to many targets — the shared
//! schema, every schema-tier tenant's schema and every database-tier
//! tenant's database — as a fleet operation.
//!
//! - **Parallel**: `concurrency` workers, each with its own owner-role
//!   connection (plus one per tenant database while migrating it), take
//!   targets from one queue. Targets are independent (each
//!   has its own version table and advisory lock), so nothing serializes
//!   them but the database.
//! - **Canaries first**: canary ("edge") targets run as a first phase; if
//!   any of them fails, the fleet stops before touching the rest.
//! - **Halting**: once more than `max_failures` targets have failed, no new
//!   target starts; those not started are reported as skipped.
//! - **Resumable**: every target migrates in one transaction, so a crash
//!   leaves each target either migrated or untouched; a rerun skips
//!   up-to-date targets with one query each and migrates the rest.
//! - **Recorded**: each target's outcome (version, error) is kept in
//!   `tenantry.migration_targets` for `tenantry migrate status`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::{db_error, migrate, quote_ident};
use crate::context::TenantId;
use crate::data::{Migration, MigrationError};

/// One schema to migrate.
#[derive(Clone, Debug)]
pub struct FleetTarget {
    /// The schema (`public`, `t_…`).
    pub schema: String,
    /// The database that holds the schema, when it is not the owner URL's
    /// own (a database-tier tenant's database).
    pub database: Option<String>,
    /// The server that holds `database`, when not the owner URL's (see
    /// `TenantRecord::database_server` in the registry).
    pub server: Option<String>,
    /// The tenant that owns it, for schema-tier targets.
    pub tenant: Option<TenantId>,
    /// How to name it in output (a slug, or `shared`).
    pub label: String,
    /// Migrated in the first phase.
    pub canary: bool,
}

impl FleetTarget {
    /// The name a target's outcome is recorded under: its database for a
    /// tenant database, else its schema.
    pub fn key(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.schema)
    }
}

/// How to run the fleet.
#[derive(Clone, Copy, Debug)]
pub struct FleetOptions {
    /// Targets migrated at once (each holds one connection).
    pub concurrency: usize,
    /// Failures tolerated before the fleet halts.
    pub max_failures: usize,
}

/// What happened to one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetEvent {
    /// Pending migrations were applied.
    Migrated {
        /// Target label.
        target: String,
        /// How many migrations ran.
        applied: usize,
        /// A canary target.
        canary: bool,
    },
    /// Already at the latest version.
    UpToDate {
        /// Target label.
        target: String,
        /// A canary target.
        canary: bool,
    },
    /// Failed and rolled back.
    Failed {
        /// Target label.
        target: String,
        /// The error.
        error: String,
        /// A canary target.
        canary: bool,
    },
    /// Not started: the fleet had halted.
    Skipped {
        /// Target label.
        target: String,
    },
}

/// The outcome of a fleet run.
#[derive(Clone, Debug, Default)]
pub struct FleetReport {
    /// Labels of targets that were migrated.
    pub migrated: Vec<String>,
    /// Labels of targets already up to date.
    pub up_to_date: Vec<String>,
    /// Labels and errors of targets that failed.
    pub failed: Vec<(String, String)>,
    /// Labels of targets not started because the fleet halted.
    pub skipped: Vec<String>,
    /// Whether the fleet halted (a canary failed, or too many failures).
    pub halted: bool,
}

struct Fleet<'a, F> {
    owner_url: &'a str,
    app_role: &'a str,
    set: &'static [Migration],
    options: FleetOptions,
    on_event: &'a F,
    failures: AtomicUsize,
    halted: AtomicBool,
    report: Mutex<FleetReport>,
}

/// Migrates `targets` to the end of `set`; see the module docs.
pub async fn run<F>(
    owner_url: &str,
    app_role: &str,
    set: &'static [Migration],
    targets: Vec<FleetTarget>,
    options: FleetOptions,
    on_event: &F,
) -> Result<FleetReport, MigrationError>
where
    F: Fn(&FleetEvent) + Sync,
{
    let fleet = Fleet {
        owner_url,
        app_role,
        set,
        options,
        on_event,
        failures: AtomicUsize::new(0),
        halted: AtomicBool::new(false),
        report: Mutex::new(FleetReport::default()),
    };
    let (canaries, rest): (Vec<_>, Vec<_>) = targets.into_iter().partition(|t| t.canary);
    fleet.phase(canaries).await?;
    if fleet.failures.load(Ordering::SeqCst) > 0 {
        // A failed canary stops the fleet, whatever `max_failures` says.
        fleet.halted.store(true, Ordering::SeqCst);
    }
    fleet.phase(rest).await?;
    let mut report = fleet.report.into_inner().unwrap_or_else(|p| p.into_inner());
    report.halted = fleet.halted.load(Ordering::SeqCst);
    Ok(report)
}

impl<F: Fn(&FleetEvent) + Sync> Fleet<'_, F> {
    async fn phase(&self, targets: Vec<FleetTarget>) -> Result<(), MigrationError> {
        if targets.is_empty() {
            return Ok(());
        }
        let workers = self.options.concurrency.clamp(1, targets.len());
        let queue = Mutex::new(VecDeque::from(targets));
        let results =
            futures_util::future::join_all((0..workers).map(|_| self.worker(&queue))).await;
        results.into_iter().collect()
    }

    async fn worker(&self, queue: &Mutex<VecDeque<FleetTarget>>) -> Result<(), MigrationError> {
        let mut client: Option<Client> = None;
        loop {
            let Some(target) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front() else {
                return Ok(());
            };
            if self.halted.load(Ordering::SeqCst) {
                self.emit(FleetEvent::Skipped {
                    target: target.label.clone(),
                });
                continue;
            }
            // Connect lazily: a halted fleet opens no more connections.
            let conn = match &mut client {
                Some(conn) => conn,
                None => client.insert(migrate::connect(self.owner_url).await?),
            };
            let outcome = match &target.database {
                None => self.migrate(conn, &target).await,
                Some(database) => match migrate::connect_on(
                    self.owner_url,
                    target.server.as_deref(),
                    Some(database),
                )
                .await
                {
                    Ok(mut own) => self.migrate(&mut own, &target).await,
                    Err(e) => Outcome::failed(&target, None, e.to_string()),
                },
            };
            // Recorded in the control database, whichever database the target is in.
            if let Err(e) = record(conn, &target, outcome.version, outcome.error.as_deref()).await {
                tracing::warn!(target = %target.label, error = %e, "could not record the migration outcome");
            }
            let event = outcome.event;
            if matches!(event, FleetEvent::Failed { .. })
                && self.failures.fetch_add(1, Ordering::SeqCst) + 1 > self.options.max_failures
            {
                self.halted.store(true, Ordering::SeqCst);
            }
            self.emit(event);
        }
    }

    async fn migrate(&self, client: &mut Client, target: &FleetTarget) -> Outcome {
        let latest = self.set.last().map(|m| m.version);
        let (label, canary) = (target.label.clone(), target.canary);
        let before = current_version(client, &target.schema).await.ok().flatten();
        let up_to_date = |version| Outcome {
            event: FleetEvent::UpToDate {
                target: label.clone(),
                canary,
            },
            version,
            error: None,
        };
        if before.is_some() && before == latest {
            return up_to_date(before);
        }
        match migrate::apply(client, &target.schema, self.set, self.app_role).await {
            Ok(0) => up_to_date(before),
            Ok(applied) => Outcome {
                event: FleetEvent::Migrated {
                    target: label,
                    applied,
                    canary,
                },
                version: latest,
                error: None,
            },
            Err(e) => Outcome::failed(target, before, e.to_string()),
        }
    }

    fn emit(&self, event: FleetEvent) {
        (self.on_event)(&event);
        let mut report = self.report.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            FleetEvent::Migrated { target, .. } => report.migrated.push(target),
            FleetEvent::UpToDate { target, .. } => report.up_to_date.push(target),
            FleetEvent::Failed { target, error, .. } => report.failed.push((target, error)),
            FleetEvent::Skipped { target } => report.skipped.push(target),
        }
    }
}

/// One target's result, as reported and as recorded.
struct Outcome {
    event: FleetEvent,
    version: Option<i64>,
    error: Option<String>,
}

impl Outcome {
    fn failed(target: &FleetTarget, version: Option<i64>, error: String) -> Self {
        Self {
            event: FleetEvent::Failed {
                target: target.label.clone(),
                error: error.clone(),
                canary: target.canary,
            },
            version,
            error: Some(error),
        }
    }
}

/// The latest applied version of `target`, connecting to its database when
/// it has its own.
pub async fn target_version(
    owner: &Client,
    owner_url: &str,
    target: &FleetTarget,
) -> Result<Option<i64>, MigrationError> {
    match &target.database {
        None => current_version(owner, &target.schema).await,
        Some(database) => {
            let own =
                migrate::connect_on(owner_url, target.server.as_deref(), Some(database)).await?;
            current_version(&own, &target.schema).await
        }
    }
}

/// The latest applied version of `schema`, or `None` if it has none yet.
pub async fn current_version(client: &Client, schema: &str) -> Result<Option<i64>, MigrationError> {
    let quoted = quote_ident(schema).map_err(MigrationError::Connection)?;
    match client
        .query_one(
            &format!("SELECT max(version) FROM {quoted}.tenantry_migrations"),
            &[],
        )
        .await
    {
        Ok(row) => Ok(row.get(0)),
        Err(e) if matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::INVALID_SCHEMA_NAME) => {
            Ok(None)
        }
        Err(e) => Err(MigrationError::Connection(db_error(e))),
    }
}

async fn record(
    client: &Client,
    target: &FleetTarget,
    version: Option<i64>,
    error: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let state = if error.is_some() { "failed" } else { "ok" };
    client
        .execute(
            "INSERT INTO tenantry.migration_targets (target, owner, version, state, error, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (target) DO UPDATE SET owner = excluded.owner, version = excluded.version,
                 state = excluded.state, error = excluded.error, updated_at = now()",
            &[&target.key(), &target.tenant.map(|t| *t.as_uuid()), &version, &state, &error],
        )
        .await
        .map(drop)
}
