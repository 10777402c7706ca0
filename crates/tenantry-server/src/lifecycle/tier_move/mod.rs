//! The online tier move: a tenant moves between the shared, schema and
//! database tiers while it keeps reading and writing.
//!
//! | step | what happens | what the tenant sees |
//! |---|---|---|
//! | `provision` | the target (schema, database — on another server if asked — or SQLite file) is created and migrated | nothing |
//! | `copy` | every tenant table is copied in key order, a chunk per transaction; the target's highest key is the resume mark | nothing (reads and writes on the source) |
//! | `dual_write` | the route becomes "write both, read source" while the target fills (a write the target refuses is skipped there), every live server process must acknowledge it, a catch-up copies what changed; then "write both or neither", acknowledged, and a second catch-up | each write is a transaction on both tiers |
//! | `hold` | with `--hold`, waits for `tenants move SLUG --cutover` | as above |
//! | `verify` | per table, row counts and checksums of both sides; a range that differs is re-read with the source rows locked; what still differs stops the move, listing the keys, until `--resume` (repair from the source) or `--rollback` | as above |
//! | `cutover` | the route becomes "read target, write both", acknowledged, then the target alone, acknowledged | reads and writes on the target; no pause beyond one write's transaction |
//! | `retire` | after the retention period (7 days unless told; `--finish` ends it now) the source is dropped: the schema, database or file, or the tenant's shared rows | nothing |
//!
//! `--rollback` at any step before `retire` undoes the steps done, newest
//! first: after the cutover the source is caught up from the target again
//! and the route goes back, then the target is dropped.
//!
//! Jobs, objects, cache entries, settings, flags and secrets live in the
//! control plane, the object store and the cache, not in a tier: a move
//! does not touch them and they keep working throughout.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::{Doing as _, ServerError, refuse};
use serde::{Deserialize, Serialize};
use tenantry::context::{Route, TenantContext, Tier};
use tenantry::moves::{TableCheck, TierCopy};
use tenantry::registry::{RouteChange, TenantRecord, TenantState};
use tenantry::workflow::{Step, StepContext, StepError, WorkflowDef, WorkflowId};

use super::{Lifecycle, in_tenant};
use crate::services::Services;

mod crash_hook;
mod report;

use crash_hook::{crash_point, current_step};
pub(crate) use report::show;
pub use report::{far_enough, stopped};

/// The kind's name.
pub(crate) const TIER_MOVE: &str = "tier_move";

/// How long the source is kept after the cutover unless told otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a tier move reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TierMove {
    /// The tier it leaves.
    pub(crate) from: Tier,
    /// The tier it goes to.
    pub(crate) to: Tier,
    /// The database server of `from`, when it is the database tier on
    /// another server.
    pub(crate) from_server: Option<String>,
    /// The same for `to`.
    pub(crate) to_server: Option<String>,
    /// The source is kept this long after the cutover (milliseconds).
    pub(crate) retention_ms: u64,
    /// When the source may be retired (set by the cutover).
    pub(crate) retire_after_ms: Option<u64>,
    /// Wait for the operator's `--cutover` before verifying.
    pub(crate) hold: bool,
    /// Who asked.
    pub(crate) requested_by: String,
}

impl TierMove {
    /// The database server the move's routes name (at most one side is
    /// the database tier on a server of its own).
    fn server(&self) -> Option<String> {
        self.from_server.clone().or_else(|| self.to_server.clone())
    }

    fn source_route(&self) -> Route {
        with_server(Route::single(self.from), self.server())
    }

    fn target_route(&self) -> Route {
        with_server(Route::single(self.to), self.server())
    }
}

fn with_server(route: Route, server: Option<String>) -> Route {
    match server {
        Some(server) => route.with_database_server(server),
        None => route,
    }
}

fn input(ctx: &StepContext) -> Result<TierMove, ServerError> {
    Ok(serde_json::from_value((*ctx.input).clone())?)
}

/// Starts moving `record` to tier `to` (`server`: the database tier on
/// another PostgreSQL server); the workflow, for the lifecycle workers.
pub async fn start(
    lifecycle: &Lifecycle,
    record: &TenantRecord,
    to: Tier,
    server: Option<String>,
    retention: Duration,
    hold: bool,
    requested_by: &str,
) -> Result<WorkflowId, ServerError> {
    let services = &lifecycle.services;
    if record.tier == to {
        refuse!("{} is on the {to} tier already", record.slug);
    }
    if record.moving_to.is_some() {
        refuse!("{} is moving already", record.slug);
    }
    if !matches!(record.state, TenantState::Active | TenantState::Suspended) {
        refuse!(
            "{} is {}: only an active or suspended tenant moves",
            record.slug,
            record.state
        );
    }
    if server.is_some() && to != Tier::Database {
        refuse!("--database-server is for a move to the database tier");
    }
    if server.is_some() && record.database_server.is_some() {
        refuse!(
            "{} is on a database server of its own already; a move names at most one",
            record.slug
        );
    }
    if let Some(url) = &server {
        tenantry::data::postgres::parse_database_server(url)
            .doing(|| format!("--database-server {url}"))?;
    }
    if to != Tier::Shared && !crate::provision::warm_tiers(services).contains(&to) {
        refuse!("this database does not serve the {to} tier");
    }
    let input = TierMove {
        from: record.tier,
        to,
        from_server: record.database_server.clone(),
        to_server: server,
        retention_ms: u64::try_from(retention.as_millis())?,
        retire_after_ms: None,
        hold,
        requested_by: requested_by.to_owned(),
    };
    Ok(lifecycle
        .workflows
        .launch(
            &*services.queue,
            TIER_MOVE,
            record.id,
            serde_json::to_value(input)?,
            Some(requested_by),
        )
        .await?)
}

/// An operator's word to a running move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveOrder {
    /// Release a `--hold`: verify and cut over now.
    Cutover,
    /// Retire the source now instead of after the retention period.
    Finish,
    /// Repair the target from the source (after a verify mismatch) and
    /// verify again.
    Resume,
    /// Undo the move.
    Rollback,
}

/// Gives the running move of `record` `order`; the workflow.
pub async fn order(
    lifecycle: &Lifecycle,
    record: &TenantRecord,
    order: MoveOrder,
    by: &str,
) -> Result<WorkflowId, ServerError> {
    let Lifecycle {
        services,
        workflows,
    } = lifecycle;
    let running = workflows
        .store()
        .list(Some(record.id), 20)
        .await?
        .into_iter()
        .find(|w| w.kind == TIER_MOVE && w.state.is_live())
        .doing(|| format!("{} has no tier move running", record.slug))?;
    let mut input: TierMove = serde_json::from_value(running.input.clone())?;
    match order {
        MoveOrder::Cutover => input.hold = false,
        MoveOrder::Finish => {
            if input.retire_after_ms.is_none() {
                refuse!(
                    "{} has not been cut over yet: nothing to retire",
                    record.slug
                );
            }
            input.retire_after_ms = Some(now_ms()?);
        }
        MoveOrder::Resume => {
            let copy = copier(services, record, &input, false)?;
            let ctx = super::lifecycle_context(record)?;
            ctx.scope(async {
                for check in copy.catch_up(&copy.tables().await?).await? {
                    tracing::info!(%check, repaired = check.repaired, "tier move: repaired from the source");
                }
                Ok::<_, ServerError>(())
            })
            .await?;
        }
        MoveOrder::Rollback => {
            workflows.cancel(running.id, by).await?;
            workflows.schedule(&*services.queue, running.id).await?;
            return Ok(running.id);
        }
    }
    workflows
        .store()
        .set_input(running.id, &serde_json::to_value(&input)?)
        .await?;
    workflows.schedule(&*services.queue, running.id).await?;
    Ok(running.id)
}

fn now_ms() -> Result<u64, ServerError> {
    Ok(u64::try_from(jiff::Timestamp::now().as_millisecond())?)
}

/// The copier from the move's source to its target (`back`: from the
/// target to the source, a rollback after the cutover), as `record`'s
/// tenant.
fn copier(
    services: &Services,
    record: &TenantRecord,
    input: &TierMove,
    back: bool,
) -> Result<TierCopy, ServerError> {
    let tenant: TenantContext = super::lifecycle_context(record)?;
    let (from, to) = (input.source_route(), input.target_route());
    let (from, to) = if back { (to, from) } else { (from, to) };
    Ok(TierCopy::new(services.db.clone(), &tenant, from, to))
}

/// `record` as it would be on `tier` (what provisioning and dropping take).
fn on_tier(record: &TenantRecord, tier: Tier, server: Option<String>) -> TenantRecord {
    let mut on = record.clone();
    on.tier = tier;
    on.database_server = server;
    on
}

/// Changes `record`'s route and waits until every live server process
/// serves it; fails naming the processes that do not.
async fn reroute(
    services: &Services,
    record: &TenantRecord,
    change: RouteChange,
) -> Result<TenantRecord, ServerError> {
    super::everywhere::applied(services, services.tenants.set_route(record.id, change)).await
}

/// Every table caught up from `copy`'s source; what was repaired.
async fn catch_up(copy: &TierCopy) -> Result<u64, ServerError> {
    let checks = copy.catch_up(&copy.tables().await?).await?;
    Ok(checks.iter().map(|c| c.repaired).sum())
}

/// Every table compared; the tables that differ.
async fn verify(copy: &TierCopy) -> Result<Vec<TableCheck>, ServerError> {
    let mut differing = Vec::new();
    for table in copy.tables().await? {
        let check = copy.verify(&table).await?;
        tracing::info!(%check, "tier move: verified");
        if !check.matches() {
            differing.push(check);
        }
    }
    Ok(differing)
}

/// A step that reads the move's input; failures are worth another attempt.
fn moving<F, Fut>(
    services: &Services,
    body: F,
) -> impl Fn(StepContext) -> std::pin::Pin<Box<dyn Future<Output = Result<(), StepError>> + Send>>
+ Send
+ Sync
+ 'static
where
    F: Fn(Services, Arc<TenantRecord>, TierMove, StepContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ServerError>> + Send + 'static,
{
    let body = Arc::new(body);
    in_tenant(services, move |services, record, ctx| {
        let body = body.clone();
        async move {
            let input = input(&ctx)?;
            let step = current_step(&services, &ctx).await;
            crash_point(&step, "before", ctx.attempt).await;
            body(services, record, input, ctx.clone()).await?;
            crash_point(&step, "after", ctx.attempt).await;
            Ok(())
        }
    })
}

pub(super) fn definition(services: &Services) -> WorkflowDef {
    WorkflowDef::new(TIER_MOVE)
        .step(
            Step::new(
                "provision",
                moving(services, async |services, record, input, _| {
                    let target = on_tier(&record, input.to, input.to_server.clone());
                    crate::provision::provision_target(&services, &target).await
                }),
            )
            .compensate(moving(services, async |services, record, input, _| {
                // Never the tier the tenant is served from.
                if record.tier == input.to && record.moving_to.is_none() {
                    refuse!("{} is served from the {} tier: not dropping it", record.slug, input.to);
                }
                if input.to == Tier::Shared {
                    let copy = copier(&services, &record, &input, false)?;
                    let reverse = copier(&services, &record, &input, true)?;
                    let tables = copy.tables().await?;
                    let deleted = reverse.clear_source(&tables).await?;
                    tracing::info!(deleted, "tier move rolled back: the copied shared rows are gone");
                    return Ok(());
                }
                let target = on_tier(&record, input.to, input.to_server.clone());
                crate::provision::drop_target(&services, &target).await
            }))
            .deadline(Duration::from_secs(600))
            .attempts(3),
        )
        .step(
            Step::new(
                "copy",
                moving(services, async |services, record, input, _| {
                    let copy = copier(&services, &record, &input, false)?;
                    for table in copy.tables().await? {
                        let copied = copy.copy(&table).await?;
                        tracing::info!(table = %table.name, copied, "tier move: table copied");
                    }
                    let target = on_tier(&record, input.to, input.to_server.clone());
                    crate::provision::analyze_target(&services, &target).await
                }),
            )
            .deadline(Duration::from_secs(3600)),
        )
        .step(
            Step::new(
                "dual_write",
                moving(services, async |services, record, input, _| {
                    let server = input.server();
                    let filling = RouteChange::mirrored(input.from, input.to, false, server.clone());
                    let record = reroute(&services, &record, filling).await?;
                    let copy = copier(&services, &record, &input, false)?;
                    let repaired = catch_up(&copy).await?;
                    tracing::info!(repaired, "tier move: caught up while the mirror filled");
                    let synced = RouteChange::mirrored(input.from, input.to, true, server);
                    reroute(&services, &record, synced).await?;
                    let repaired = catch_up(&copy).await?;
                    tracing::info!(repaired, "tier move: caught up with the mirror in sync");
                    Ok(())
                }),
            )
            .compensate(moving(services, async |services, record, input, _| {
                let back = RouteChange::settled(input.from, input.from_server.clone());
                reroute(&services, &record, back).await?;
                Ok(())
            }))
            .deadline(Duration::from_secs(3600)),
        )
        .step(
            Step::new("hold", |_| async { Ok(()) }).not_before(|input| {
                let input: TierMove = serde_json::from_value(input.clone()).ok()?;
                // Asked again after each wait; `--cutover` releases it.
                input
                    .hold
                    .then(|| SystemTime::now() + Duration::from_secs(3600))
            }),
        )
        .step(
            Step::new(
                "verify",
                moving(services, async |services, record, input, _| {
                    let copy = copier(&services, &record, &input, false)?;
                    let differing = verify(&copy).await?;
                    if differing.is_empty() {
                        return Ok(());
                    }
                    let report: Vec<String> = differing.iter().map(ToString::to_string).collect();
                    tracing::error!(
                        tenant = %record.slug,
                        "tier move stopped: source and target differ ({}); `tenants move {} --resume` repairs the target from the source, `--rollback` undoes the move",
                        report.join("; "),
                        record.slug
                    );
                    refuse!("source and target differ: {}", report.join("; "))
                }),
            )
            // A mismatch waits for the operator (`--resume`, `--rollback`);
            // each attempt verifies again.
            .attempts(1000)
            .deadline(Duration::from_secs(3600)),
        )
        .step(
            Step::new(
                "cutover",
                moving(services, async |services, record, input, ctx| {
                    let server = input.server();
                    let both = RouteChange::mirrored(input.to, input.from, true, server.clone());
                    let record = reroute(&services, &record, both).await?;
                    reroute(&services, &record, RouteChange::settled(input.to, server)).await?;
                    tracing::info!(tenant = %record.slug, tier = %input.to, "tier move: cut over");
                    if input.retire_after_ms.is_none() {
                        let mut input = input;
                        input.retire_after_ms = Some(now_ms()?.saturating_add(input.retention_ms));
                        services
                            .workflow_store
                            .set_input(ctx.workflow, &serde_json::to_value(&input)?)
                            .await?;
                    }
                    Ok(())
                }),
            )
            .compensate(moving(services, async |services, record, input, _| {
                if record.tier != input.to {
                    return Ok(()); // not cut over: nothing to bring back
                }
                // The source missed what was written since the cutover:
                // catch it up from the target, then route back.
                let server = input.server();
                let filling = RouteChange::mirrored(input.to, input.from, false, server.clone());
                let record = reroute(&services, &record, filling).await?;
                let reverse = copier(&services, &record, &input, true)?;
                catch_up(&reverse).await?;
                let synced = RouteChange::mirrored(input.to, input.from, true, server.clone());
                let record = reroute(&services, &record, synced).await?;
                catch_up(&reverse).await?;
                let back = RouteChange::mirrored(input.from, input.to, true, server);
                reroute(&services, &record, back).await?;
                Ok(())
            }))
            .deadline(Duration::from_secs(600)),
        )
        .step(
            Step::new(
                "retire",
                moving(services, async |services, record, input, _| {
                    let copy = copier(&services, &record, &input, false)?;
                    if input.from == Tier::Shared {
                        let tables = copy.tables().await?;
                        let deleted = copy.clear_source(&tables).await?;
                        tracing::info!(deleted, "tier move: the shared rows are retired");
                    } else {
                        let source = on_tier(&record, input.from, input.from_server.clone());
                        crate::provision::drop_target(&services, &source).await?;
                    }
                    // The source's server is no longer the tenant's.
                    let settled = RouteChange::settled(input.to, input.to_server.clone());
                    reroute(&services, &record, settled).await?;
                    Ok(())
                }),
            )
            .not_before(|input| {
                let input: TierMove = serde_json::from_value(input.clone()).ok()?;
                Some(match input.retire_after_ms {
                    Some(at) => SystemTime::UNIX_EPOCH + Duration::from_millis(at),
                    // Not cut over (cannot happen: the cutover comes first).
                    None => SystemTime::now() + Duration::from_secs(3600),
                })
            })
            .point_of_no_return()
            .deadline(Duration::from_secs(3600)),
        )
}
