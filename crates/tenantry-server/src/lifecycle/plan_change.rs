//! A plan change: the tenant's limits, queue weight, flag defaults and
//! connection quota follow its plan as soon as the registry says so (they
//! are read from the plan); its objects may have to move — a plan with a
//! dedicated bucket keeps them there, the others under the shared bucket's
//! prefix. Steps: copy the objects to where the new plan keeps them
//! (each one read back and compared), switch the plan in the registry (one
//! write; every process drops its cached record at once with Redis), then
//! remove the old copies. Reads are served from the old place until the
//! switch and from the new one after it; a write made during the copy
//! lands in the old place and is not carried over — hold uploads for the
//! few seconds of a move, or repeat the copy.

use crate::error::{ServerError, refuse};
use serde::{Deserialize, Serialize};
use tenantry::context::{Plan, TenantContext};
use tenantry::registry::TenantRecord;
use tenantry::workflow::{Step, StepContext, WorkflowDef};

use super::in_tenant;
use crate::services::Services;

/// The kind's name.
pub(crate) const PLAN_CHANGE: &str = "plan_change";

/// What a plan change reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PlanChange {
    /// The plan it leaves.
    pub(crate) from: String,
    /// The plan it moves to.
    pub(crate) to: String,
}

fn input(ctx: &StepContext) -> Result<(Plan, Plan), ServerError> {
    let change: PlanChange = serde_json::from_value((*ctx.input).clone())?;
    let plan = |name: &str| Plan::new(name).map_err(ServerError::other);
    Ok((plan(&change.from)?, plan(&change.to)?))
}

/// `record`'s context on `plan`.
fn on_plan(record: &TenantRecord, plan: &Plan) -> Result<TenantContext, ServerError> {
    Ok(record.context().plan(plan.clone()).build()?)
}

/// Copies every object from `old`'s place to `new`'s, reading each copy
/// back; returns how many.
async fn copy_objects(
    services: &Services,
    old: &TenantContext,
    new: &TenantContext,
) -> Result<usize, ServerError> {
    let storage = &services.storage;
    if storage.layout(old) == storage.layout(new) {
        return Ok(0);
    }
    new.clone().scope(storage.ensure_bucket()).await?;
    let objects = old.clone().scope(storage.list(None)).await?;
    for object in &objects {
        let bytes = old.clone().scope(storage.get(&object.key)).await?;
        new.clone()
            .scope(storage.put(&object.key, bytes.clone()))
            .await?;
        let copy = new.clone().scope(storage.get(&object.key)).await?;
        if copy != bytes {
            refuse!("the copy of {} differs", object.key);
        }
    }
    Ok(objects.len())
}

pub(super) fn definition(services: &Services) -> WorkflowDef {
    WorkflowDef::new(PLAN_CHANGE)
        .step(
            Step::new(
                "copy_objects",
                in_tenant(services, async |services, record, ctx| {
                    let (from, to) = input(&ctx)?;
                    let copied = copy_objects(
                        &services,
                        &on_plan(&record, &from)?,
                        &on_plan(&record, &to)?,
                    )
                    .await?;
                    tracing::info!(copied, "objects copied for the plan change");
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, record, ctx| {
                let (from, to) = input(&ctx)?;
                let (old, new) = (on_plan(&record, &from)?, on_plan(&record, &to)?);
                if services.storage.layout(&old) != services.storage.layout(&new) {
                    new.scope(services.storage.remove_bucket()).await?;
                }
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "switch_plan",
                in_tenant(services, async |services, record, ctx| {
                    let (_, to) = input(&ctx)?;
                    // The old layout's objects go next: no process may
                    // still use it.
                    super::everywhere::applied(
                        &services,
                        services.tenants.set_plan(record.id, &to),
                    )
                    .await?;
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, record, ctx| {
                let (from, _) = input(&ctx)?;
                services.tenants.set_plan(record.id, &from).await?;
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "remove_old_objects",
                in_tenant(services, async |services, record, ctx| {
                    let (from, to) = input(&ctx)?;
                    let (old, new) = (on_plan(&record, &from)?, on_plan(&record, &to)?);
                    if services.storage.layout(&old) != services.storage.layout(&new) {
                        old.scope(services.storage.remove_bucket()).await?;
                    }
                    Ok(())
                }),
            )
            .attempts(3),
        )
}
