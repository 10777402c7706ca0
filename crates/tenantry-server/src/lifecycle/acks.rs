//! This process's part in tier moves: it heartbeats, and acknowledges the
//! route version it serves (what its own registry cache answers) for every
//! tenant whose route changed, so a move knows when every live process has
//! picked a new route up (see [`tenantry::moves`]).

use std::time::Duration;

use tenantry::registry::TenantKey;

use crate::services::Services;

/// How often this process heartbeats and acknowledges.
const EVERY: Duration = Duration::from_secs(1);

/// Heartbeats as `name` and acknowledges route changes until `stop`.
pub(super) async fn acknowledge_routes(
    services: Services,
    name: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {}
        }
        if let Err(e) = acknowledge_once(&services, &name).await {
            tracing::warn!(error = %e, "could not acknowledge route changes");
        }
    }
}

async fn acknowledge_once(services: &Services, name: &str) -> anyhow::Result<()> {
    let acks = &services.route_acks;
    acks.heartbeat(name).await?;
    for (tenant, _) in acks.unacknowledged(name).await? {
        // What this process serves, not what the store says: its cache.
        if let Some(record) = services.tenants.find(&TenantKey::Id(tenant)).await? {
            acks.ack(name, tenant, record.route_version).await?;
        }
    }
    Ok(())
}
