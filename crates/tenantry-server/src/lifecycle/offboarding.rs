//! Offboarding: `suspended → export → (grace) → deleting → deleted`.
//!
//! The tenant is suspended (its requests answered 403, its jobs held), its
//! data exported to one archive in its own storage — the URL printed by
//! `tenants delete` and `tenants export` stays valid for the grace period
//! — and, once the grace period is over, every store is cleared: its rows
//! (in batches, under its own scope) or its schema, database or SQLite
//! file; its objects in every layout it may have had, the export
//! included; its secrets (the data key destroyed, so backups of its
//! ciphertexts are unreadable: crypto-shredding); its cache entries,
//! rate-limit state and metric series; its e-mail files; its control-plane rows (settings,
//! flags, domains, queued and dead-lettered jobs). Each store's count is
//! noted in the deletion record as it is cleared.
//!
//! Until the grace period ends the workflow can be cancelled (the tenant
//! returns to the state it was in, the export is removed). From the
//! `deleting` step on there is no way back: a failing step is retried
//! until it works, and reported stuck past its deadline.

use crate::error::{Doing as _, ServerError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tenantry::deletion::DeletionRecord;
use tenantry::registry::{TenantRecord, TenantState};
use tenantry::workflow::{Step, StepContext, WorkflowDef};

use super::{everywhere, in_tenant};
use crate::services::Services;

/// The kind's name.
pub(crate) const OFFBOARDING: &str = "offboarding";

/// What offboarding reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Offboarding {
    /// Not before this (ms since the epoch) is anything deleted.
    pub(crate) delete_after_ms: u64,
    /// The state the tenant was in (restored if offboarding is cancelled).
    pub(crate) was: TenantState,
    /// Who asked.
    pub(crate) requested_by: String,
    /// When (ms since the epoch).
    pub(crate) requested_at_ms: u64,
}

impl Offboarding {
    /// The end of the grace period.
    pub(crate) fn delete_after(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.delete_after_ms)
    }
}

fn input(ctx: &StepContext) -> Result<Offboarding, ServerError> {
    Ok(serde_json::from_value((*ctx.input).clone())?)
}

/// The name of workflow `ctx`'s export archive.
pub(crate) fn export_name(workflow: tenantry::workflow::WorkflowId) -> String {
    format!("offboarding-{workflow}")
}

/// Notes that `store` held `count` of the tenant's items.
async fn note(
    services: &Services,
    record: &TenantRecord,
    store: &str,
    count: u64,
) -> Result<(), ServerError> {
    Ok(services.deletions.note(record.id, store, count).await?)
}

pub(super) fn definition(services: &Services) -> WorkflowDef {
    WorkflowDef::new(OFFBOARDING)
        .step(
            Step::new(
                "suspend",
                in_tenant(services, async |services, record, _| {
                    // Held everywhere before anything is exported: no
                    // write of the tenant's lands after the export.
                    if record.state == TenantState::Active {
                        let suspend = services
                            .tenants
                            .set_state(record.id, TenantState::Suspended);
                        everywhere::applied(&services, suspend).await?;
                    } else {
                        everywhere::current(&services, record.id).await?;
                    }
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, record, ctx| {
                // Only an operator's cancellation gives the tenant its
                // service back; a failed offboarding leaves it suspended
                // for an operator to retry (or cancel).
                let was = input(&ctx)?.was;
                if ctx.cancelled
                    && record.state == TenantState::Suspended
                    && was == TenantState::Active
                {
                    // Served again everywhere before the cancellation ends.
                    everywhere::applied(&services, services.tenants.set_state(record.id, was))
                        .await?;
                }
                Ok(())
            }))
            .attempts(3),
        )
        .step(
            Step::new(
                "export",
                in_tenant(services, async |services, _, ctx| {
                    let export =
                        crate::export::export(&services, &export_name(ctx.workflow)).await?;
                    tracing::info!(
                        key = %export.key,
                        bytes = export.bytes,
                        objects = export.objects,
                        "offboarding export written"
                    );
                    Ok(())
                }),
            )
            .compensate(in_tenant(services, async |services, _, ctx| {
                crate::export::remove(&services, &export_name(ctx.workflow)).await
            }))
            .deadline(Duration::from_secs(1800))
            .attempts(3),
        )
        .step(
            Step::new("grace", |_| async { Ok(()) }).not_before(|input| {
                let input: Offboarding = serde_json::from_value(input.clone()).ok()?;
                Some(input.delete_after())
            }),
        )
        .step(
            Step::new(
                "deleting",
                in_tenant(services, async |services, record, ctx| {
                    let input = input(&ctx)?;
                    services
                        .deletions
                        .open(&DeletionRecord {
                            tenant: record.id,
                            slug: record.slug.to_string(),
                            requested_by: input.requested_by,
                            requested_at_ms: i64::try_from(input.requested_at_ms)?,
                            finished_at_ms: None,
                            backups_clear_after_ms: None,
                            removed: Default::default(),
                        })
                        .await?;
                    if record.state == TenantState::Deleting {
                        everywhere::current(&services, record.id).await?;
                    } else {
                        let deleting = services.tenants.set_state(record.id, TenantState::Deleting);
                        everywhere::applied(&services, deleting).await?;
                    }
                    Ok(())
                }),
            )
            .point_of_no_return(),
        )
        .step(
            Step::new(
                "tenant_data",
                in_tenant(services, async |services, record, _| {
                    erase_tenant_data(&services, &record).await
                }),
            )
            .deadline(Duration::from_secs(3600)),
        )
        .step(
            Step::new(
                "objects",
                in_tenant(services, async |services, record, _| {
                    let found = services.storage.count_everywhere().await?;
                    note(&services, &record, "objects", found as u64).await?;
                    services.storage.remove_everywhere().await?;
                    Ok(())
                }),
            )
            .deadline(Duration::from_secs(1800)),
        )
        .step(Step::new(
            "secrets",
            in_tenant(services, async |services, record, _| {
                let secrets = services.secrets.list().await.map(|l| l.len()).unwrap_or(0);
                note(&services, &record, "secrets", secrets as u64).await?;
                let key = services.secrets.destroy_tenant_key().await?;
                note(&services, &record, "data_key", u64::from(key)).await?;
                Ok(())
            }),
        ))
        .step(Step::new(
            "caches",
            in_tenant(services, async |services, record, _| {
                let entries = services.summaries.forget_tenant().await?;
                note(&services, &record, "cache_entries", entries).await?;
                let mut rates = 0;
                for limiter in [&services.rates, &services.signup_rates]
                    .into_iter()
                    .flatten()
                {
                    rates += limiter
                        .forget(record.id)
                        .await
                        .map_err(ServerError::other)?;
                }
                note(&services, &record, "rate_limiter", rates).await?;
                services.config.forget(record.id);
                // Its metric series end in this process; in others when it
                // drops out of their busiest tenants (it has no traffic).
                services.http_metrics.forget_tenant(record.id);
                services.job_metrics.forget_tenant(record.id);
                services.limit_metrics.forget_tenant(record.id);
                Ok(())
            }),
        ))
        .step(Step::new(
            "emails",
            in_tenant(services, async |services, record, _| {
                let Some(dir) = outbox_of(&services, &record) else {
                    return Ok(());
                };
                let files = std::fs::read_dir(&dir).map_or(0, |d| d.count());
                note(&services, &record, "emails", files as u64).await?;
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(e).doing(|| format!("removing {}", dir.display())),
                }
            }),
        ))
        .step(Step::new(
            "control_plane",
            in_tenant(services, async |services, record, _| {
                let removed = services.deletions.purge(record.id).await?;
                for (store, count) in removed {
                    note(&services, &record, &store, count).await?;
                }
                Ok(())
            }),
        ))
        .step(Step::new(
            "deleted",
            in_tenant(services, async |services, record, _| {
                let now = SystemTime::now();
                services
                    .deletions
                    .close(record.id, now, now + services.backup_retention)
                    .await?;
                if record.state != TenantState::Deleted {
                    services
                        .tenants
                        .set_state(record.id, TenantState::Deleted)
                        .await?;
                }
                Ok(())
            }),
        ))
}

/// The directory of `record`'s e-mail files, when e-mails are files.
pub(crate) fn outbox_of(services: &Services, record: &TenantRecord) -> Option<std::path::PathBuf> {
    services
        .outbox
        .as_ref()
        .map(|dir| dir.join(record.slug.as_str()))
}

/// Clears the tenant plane: the shared tier's rows in batches, or the
/// tenant's own schema, database or file; each count noted. On SQLite the
/// write-ahead log is truncated after, so no page image of a deleted row
/// is left there (free pages are zeroed by `secure_delete`).
async fn erase_tenant_data(services: &Services, record: &TenantRecord) -> Result<(), ServerError> {
    use tenantry::context::Tier;
    match record.tier {
        Tier::Shared => {
            for table in crate::tenant_rows::TABLES {
                let rows = table.count(&services.db).await?;
                note(services, record, &format!("rows.{}", table.name), rows).await?;
                table.delete_all(&services.db).await?;
            }
            if let tenantry::data::Database::Sqlite(lite) = &services.db {
                lite.truncate_wal().await?;
            }
        }
        tier => {
            let rows = if crate::provision::target_exists(services, record).await? {
                let mut rows = 0;
                for table in crate::tenant_rows::TABLES {
                    rows += table.count(&services.db).await?;
                }
                rows
            } else {
                0
            };
            note(services, record, &format!("{tier}.rows"), rows).await?;
            crate::provision::drop_target(services, record).await?;
        }
    }
    Ok(())
}
