//! Scheduled jobs: each tick of a cron expression enqueues one job per
//! active tenant (fan-out), or one job for the system tenant.
//!
//! **Exactly one enqueue per tick**, however many processes run the
//! scheduler: a tick is recorded under `(schedule, tick)` in the same
//! transaction as its jobs ([`JobQueue::enqueue_tick`]); the first process
//! to record it enqueues, the others find it recorded and enqueue nothing.
//! Each fanned-out job is built inside its tenant's context, so it carries
//! that tenant and no other, and has the idempotency key
//! `cron:<schedule>:<tick>`.
//!
//! **Missed ticks** (no scheduler was running, or it fell behind): ticks are
//! coalesced. A scheduler enqueues at most the latest due tick of each
//! schedule and never the ones before it, so a nightly job that missed
//! three nights runs once, not three times. With [`MissedTicks::RunLatest`]
//! (the default) that tick runs however late it is (within a day); with
//! [`MissedTicks::Skip`] a tick more than a minute late is dropped, for work
//! that is only worth doing on time. A schedule that has never ticked
//! starts with its latest tick of the last minute: a new schedule never
//! reaches back further.
//!
//! ```
//! use tenantry::jobs::cron::{CronJob, Fanout};
//! let nightly = CronJob::new("overdue-reminders", "0 0 3 * * *", Fanout::EachTenant, "send_overdue_reminders").unwrap();
//! assert_eq!(nightly.name(), "overdue-reminders");
//! assert!(CronJob::new("bad", "every night", Fanout::System, "x").is_err());
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::{JobEnvelope, JobError, JobQueue, Lane};
use crate::context::{self, TenantContext};
use crate::registry::{TenantState, Tenants};

/// How far back a late scheduler looks for the latest missed tick.
const LOOKBACK: i64 = 24 * 60 * 60;
/// How late a tick may be under [`MissedTicks::Skip`].
const SKIP_GRACE: i64 = 60;

/// Who a tick enqueues for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// One job per active tenant, in that tenant's context.
    EachTenant,
    /// One job for the system tenant (cross-tenant work: cleanup).
    System,
}

/// What happens to ticks that passed while no scheduler ran; see the
/// [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTicks {
    /// Run the latest missed tick once (within a day).
    #[default]
    RunLatest,
    /// Drop ticks more than a minute late.
    Skip,
}

/// The payload of every scheduled job: which schedule and tick made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// The schedule's name.
    pub schedule: String,
    /// The tick, in Unix seconds.
    pub tick: i64,
}

/// One schedule.
#[derive(Clone, Debug)]
pub struct CronJob {
    name: String,
    schedule: croner::Cron,
    fanout: Fanout,
    kind: String,
    lane: Lane,
    missed: MissedTicks,
}

impl CronJob {
    /// A schedule `name` that enqueues jobs of `kind` on every tick of
    /// `expression` (UTC; seconds first: `sec min hour day month weekday
    /// [year]`, weekdays `0`–`7` or `SUN`–`SAT` with Sunday `0` or `7`; a
    /// day that names both a day of month and a weekday fires on either, as
    /// in Vixie cron).
    pub fn new(name: &str, expression: &str, fanout: Fanout, kind: &str) -> Result<Self, JobError> {
        if name.is_empty() || name.len() > 100 {
            return Err(JobError::Invalid(
                "a schedule name is 1 to 100 characters".into(),
            ));
        }
        let schedule = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .build()
            .parse(expression)
            .map_err(|e| JobError::Invalid(format!("cron expression {expression:?}: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            schedule,
            fanout,
            kind: kind.to_owned(),
            lane: Lane::Batch,
            missed: MissedTicks::default(),
        })
    }

    /// Runs its jobs in `lane` (default: batch).
    pub fn lane(mut self, lane: Lane) -> Self {
        self.lane = lane;
        self
    }

    /// Its missed-tick policy.
    pub fn missed(mut self, missed: MissedTicks) -> Self {
        self.missed = missed;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tick to enqueue at `now` (Unix seconds), given the last tick
    /// recorded by any process: the latest tick in `(last, now]`, if the
    /// missed-tick policy keeps it.
    pub fn due(&self, last: Option<i64>, now: i64) -> Option<i64> {
        let floor = last.unwrap_or(now - SKIP_GRACE).max(now - LOOKBACK);
        let start = Utc.timestamp_opt(floor, 0).single()?;
        let latest = self
            .schedule
            .iter_after(start)
            .map(|t| t.timestamp())
            .take_while(|t| *t <= now)
            .last()?;
        match self.missed {
            MissedTicks::Skip if now - latest > SKIP_GRACE => None,
            _ => Some(latest),
        }
    }

    /// The first tick after `now`.
    fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.iter_after(now).next()
    }
}

/// Enqueues scheduled jobs; run one in every server process.
#[derive(Clone)]
pub struct Scheduler {
    queue: Arc<dyn JobQueue>,
    tenants: Tenants,
    jobs: Arc<Vec<CronJob>>,
}

impl Scheduler {
    /// A scheduler for `jobs` on `queue`, fanning out over `tenants`.
    pub fn new(queue: Arc<dyn JobQueue>, tenants: Tenants, jobs: Vec<CronJob>) -> Self {
        Self {
            queue,
            tenants,
            jobs: Arc::new(jobs),
        }
    }

    /// Enqueues every schedule's due tick at `now` (Unix seconds); returns
    /// the ticks this call recorded (0 when other processes had).
    pub async fn run_due(&self, now: i64) -> Result<usize, JobError> {
        let mut recorded = 0;
        for job in self.jobs.iter() {
            let last = self.queue.last_tick(&job.name).await?;
            let Some(tick) = job.due(last, now) else {
                continue;
            };
            if last.is_some_and(|l| l >= tick) {
                continue;
            }
            let envelopes = self.envelopes(job, tick).await?;
            if self.queue.enqueue_tick(&job.name, tick, &envelopes).await? {
                tracing::info!(schedule = %job.name, tick, jobs = envelopes.len(), "scheduled jobs enqueued");
                recorded += 1;
            }
        }
        Ok(recorded)
    }

    /// Runs due ticks as they come until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let now = Utc::now();
            if let Err(e) = self.run_due(now.timestamp()).await {
                tracing::warn!(error = %e, "scheduled jobs could not be enqueued; retrying");
            }
            let next = self
                .jobs
                .iter()
                .filter_map(|j| j.next_after(Utc::now()))
                .min();
            let wait = next
                .and_then(|n| (n - Utc::now()).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
                // A tick is due at its second; wake just after it.
                .saturating_add(Duration::from_millis(5));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The tick's jobs: one per active tenant, each built in its tenant's
    /// context, or one for the system tenant.
    async fn envelopes(&self, job: &CronJob, tick: i64) -> Result<Vec<JobEnvelope>, JobError> {
        let payload = Tick {
            schedule: job.name.clone(),
            tick,
        };
        let key = format!("cron:{}:{tick}", job.name);
        let build = |payload: &Tick| {
            JobEnvelope::new(&job.kind, payload)
                .map(|e| e.lane(job.lane).idempotency_key(key.clone()))
        };
        match job.fanout {
            Fanout::System => Ok(vec![
                context::run_as_system("cron", async { build(&payload) }).await?,
            ]),
            Fanout::EachTenant => {
                let tenants = context::run_as_system("cron", self.tenants.list())
                    .await
                    .map_err(|e| JobError::Registry(Box::new(e)))?;
                tenants
                    .into_iter()
                    .filter(|t| t.state == TenantState::Active)
                    .filter_map(|t| {
                        TenantContext::builder(t.id, t.slug)
                            .plan(t.plan)
                            .build()
                            .ok()
                    })
                    .map(|ctx| ctx.sync_scope(|| build(&payload)))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_missed_tick_runs_once_and_skip_drops_late_ones() {
        let every_minute = CronJob::new("m", "0 * * * * *", Fanout::System, "k").unwrap();
        // Last ran at 10:00:00; it is now 10:03:30: only 10:03:00 is due.
        let ten = 1_700_000_400; // a minute boundary
        assert_eq!(ten % 60, 0);
        assert_eq!(every_minute.due(Some(ten), ten + 210), Some(ten + 180));
        // Recorded already: nothing new is due until the next minute.
        assert_eq!(every_minute.due(Some(ten + 180), ten + 210), None);
        // Never ran: the scheduler does not reach back before it started.
        assert_eq!(every_minute.due(None, ten + 30), Some(ten));
        assert_eq!(every_minute.due(None, ten + 61), Some(ten + 60));
        // Hourly: at 11:01:30 the 11:00 tick is 90 s late — run it under
        // RunLatest, drop it under Skip; at 11:00:30 it is on time.
        let hourly = CronJob::new("h", "0 0 * * * *", Fanout::System, "k").unwrap();
        let ten_o_clock = 1_699_999_200;
        assert_eq!(ten_o_clock % 3600, 0);
        let eleven = ten_o_clock + 3600;
        assert_eq!(hourly.due(Some(ten_o_clock), eleven + 90), Some(eleven));
        let strict = hourly.missed(MissedTicks::Skip);
        assert_eq!(
            strict.due(Some(ten_o_clock), eleven + 90),
            None,
            "90 s late"
        );
        assert_eq!(strict.due(Some(ten_o_clock), eleven + 30), Some(eleven));
    }
}
