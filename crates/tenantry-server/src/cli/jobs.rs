//! `tenantry jobs …`: the operator's view of the queue, as the system
//! tenant — depth and running jobs per tenant, dead letters, retrying or
//! discarding one, pausing and resuming a tenant's jobs.

use anyhow::{Context, bail};
use clap::Subcommand;
use tenantry::context::{TenantId, run_as_system};
use tenantry::jobs::{Lane, TenantShare};
use tenantry::registry::TenantKey;

use crate::app;
use crate::services::Services;
use crate::settings::Settings;

/// Queue administration.
#[derive(Subcommand, Debug)]
pub(crate) enum JobsCommand {
    /// Queued and running jobs per tenant and lane.
    Stats,
    /// Dead letters, newest first (every tenant's, or one's with --tenant).
    Dead {
        /// Only this tenant's (slug).
        #[arg(long)]
        tenant: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Only ids below this (the last id of the page before).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Queue a dead letter again with fresh attempts.
    Retry {
        /// Dead letter id.
        id: i64,
    },
    /// Delete a dead letter.
    Discard {
        /// Dead letter id.
        id: i64,
    },
    /// Hold a tenant's queued jobs (running ones finish).
    Pause {
        /// Tenant slug.
        slug: String,
        /// Only this lane [default: both].
        #[arg(long)]
        lane: Option<String>,
    },
    /// Release a paused tenant's jobs.
    Resume {
        /// Tenant slug.
        slug: String,
        /// Only this lane [default: both].
        #[arg(long)]
        lane: Option<String>,
    },
    /// Set a tenant's share of a lane: weight, concurrency cap, rate, backlog.
    Share {
        /// Tenant slug.
        slug: String,
        /// Lane.
        #[arg(long, default_value = "batch")]
        lane: String,
        /// Dispatch weight [unchanged if absent; at first the plan's].
        #[arg(long)]
        weight: Option<u16>,
        /// Jobs running at once, across all workers [unchanged if absent].
        #[arg(long)]
        cap: Option<u16>,
        /// Jobs started per minute [unchanged if absent].
        #[arg(long, conflicts_with = "no_rate_limit")]
        per_minute: Option<u32>,
        /// Remove the start-rate limit.
        #[arg(long)]
        no_rate_limit: bool,
        /// Jobs that may wait [unchanged if absent].
        #[arg(long)]
        max_backlog: Option<u32>,
    },
}

fn lanes(lane: Option<&str>) -> anyhow::Result<Vec<Lane>> {
    match lane {
        None => Ok(Lane::ALL.to_vec()),
        Some(name) => Ok(vec![name.parse().map_err(|e| anyhow::anyhow!("{e}"))?]),
    }
}

async fn tenant_id(services: &Services, slug: &str) -> anyhow::Result<TenantId> {
    Ok(services
        .tenants
        .find(&TenantKey::Slug(slug.to_owned()))
        .await?
        .with_context(|| format!("no tenant {slug:?}"))?
        .id)
}

/// Runs `cmd` as the system tenant.
pub(crate) async fn run(settings: &Settings, cmd: JobsCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let services = app::connect(&config).await?;
    run_as_system("jobs-cli", execute(&services, cmd)).await
}

async fn execute(services: &Services, cmd: JobsCommand) -> anyhow::Result<()> {
    let queue = &services.queue;
    let slugs = async {
        let records = services.tenants.list().await?;
        anyhow::Ok(
            records
                .into_iter()
                .map(|t| (t.id, t.slug))
                .collect::<std::collections::HashMap<_, _>>(),
        )
    };
    match cmd {
        JobsCommand::Stats => {
            let slugs = slugs.await?;
            crate::stdout::outln!(
                "{:<24} {:<12} {:>8} {:>8} {:>6} {:>4}  paused",
                "tenant",
                "lane",
                "queued",
                "running",
                "weight",
                "cap"
            );
            for lane in Lane::ALL {
                for s in queue.stats(lane).await? {
                    let name = slugs
                        .get(&s.tenant)
                        .cloned()
                        .unwrap_or_else(|| s.tenant.to_string());
                    crate::stdout::outln!(
                        "{name:<24} {lane:<12} {:>8} {:>8} {:>6} {:>4}  {}",
                        s.queued,
                        s.running,
                        s.weight,
                        s.cap,
                        s.paused
                    );
                }
            }
        }
        JobsCommand::Dead {
            tenant,
            limit,
            before,
        } => {
            let page = tenantry::jobs::DeadPage { limit, before };
            // One tenant's: listed in its own context, so the page is its.
            let dead = match tenant {
                Some(slug) => {
                    let record = services
                        .tenants
                        .find(&TenantKey::Slug(slug.clone()))
                        .await?
                        .with_context(|| format!("no tenant {slug:?}"))?;
                    crate::demo::context_for(&record)?
                        .scope(queue.dead_letters(page))
                        .await?
                }
                None => queue.dead_letters(page).await?,
            };
            let slugs = slugs.await?;
            for d in dead {
                let name = d
                    .tenant
                    .map(|t| slugs.get(&t).cloned().unwrap_or_else(|| t.to_string()))
                    .unwrap_or_else(|| "-".into());
                crate::stdout::outln!(
                    "{}\t{name}\t{}\t{}\tattempts {}\t{}",
                    d.id,
                    d.lane,
                    d.kind,
                    d.attempts,
                    d.reason
                );
            }
        }
        JobsCommand::Retry { id } => {
            if !queue.retry_dead(id).await? {
                bail!("no dead letter {id}");
            }
            crate::stdout::outln!("dead letter {id} queued again");
        }
        JobsCommand::Discard { id } => {
            if !queue.discard_dead(id).await? {
                bail!("no dead letter {id}");
            }
            crate::stdout::outln!("dead letter {id} discarded");
        }
        JobsCommand::Pause { slug, lane } => {
            let tenant = tenant_id(services, &slug).await?;
            for lane in lanes(lane.as_deref())? {
                queue.set_paused(tenant, lane, true).await?;
            }
            crate::stdout::outln!("{slug}: jobs paused");
        }
        JobsCommand::Resume { slug, lane } => {
            let tenant = tenant_id(services, &slug).await?;
            for lane in lanes(lane.as_deref())? {
                queue.set_paused(tenant, lane, false).await?;
            }
            crate::stdout::outln!("{slug}: jobs resumed");
        }
        JobsCommand::Share {
            slug,
            lane,
            weight,
            cap,
            per_minute,
            no_rate_limit,
            max_backlog,
        } => {
            if weight.is_none()
                && cap.is_none()
                && per_minute.is_none()
                && !no_rate_limit
                && max_backlog.is_none()
            {
                bail!(
                    "nothing to change: give --weight, --cap, --per-minute, --no-rate-limit or --max-backlog"
                );
            }
            let record = services
                .tenants
                .find(&TenantKey::Slug(slug.clone()))
                .await?
                .with_context(|| format!("no tenant {slug:?}"))?;
            for lane in lanes(Some(&lane))? {
                // Only what was given changes; the rest stays as stored (or,
                // for a tenant new to the lane, as it would start).
                let mut share = queue.share(record.id, lane).await?.unwrap_or_else(|| {
                    let weight = crate::plans::catalog().queue_weights().weight(&record.plan);
                    TenantShare::default().weight(weight)
                });
                if let Some(weight) = weight {
                    share = share.weight(weight);
                }
                if let Some(cap) = cap {
                    share = share.cap(cap);
                }
                if let Some(n) = per_minute {
                    share = share.per_minute(n);
                }
                if no_rate_limit {
                    share = share.unlimited_rate();
                }
                if let Some(n) = max_backlog {
                    share = share.max_backlog(n);
                }
                queue.set_share(record.id, lane, share).await?;
                crate::stdout::outln!(
                    "{slug} {lane}: weight {}, cap {}, {} a minute, backlog {}",
                    share.weight,
                    share.cap,
                    share
                        .per_minute
                        .map_or("unlimited".to_owned(), |n| n.to_string()),
                    share.max_backlog
                );
            }
        }
    }
    Ok(())
}
