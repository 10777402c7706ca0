//! Tenant records and their lifecycle states.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::context::{Plan, TenantId, Tier, UnknownVariant};

/// Where a tenant is in its lifecycle; the edge gates requests on it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    /// Being set up; requests get 503 with `Retry-After`.
    Provisioning,
    /// Serving.
    Active,
    /// Blocked by an operator; requests get 403.
    Suspended,
    /// Onboarding failed (its workflow says why); requests get 404.
    Failed,
    /// Being removed; requests get 404.
    Deleting,
    /// Gone; requests get 404.
    Deleted,
}

impl TenantState {
    /// The lowercase name used in storage and APIs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
        }
    }

    /// Whether the tenant's own requests and jobs may touch its data: only
    /// an active tenant's. Every other state is *held* (see
    /// `tenantry::fence`): refused at the edge, and by every process's
    /// data layer once the change is acknowledged.
    pub const fn is_served(self) -> bool {
        matches!(self, Self::Active)
    }

    /// Whether the tenant is leaving (its onboarding failed, or it is
    /// being deleted or gone): its data is gone or going, so it is not
    /// migrated, provisioned or served, and is told apart from an unknown
    /// tenant by nobody outside.
    pub const fn is_leaving(self) -> bool {
        matches!(self, Self::Failed | Self::Deleting | Self::Deleted)
    }

    /// Whether a change from `self` to `to` must be acknowledged by every
    /// serving process: any change of state of a tenant whose record has
    /// been acknowledged before (`acknowledged_before`, a version above
    /// 0), and any change to a held state. A first activation is not: no
    /// process holds a tenant it has never been told about.
    pub fn change_needs_acknowledgement(self, to: TenantState, acknowledged_before: bool) -> bool {
        self != to && (!to.is_served() || acknowledged_before)
    }

    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_become(self, to: TenantState) -> bool {
        use TenantState::*;
        matches!(
            (self, to),
            (Provisioning, Active)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Provisioning, Failed)
                | (Failed, Provisioning)
                | (Provisioning | Active | Suspended | Failed, Deleting)
                | (Deleting, Deleted)
        ) || self == to
    }
}

impl fmt::Display for TenantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantState {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "provisioning" => Self::Provisioning,
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "failed" => Self::Failed,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            _ => return Err(UnknownVariant::new("TenantState", s)),
        })
    }
}

/// One row of the registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// Stable id.
    pub id: TenantId,
    /// DNS-label slug (`acme`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Service plan.
    pub plan: Plan,
    /// Isolation tier.
    pub tier: Tier,
    /// Lifecycle state.
    pub state: TenantState,
    /// Custom domains that resolve to this tenant (lowercase, no port).
    pub domains: Vec<String>,
    /// A canary ("edge") tenant: fleet migrations reach it first.
    #[serde(default)]
    pub canary: bool,
    /// For the database tier: the PostgreSQL server that holds the tenant's
    /// database when it is not the default one — a URL naming a host and
    /// port only (`postgres://db-eu-2:5432`); the roles and credentials are
    /// the deployment's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_server: Option<String>,
    /// While a tier move dual-writes: the tier its writes are mirrored to
    /// (reads stay on [`tier`](Self::tier) until the cutover).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_to: Option<Tier>,
    /// Grows with every change each serving process must acknowledge
    /// before the change is trusted: where its statements go (a tier
    /// move's dual-write, cutover or rollback), its plan, and a change of
    /// state that holds or releases it (see
    /// [`TenantState::change_needs_acknowledgement`]).
    #[serde(default)]
    pub route_version: i64,
    /// While a tier move dual-writes: whether the mirror holds every row
    /// (every write must then reach both tiers, or neither), or is still
    /// being filled (a write the mirror refuses is skipped there and
    /// repaired by the move's catch-up).
    #[serde(default)]
    pub mirror_synced: bool,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// Last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

impl TenantRecord {
    /// A context for this tenant as the record has it — id, slug, plan
    /// and route — to add the request's or job's parts to and build: the
    /// one place a record becomes a context.
    pub fn context(&self) -> crate::context::TenantContextBuilder {
        crate::context::TenantContext::builder(self.id, self.slug.clone())
            .plan(self.plan.clone())
            .route(self.route())
    }

    /// The tenant's routing decision: where its reads and writes go.
    ///
    /// A tenant reads and writes its own tier; while it moves, writes are
    /// mirrored to the tier it moves to (see [`Route`](crate::context::Route)),
    /// and no handler or repository knows.
    pub fn route(&self) -> crate::context::Route {
        let route = match self.moving_to {
            Some(to) if self.mirror_synced => crate::context::Route::dual_write(self.tier, to),
            Some(to) => crate::context::Route::dual_write(self.tier, to).filling_mirror(),
            None => crate::context::Route::single(self.tier),
        };
        match &self.database_server {
            Some(server) => route.with_database_server(server.as_str()),
            None => route,
        }
    }
}

/// Where a tenant's statements are to go: what a tier move writes with
/// [`Tenants::set_route`](crate::registry::Tenants::set_route).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// The tier reads (and the primary writes) go to.
    pub tier: Tier,
    /// The tier writes are mirrored to, while moving.
    pub moving_to: Option<Tier>,
    /// Whether the mirror is complete (see [`TenantRecord::mirror_synced`]).
    pub mirror_synced: bool,
    /// The database tier's server (see [`TenantRecord::database_server`]).
    pub database_server: Option<String>,
}

impl RouteChange {
    /// Everything on `tier`, on `database_server` for the database tier.
    pub fn settled(tier: Tier, database_server: Option<String>) -> Self {
        Self {
            tier,
            moving_to: None,
            mirror_synced: false,
            database_server,
        }
    }

    /// Reads on `tier`, writes mirrored to `to`; `synced` once the mirror
    /// holds every row.
    pub fn mirrored(tier: Tier, to: Tier, synced: bool, database_server: Option<String>) -> Self {
        Self {
            tier,
            moving_to: Some(to),
            mirror_synced: synced,
            database_server,
        }
    }
}

/// What it takes to register a tenant.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Id to use; `None` generates one. Fixed ids make seeded data reproducible.
    pub id: Option<TenantId>,
    /// Slug (validated by the store).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Plan.
    pub plan: Plan,
    /// Tier.
    pub tier: Tier,
    /// Initial state (usually `Provisioning`, or `Active` when set-up is instant).
    pub state: TenantState,
    /// Custom domains.
    pub domains: Vec<String>,
    /// For the database tier, another PostgreSQL server than the default
    /// (see [`TenantRecord::database_server`]).
    pub database_server: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::TenantState::*;

    #[test]
    fn lifecycle_transitions() {
        assert!(Provisioning.can_become(Active));
        assert!(Active.can_become(Suspended));
        assert!(Suspended.can_become(Active));
        assert!(Active.can_become(Deleting));
        assert!(!Deleted.can_become(Active));
        assert!(!Deleting.can_become(Active));
        assert!(!Provisioning.can_become(Suspended));
    }
}
