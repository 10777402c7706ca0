//! `tenantry tenants …`: register, list, show, suspend, resume, finish
//! provisioning, change plan, export, delete, and scan for residue. Only
//! the commands that create in the tenant plane (`create`, `provision`,
//! `set-plan`) run the start-up migration and audit.

use anyhow::Context;
use clap::{Args, Subcommand};
use tenantry::context::{Plan, Tier};
use tenantry::registry::{NewTenant, TenantKey, TenantRecord, TenantState};

use crate::app;
use crate::settings::Settings;

#[derive(Subcommand, Debug)]
pub(crate) enum TenantsCommand {
    /// Register a tenant and onboard it (its tier target, storage, data key,
    /// settings and first admin), run here as a durable workflow.
    Create(CreateArgs),
    /// List tenants.
    List,
    /// Show one tenant.
    Show { slug: String },
    /// Suspend a tenant (its requests get 403).
    Suspend { slug: String },
    /// Resume a suspended tenant.
    Resume { slug: String },
    /// Finish onboarding a tenant left `provisioning`, or onboard a
    /// `failed` one again (idempotent).
    Provision { slug: String },
    /// Move a tenant to another plan: limits, queue weight, flag defaults
    /// and connection quota follow; its files move when the storage layout
    /// differs (a plan's own bucket, or the shared one).
    SetPlan {
        /// Tenant slug.
        slug: String,
        /// The new plan (free, pro, enterprise).
        plan: Plan,
    },
    /// Export a tenant's data (every table as JSON Lines, every object) as
    /// one archive in its storage, and print a download URL valid for a day.
    Export { slug: String },
    /// Offboard a tenant: suspend it, export its data (the URL is printed,
    /// valid for the grace period), and when the grace period is over
    /// delete it from every store, keeping a deletion record. Within the
    /// grace period `tenantry workflows cancel` undoes it.
    Delete {
        /// Tenant slug.
        slug: String,
        /// How long the tenant stays suspended with its export
        /// downloadable before anything is deleted (`0`, `12h`, `7d`); the
        /// server's workers finish it then.
        #[arg(long, default_value = "0s", value_parser = parse_grace)]
        grace: std::time::Duration,
    },
    /// Everything any store still holds of a tenant, one store per line
    /// (exit status 1 if anything); nothing after a finished delete.
    Residue { slug: String },
    /// The deletion record of a deleted tenant, as JSON.
    Deletion { slug: String },
    /// Move a tenant to another tier while it keeps serving: provision,
    /// copy, dual-write (every server acknowledges), verify, cut over, and
    /// retire the source after the retention period. Run here up to the
    /// cutover (the server's workers carry on when this stops); without
    /// `--to` or an order, shows the running move.
    Move(MoveArgs),
}

/// `tenants create`.
#[derive(Args, Debug)]
pub(crate) struct CreateArgs {
    /// DNS-label slug.
    #[arg(long)]
    pub(crate) slug: String,
    /// Display name [default: the slug].
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Plan: one of the server's plans (free, pro, enterprise).
    #[arg(long, default_value = "free")]
    pub(crate) plan: Plan,
    /// Isolation tier: shared, schema (PostgreSQL) or database (a
    /// PostgreSQL database, or a SQLite file, per tenant).
    #[arg(long, default_value = "shared")]
    pub(crate) tier: Tier,
    /// A custom domain (repeatable).
    #[arg(long = "domain")]
    pub(crate) domains: Vec<String>,
    /// Database tier on PostgreSQL: put the tenant's database on this
    /// server (`postgres://host:port`) instead of the default one.
    #[arg(long)]
    pub(crate) database_server: Option<String>,
    /// Create the tenant's first admin user with this e-mail.
    #[arg(long)]
    pub(crate) admin_email: Option<String>,
}

/// `tenants move`.
#[derive(Args, Debug)]
pub(crate) struct MoveArgs {
    /// Tenant slug.
    pub(crate) slug: String,
    /// The tier to move to: shared, schema (PostgreSQL) or database.
    #[arg(long, conflicts_with_all = ["cutover", "finish", "resume", "rollback"])]
    pub(crate) to: Option<Tier>,
    /// With `--to database` on PostgreSQL: the server to put the
    /// tenant's database on (`postgres://host:port`).
    #[arg(long, requires = "to")]
    pub(crate) database_server: Option<String>,
    /// How long the source is kept after the cutover (`0`, `12h`, `7d`).
    #[arg(long, default_value = "7d", value_parser = parse_grace, requires = "to")]
    pub(crate) retention: std::time::Duration,
    /// Stop before verifying and cutting over, until `--cutover`.
    #[arg(long, requires = "to")]
    pub(crate) hold: bool,
    /// Release a `--hold`: verify and cut over now.
    #[arg(long, conflicts_with_all = ["finish", "resume", "rollback"])]
    pub(crate) cutover: bool,
    /// Retire the source now instead of after the retention period.
    #[arg(long, conflicts_with_all = ["resume", "rollback"])]
    pub(crate) finish: bool,
    /// After a verify mismatch: repair the target from the source and
    /// verify again.
    #[arg(long, conflicts_with = "rollback")]
    pub(crate) resume: bool,
    /// Undo the move (any time before the source is retired).
    #[arg(long)]
    pub(crate) rollback: bool,
}

/// A grace period: `0`, or a friendly duration (`90m`, `12h`, `7d`; a day
/// is 24 hours).
fn parse_grace(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let span: jiff::Span = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 12h or 7d: {e}"))?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| e.to_string())?;
    std::time::Duration::try_from(duration).map_err(|_| "a grace period cannot be negative".into())
}

pub(crate) async fn run(settings: &Settings, cmd: TenantsCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    // Creating a tenant writes into the tenant plane, which must be
    // migrated; reading and steering the registry needs only the services.
    let services = match cmd {
        TenantsCommand::Create(_)
        | TenantsCommand::Provision { .. }
        | TenantsCommand::SetPlan { .. } => app::open(&config).await?,
        _ => app::connect(&config).await?,
    };
    // The workflow kinds, built once for this command.
    let lifecycle = crate::lifecycle::Lifecycle::new(&services);
    let tenants = &services.tenants;
    let by_slug = |slug: String| async move {
        tenants
            .find(&TenantKey::Slug(slug.clone()))
            .await?
            .with_context(|| format!("no tenant {slug:?}"))
    };
    match cmd {
        TenantsCommand::Create(args) => create(&lifecycle, args).await?,
        TenantsCommand::List => {
            for record in tenants.list().await? {
                crate::stdout::outln!(
                    "{}\t{}\t{}\t{}\t{}",
                    record.slug,
                    record.id,
                    record.plan,
                    record.tier,
                    record.state
                );
            }
        }
        TenantsCommand::Show { slug } => print_tenant(&*by_slug(slug).await?),
        TenantsCommand::Suspend { slug } => {
            let record = by_slug(slug).await?;
            // Returns once no serving process serves it any more.
            let suspend = tenants.set_state(record.id, TenantState::Suspended);
            print_tenant(&crate::lifecycle::everywhere::applied(&services, suspend).await?);
        }
        TenantsCommand::Resume { slug } => {
            let record = by_slug(slug).await?;
            print_tenant(&serve_again(&lifecycle, &record).await?);
        }
        TenantsCommand::SetPlan { slug, plan } => {
            let record = by_slug(slug).await?;
            set_plan(&lifecycle, &record, plan).await?;
        }
        TenantsCommand::Export { slug } => export(&services, &*by_slug(slug).await?).await?,
        TenantsCommand::Delete { slug, grace } => {
            let record = by_slug(slug).await?;
            offboard(&lifecycle, &record, grace).await?;
        }
        TenantsCommand::Residue { slug } => {
            let record = by_slug(slug).await?;
            let found = crate::residue::scan(&services, &record).await?;
            for (store, count) in &found {
                crate::stdout::outln!("{store}\t{count}");
            }
            if !found.is_empty() {
                anyhow::bail!("{} store(s) still hold tenant {}", found.len(), record.slug);
            }
        }
        TenantsCommand::Deletion { slug } => {
            let record = by_slug(slug).await?;
            let deletion = services
                .deletions
                .get(record.id)
                .await?
                .with_context(|| format!("tenant {} has no deletion record", record.slug))?;
            crate::stdout::outln!("{}", serde_json::to_string_pretty(&deletion)?);
        }
        TenantsCommand::Move(args) => {
            let record = by_slug(args.slug.clone()).await?;
            move_tenant(&lifecycle, &record, args).await?;
        }
        TenantsCommand::Provision { slug } => {
            let record = by_slug(slug).await?;
            if !matches!(
                record.state,
                TenantState::Provisioning | TenantState::Failed
            ) {
                anyhow::bail!(
                    "tenant {} is {}, not provisioning (or failed)",
                    record.slug,
                    record.state
                );
            }
            print_tenant(&finish_onboarding(&lifecycle, &record).await?);
        }
    }
    Ok(())
}

/// `tenants create`: registers and onboards through the one onboarding
/// path, then runs the workflow here.
async fn create(lifecycle: &crate::lifecycle::Lifecycle, args: CreateArgs) -> anyhow::Result<()> {
    let CreateArgs {
        slug,
        name,
        plan,
        tier,
        domains,
        database_server,
        admin_email,
    } = args;
    let plan = crate::plans::catalog().plan(plan.as_str())?;
    let admin_email = admin_email.map(|e| e.trim().to_ascii_lowercase());
    if let Some(email) = &admin_email
        && !crate::store::users::is_email(email)
    {
        anyhow::bail!("--admin-email {email:?} is not an e-mail address");
    }
    let domains = domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let new = NewTenant {
        id: None,
        name: name.unwrap_or_else(|| slug.clone()),
        slug,
        plan,
        tier,
        state: TenantState::Active,
        domains,
        database_server,
    };
    let (record, id) = crate::lifecycle::onboard(lifecycle, new, admin_email, "cli").await?;
    print_tenant(&run_workflow(lifecycle, &record, id).await?);
    Ok(())
}

/// `tenants move`: starts a move or gives a running one an order, and
/// watches it here; or shows where it stands.
async fn move_tenant(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
    args: MoveArgs,
) -> anyhow::Result<()> {
    let services = &lifecycle.services;
    let MoveArgs {
        to,
        database_server,
        retention,
        hold,
        cutover,
        finish,
        resume,
        rollback,
        ..
    } = args;
    use crate::lifecycle::tier_move::{self, MoveOrder};
    let order = [
        (cutover, MoveOrder::Cutover),
        (finish, MoveOrder::Finish),
        (resume, MoveOrder::Resume),
        (rollback, MoveOrder::Rollback),
    ]
    .into_iter()
    .find_map(|(given, order)| given.then_some(order));
    let id = match (to, order) {
        (Some(to), _) => {
            tier_move::start(
                lifecycle,
                record,
                to,
                database_server,
                retention,
                hold,
                "cli",
            )
            .await?
        }
        (None, Some(order)) => tier_move::order(lifecycle, record, order, "cli").await?,
        (None, None) => {
            let shown = tier_move::show(services, record).await?;
            crate::stdout::outln!("{}", serde_json::to_string_pretty(&shown)?);
            return Ok(());
        }
    };
    let bar = super::progress::WorkflowBar::new();
    let last =
        crate::lifecycle::run_here(lifecycle, id, &|r| bar.show(r), &tier_move::far_enough).await?;
    bar.finish(&last);
    let shown = tier_move::show(services, record).await?;
    crate::stdout::outln!("{}", serde_json::to_string_pretty(&shown)?);
    if let Some(stopped) = tier_move::stopped(&last) {
        anyhow::bail!("{stopped}");
    }
    Ok(())
}

/// `tenants set-plan`: runs the plan change here (nothing when it is
/// the tenant's plan already).
async fn set_plan(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
    plan: Plan,
) -> anyhow::Result<()> {
    let services = &lifecycle.services;
    let plan = crate::plans::catalog().plan(plan.as_str())?;
    if plan == record.plan {
        print_tenant(record);
        return Ok(());
    }
    let input = crate::lifecycle::PlanChange {
        from: record.plan.as_str().to_owned(),
        to: plan.as_str().to_owned(),
    };
    let workflows = &lifecycle.workflows;
    let id = workflows
        .launch(
            &*services.queue,
            crate::lifecycle::PLAN_CHANGE,
            record.id,
            serde_json::to_value(input)?,
            Some("cli"),
        )
        .await?;
    print_tenant(&run_workflow(lifecycle, record, id).await?);
    Ok(())
}

/// `tenants export`: the archive made here, its key, counts and a
/// download URL valid for a day.
async fn export(services: &crate::services::Services, record: &TenantRecord) -> anyhow::Result<()> {
    let ctx = crate::demo::context_for(record)?;
    let name = format!("export-{}", jiff::Timestamp::now().as_millisecond());
    let export = ctx
        .clone()
        .scope(crate::export::export(services, &name))
        .await?;
    let url = ctx
        .scope(crate::export::download_url(
            services,
            &export.key,
            std::time::Duration::from_secs(24 * 3600),
        ))
        .await?;
    crate::stdout::outln!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "tenant": record.slug.as_str(),
            "key": export.key.as_str(),
            "bytes": export.bytes,
            "rows": export.rows.iter().map(|(t, n)| (t.to_string(), n)).collect::<std::collections::BTreeMap<_, _>>(),
            "objects": export.objects,
            "url": url,
        }))?
    );
    Ok(())
}

/// `record`'s live workflow of `kind`, if it has one, queued again so this
/// command can carry it on.
async fn resume(
    services: &crate::services::Services,
    workflows: &tenantry::workflow::Workflows,
    record: &TenantRecord,
    kind: &str,
) -> anyhow::Result<Option<tenantry::workflow::WorkflowId>> {
    let live = services
        .workflow_store
        .list(Some(record.id), 1)
        .await?
        .into_iter()
        .find(|w| w.state.is_live() && w.kind == kind);
    if let Some(running) = &live {
        workflows.schedule(&*services.queue, running.id).await?;
    }
    Ok(live.map(|w| w.id))
}

/// Resumes `record`'s onboarding, or starts it again, and runs it here
/// with a progress bar on a terminal; the tenant as it ends up.
async fn finish_onboarding(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
) -> anyhow::Result<TenantRecord> {
    let services = &lifecycle.services;
    let workflows = &lifecycle.workflows;
    let id = match resume(services, workflows, record, crate::lifecycle::ONBOARDING).await? {
        Some(running) => running,
        None => crate::lifecycle::start_onboarding(lifecycle, record, None, "cli").await?,
    };
    run_workflow(lifecycle, record, id).await
}

/// Starts (or resumes) `record`'s offboarding and runs it here: to the end
/// without a grace period, else up to the grace period (the export done),
/// printing where the export is and when the data goes.
async fn offboard(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
    grace: std::time::Duration,
) -> anyhow::Result<()> {
    let services = &lifecycle.services;
    use crate::lifecycle::{OFFBOARDING, Offboarding};
    if record.state == TenantState::Deleted {
        anyhow::bail!(
            "tenant {} is already deleted (`tenantry tenants deletion {}`)",
            record.slug,
            record.slug
        );
    }
    let workflows = &lifecycle.workflows;
    let id = match resume(services, workflows, record, OFFBOARDING).await? {
        Some(running) => running,
        None => crate::lifecycle::offboard(lifecycle, record, grace, "cli").await?,
    };
    let first = workflows.get(id).await?;
    let input: Offboarding = serde_json::from_value(first.input.clone())?;
    let delete_after = input.delete_after();
    let waiting = |r: &tenantry::workflow::WorkflowRecord| {
        let exported = r
            .steps
            .iter()
            .any(|s| s.name == "export" && s.state == tenantry::workflow::StepState::Done);
        exported && std::time::SystemTime::now() < delete_after
    };
    let bar = super::progress::WorkflowBar::new();
    let last = crate::lifecycle::run_here(lifecycle, id, &|r| bar.show(r), &waiting).await?;
    bar.finish(&last);
    match last.state {
        tenantry::workflow::WorkflowState::Succeeded => {
            let deletion = services.deletions.get(record.id).await?;
            crate::stdout::outln!("{}", serde_json::to_string_pretty(&deletion)?);
            Ok(())
        }
        state if state.is_live() => {
            let left = delete_after
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            let ttl = left.clamp(
                std::time::Duration::from_secs(3600),
                std::time::Duration::from_secs(7 * 24 * 3600),
            );
            let key = tenantry::storage::ObjectKey::parse(&format!(
                "exports/{}.tar",
                crate::lifecycle::export_name(id)
            ))?;
            let url = crate::demo::context_for(record)?
                .scope(crate::export::download_url(services, &key, ttl))
                .await?;
            crate::stdout::outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "workflow": id.0,
                    "tenant": record.slug.as_str(),
                    "state": "suspended",
                    "export_url": url,
                    "delete_after": jiff::Timestamp::try_from(delete_after)?.to_string(),
                    "cancel": format!("tenantry workflows cancel {id}"),
                }))?
            );
            Ok(())
        }
        state => anyhow::bail!(
            "offboarding {} {state}: {} (see `tenantry workflows show {id}`)",
            record.slug,
            last.error.as_deref().unwrap_or("no reason recorded")
        ),
    }
}

/// Runs workflow `id` of `record` here with a progress bar; the tenant as
/// it ends up, or an error naming how the workflow ended and why.
async fn run_workflow(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
    id: tenantry::workflow::WorkflowId,
) -> anyhow::Result<TenantRecord> {
    let bar = super::progress::WorkflowBar::new();
    let finished = crate::lifecycle::run_here(lifecycle, id, &|r| bar.show(r), &|_| false).await?;
    bar.finish(&finished);
    if finished.state != tenantry::workflow::WorkflowState::Succeeded {
        anyhow::bail!(
            "{} {} {}: {} (see `tenantry workflows show {id}`)",
            finished.kind,
            record.slug,
            finished.state,
            finished.error.as_deref().unwrap_or("no reason recorded")
        );
    }
    Ok((*lifecycle
        .services
        .tenants
        .find(&TenantKey::Id(record.id))
        .await?
        .with_context(|| format!("tenant {} vanished", record.slug))?)
    .clone())
}

/// Prints a tenant record as JSON.
pub(crate) fn print_tenant(record: &TenantRecord) {
    crate::stdout::outln!(
        "{}",
        serde_json::to_string_pretty(record).unwrap_or_default()
    );
}

/// Serves `record` again. A deletion still in its grace period is
/// cancelled (its compensations put the tenant back as it was); one past
/// its point of no return refuses: a tenant being deleted is never served
/// again.
async fn serve_again(
    lifecycle: &crate::lifecycle::Lifecycle,
    record: &TenantRecord,
) -> anyhow::Result<TenantRecord> {
    let services = &lifecycle.services;
    use tenantry::workflow::WorkflowState;
    let workflows = &lifecycle.workflows;
    let deleting = services
        .workflow_store
        .list(Some(record.id), 20)
        .await?
        .into_iter()
        .find(|w| w.kind == crate::lifecycle::OFFBOARDING && w.state == WorkflowState::Running);
    if let Some(offboarding) = deleting {
        workflows
            .cancel(offboarding.id, "cli:resume")
            .await
            .with_context(|| format!("tenant {} is being deleted", record.slug))?;
        let end =
            crate::lifecycle::run_here(lifecycle, offboarding.id, &|_| {}, &|_| false).await?;
        eprintln!(
            "deletion of {} cancelled (workflow {}, {})",
            record.slug, offboarding.id, end.state
        );
        // Returns once every serving process serves it again.
        return Ok(crate::lifecycle::everywhere::current(services, record.id).await?);
    }
    if matches!(record.state, TenantState::Deleting | TenantState::Deleted) {
        anyhow::bail!(
            "tenant {} is {}: it cannot be resumed",
            record.slug,
            record.state
        );
    }
    let resume = services.tenants.set_state(record.id, TenantState::Active);
    Ok(crate::lifecycle::everywhere::applied(services, resume).await?)
}
