//! Onboarding: a registered (`provisioning`) tenant gets its tier target,
//! its storage (a bucket of its own for plans that have one, created on S3
//! for real), its data key, its default settings and its first admin, then
//! becomes `active`. A failure undoes the finished steps, newest first (the
//! admin removed, the key destroyed, the bucket and its objects deleted,
//! the target dropped), and the tenant ends `failed` — its requests
//! answered 404 — with the reason on the workflow; `tenants provision`
//! starts it again.

use crate::error::ServerError;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tenantry::registry::TenantState;
use tenantry::workflow::{Step, WorkflowDef};

use super::in_tenant;
use crate::services::Services;

/// The kind's name.
pub(crate) const ONBOARDING: &str = "onboarding";

/// What onboarding reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Onboarding {
    /// The first admin's e-mail, if one is to be created.
    pub(crate) admin_email: Option<String>,
}

/// The first admin's user id: derived from the tenant and the address, so
/// a rerun of the step makes the same user, and whoever onboarded the
/// tenant can mint the admin's first token at once.
pub fn first_admin_id(tenant: tenantry::context::TenantId, email: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(tenant.as_uuid(), email.as_bytes())
}

fn input(ctx: &tenantry::workflow::StepContext) -> Result<Onboarding, ServerError> {
    Ok(serde_json::from_value((*ctx.input).clone())?)
}

pub(super) fn definition(services: &Services) -> WorkflowDef {
    WorkflowDef::new(ONBOARDING)
        // Undone last: the tenant is left `failed` once the rest is undone.
        .step(
            Step::new(
                "register",
                in_tenant(services, async |services, record, _| {
                    if record.state == TenantState::Failed {
                        services
                            .tenants
                            .set_state(record.id, TenantState::Provisioning)
                            .await?;
                    }
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, record, _| {
                if record.state == TenantState::Provisioning {
                    services
                        .tenants
                        .set_state(record.id, TenantState::Failed)
                        .await?;
                }
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "tier",
                in_tenant(services, async |services, record, _| {
                    crate::provision::provision_target(&services, &record).await
                }),
            )
            .compensate(in_tenant(services, async |services, record, _| {
                crate::provision::drop_target(&services, &record).await
            }))
            .deadline(Duration::from_secs(600))
            .attempts(3),
        )
        .step(
            Step::new(
                "storage",
                in_tenant(services, async |services, _, _| {
                    Ok(services.storage.ensure_bucket().await?)
                }),
            )
            .compensate(in_tenant(services, async |services, _, _| {
                services.storage.remove_bucket().await?;
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "data_key",
                in_tenant(services, async |services, _, _| {
                    Ok(services.secrets.ensure_tenant_key().await?)
                }),
            )
            .compensate(in_tenant(services, async |services, _, _| {
                services.secrets.destroy_tenant_key().await?;
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "settings",
                in_tenant(services, async |services, _, _| {
                    let current = services.config.settings().await?;
                    services.config.update_settings(current).await?;
                    Ok(())
                }),
            )
            .attempts(3),
        )
        .step(
            Step::new(
                "admin",
                in_tenant(services, async |services, _, ctx| {
                    let Some(email) = input(&ctx)?.admin_email else {
                        return Ok(());
                    };
                    if crate::store::users::by_email(&services.db, &email)
                        .await?
                        .is_none()
                    {
                        let id = first_admin_id(ctx.tenant, &email);
                        crate::store::users::insert(&services.db, id, &email, "Admin", "admin")
                            .await?;
                    }
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, _, ctx| {
                let Some(email) = input(&ctx)?.admin_email else {
                    return Ok(());
                };
                if let Some(user) = crate::store::users::by_email(&services.db, &email).await? {
                    crate::store::users::delete(&services.db, user.id).await?;
                }
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "activate",
                in_tenant(services, async |services, record, ctx| {
                    if record.state == TenantState::Provisioning {
                        services
                            .tenants
                            .set_state(record.id, TenantState::Active)
                            .await?;
                    }
                    // Welcome the first admin now that the tenant serves (a
                    // provisioning tenant's jobs are held); queued once per
                    // address, however often this step runs.
                    if let Some(email) = input(&ctx)?.admin_email {
                        crate::jobs::invite(&services, &email).await?;
                    }
                    Ok(())
                }),
            )
            .attempts(3),
        )
}
