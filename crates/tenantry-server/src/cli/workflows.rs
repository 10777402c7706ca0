//! `tenantry workflows …`: the lifecycle workflows — list, show one, cancel
//! one (its done steps are undone), retry one, and the stuck ones (a step past its
//! deadline; exit status 1 when there are any, for scripts and cron).

use std::time::SystemTime;

use anyhow::{Context, bail};
use clap::Subcommand;
use tenantry::registry::TenantKey;
use tenantry::workflow::{WorkflowId, WorkflowRecord};

use crate::app;
use crate::settings::Settings;

/// Workflow administration.
#[derive(Subcommand, Debug)]
pub(crate) enum WorkflowsCommand {
    /// Workflows, newest first: id, kind, tenant, state, current step.
    List {
        /// Only this tenant's (slug).
        #[arg(long)]
        tenant: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One workflow with its steps, as JSON.
    Show {
        /// Workflow id.
        id: i64,
    },
    /// Stops a running workflow; its done steps are undone by the workers
    /// (or here, with --wait).
    Cancel {
        /// Workflow id.
        id: i64,
        /// Undo the steps in this process and wait for the end.
        #[arg(long)]
        wait: bool,
    },
    /// Tries a workflow again, here, to its end: a failed or cancelled one
    /// starts afresh (a new workflow, same kind and input: its steps were
    /// undone); a live one is carried on (its job back if it lost it).
    Retry {
        /// Workflow id.
        id: i64,
    },
    /// Workflows with a step past its deadline (exit status 1 if any).
    Stuck,
}

pub(crate) async fn run(settings: &Settings, cmd: WorkflowsCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let services = app::connect(&config).await?;
    let lifecycle = crate::lifecycle::Lifecycle::new(&services);
    let workflows = &lifecycle.workflows;
    let slug_of = async |record: &WorkflowRecord| {
        services
            .tenants
            .find(&TenantKey::Id(record.tenant))
            .await
            .ok()
            .flatten()
            .map_or_else(|| record.tenant.to_string(), |t| t.slug.clone())
    };
    match cmd {
        WorkflowsCommand::List { tenant, limit } => {
            let tenant = match tenant {
                Some(slug) => Some(
                    services
                        .tenants
                        .find(&TenantKey::Slug(slug.clone()))
                        .await?
                        .with_context(|| format!("no tenant {slug:?}"))?
                        .id,
                ),
                None => None,
            };
            for record in services.workflow_store.list(tenant, limit).await? {
                let step = record
                    .steps
                    .iter()
                    .find(|s| s.state.is_active())
                    .map_or("-", |s| s.name.as_str());
                crate::stdout::outln!(
                    "{}\t{}\t{}\t{}\t{}",
                    record.id,
                    record.kind,
                    slug_of(&record).await,
                    record.state,
                    step
                );
            }
        }
        WorkflowsCommand::Show { id } => {
            let record = workflows.get(WorkflowId(id)).await?;
            crate::stdout::outln!("{}", serde_json::to_string_pretty(&record)?);
        }
        WorkflowsCommand::Cancel { id, wait } => {
            let id = WorkflowId(id);
            workflows.cancel(id, "cli").await?;
            workflows.schedule(&*services.queue, id).await?;
            if wait {
                let bar = super::progress::WorkflowBar::new();
                let end = crate::lifecycle::run_here(&lifecycle, id, &|r| bar.show(r), &|_| false)
                    .await?;
                bar.finish(&end);
            }
        }
        WorkflowsCommand::Retry { id } => {
            let record = workflows.get(WorkflowId(id)).await?;
            use tenantry::workflow::WorkflowState;
            match record.state {
                WorkflowState::Failed | WorkflowState::Cancelled => {
                    let again = workflows
                        .launch(
                            &*services.queue,
                            &record.kind,
                            record.tenant,
                            record.input.clone(),
                            Some("cli:retry"),
                        )
                        .await?;
                    run_to_end(&lifecycle, again).await?;
                }
                WorkflowState::Running | WorkflowState::Compensating => {
                    workflows.schedule(&*services.queue, record.id).await?;
                    run_to_end(&lifecycle, record.id).await?;
                }
                WorkflowState::Succeeded => {
                    bail!("workflow {id} succeeded; there is nothing to retry")
                }
            }
        }
        WorkflowsCommand::Stuck => {
            let stuck = workflows.stuck(SystemTime::now()).await?;
            for s in &stuck {
                crate::stdout::outln!(
                    "{}\t{}\t{}\t{}\t{}",
                    s.workflow.id,
                    s.workflow.kind,
                    slug_of(&s.workflow).await,
                    s.workflow.state,
                    s.step
                );
            }
            if !stuck.is_empty() {
                bail!("{} workflow(s) stuck", stuck.len());
            }
        }
    }
    Ok(())
}

/// Runs workflow `id` here with a progress bar and prints how it ended;
/// an error unless it succeeded.
async fn run_to_end(lifecycle: &crate::lifecycle::Lifecycle, id: WorkflowId) -> anyhow::Result<()> {
    let bar = super::progress::WorkflowBar::new();
    let end = crate::lifecycle::run_here(lifecycle, id, &|r| bar.show(r), &|_| false).await?;
    bar.finish(&end);
    crate::stdout::outln!("{}", serde_json::to_string_pretty(&end)?);
    if end.state != tenantry::workflow::WorkflowState::Succeeded {
        bail!(
            "workflow {id} ({}) {}: {}",
            end.kind,
            end.state,
            end.error.as_deref().unwrap_or("no reason recorded")
        );
    }
    Ok(())
}
