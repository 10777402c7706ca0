//! [`TenantContext`]: the facts about the current tenant that every layer needs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::ids::{RequestId, TenantId, UserId};
use super::route::Route;
use crate::plans::Plan;

/// The plan of a context built without one.
const UNSPECIFIED_PLAN: Plan = Plan::from_static("default");

/// Where a tenant's rows live.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Shared tables, `tenant_id` on every row, row-level security.
    #[default]
    Shared,
    /// One schema per tenant.
    Schema,
    /// One database (or SQLite file) per tenant.
    Database,
}

/// What the authenticated caller may do inside the tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the tenant (users, settings).
    Admin,
    /// Ordinary user.
    #[default]
    Member,
    /// Internal cross-tenant work; only [`run_as_system`](super::run_as_system) grants it.
    System,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The lowercase name used in storage, tokens and labels.
            pub const fn as_str(&self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(UnknownVariant { kind: stringify!($ty), value: s.to_owned() }),
                }
            }
        }
    };
}

text_enum!(Tier { Shared => "shared", Schema => "schema", Database => "database" });
text_enum!(Role { Admin => "admin", Member => "member", System => "system" });

/// A tier or role name that is not one of the known values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    kind: &'static str,
    value: String,
}

impl UnknownVariant {
    pub(crate) fn new(kind: &'static str, value: &str) -> Self {
        Self {
            kind,
            value: value.to_owned(),
        }
    }
}

/// The system tenant id was given to [`TenantContextBuilder::build`].
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system tenant is entered only through run_as_system")]
pub struct SystemTenantReserved;

/// The tenant a unit of work runs for, plus who is acting and why.
///
/// Cheap to clone (one `Arc`). Built by the edge for requests, by job workers
/// from a job envelope, and by [`run_as_system`](super::run_as_system).
#[derive(Clone)]
pub struct TenantContext {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    tenant_id: TenantId,
    slug: String,
    plan: Plan,
    route: Route,
    user_id: Option<UserId>,
    role: Role,
    request_id: Option<RequestId>,
    trace_parent: Option<super::TraceParent>,
    impersonated_by: Option<UserId>,
    lifecycle: bool,
}

impl TenantContext {
    /// This context with the user's role changed (the edge narrows a
    /// token's role to the member's).
    #[cfg(feature = "edge")]
    pub(crate) fn with_role(&self, role: Role) -> TenantContext {
        let mut inner = (*self.inner).clone();
        inner.role = role;
        TenantContext {
            inner: Arc::new(inner),
        }
    }

    /// This context with its statements sent along `route` (a tier move
    /// reads one tier and writes another as the tenant).
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    pub(crate) fn with_route(&self, route: Route) -> TenantContext {
        let mut inner = (*self.inner).clone();
        inner.route = route;
        TenantContext {
            inner: Arc::new(inner),
        }
    }

    /// Starts a context for `tenant_id` / `slug`; the rest defaults to a
    /// shared-tier member with no user or request, on the plan named
    /// `default`.
    pub fn builder(tenant_id: TenantId, slug: impl Into<String>) -> TenantContextBuilder {
        TenantContextBuilder {
            inner: Inner {
                tenant_id,
                slug: slug.into(),
                plan: UNSPECIFIED_PLAN,
                route: Route::default(),
                user_id: None,
                role: Role::default(),
                request_id: None,
                trace_parent: None,
                impersonated_by: None,
                lifecycle: false,
            },
        }
    }

    /// The tenant's id.
    pub fn tenant_id(&self) -> TenantId {
        self.inner.tenant_id
    }
    /// The tenant's slug (`acme`).
    pub fn slug(&self) -> &str {
        &self.inner.slug
    }
    /// The tenant's plan.
    pub fn plan(&self) -> &Plan {
        &self.inner.plan
    }
    /// The tenant's isolation tier: where its reads go.
    pub fn tier(&self) -> Tier {
        self.inner.route.reads()
    }
    /// Where the tenant's reads and writes go.
    pub fn route(&self) -> &Route {
        &self.inner.route
    }
    /// The acting user, if authenticated.
    pub fn user_id(&self) -> Option<&UserId> {
        self.inner.user_id.as_ref()
    }
    /// The acting user's role in this tenant.
    pub fn role(&self) -> Role {
        self.inner.role
    }
    /// The request that started this work, if any.
    pub fn request_id(&self) -> Option<&RequestId> {
        self.inner.request_id.as_ref()
    }

    /// The caller's span, when the request arrived with a `traceparent` of
    /// the request's own trace (see [`TraceParent`](super::TraceParent)).
    pub fn trace_parent(&self) -> Option<super::TraceParent> {
        self.inner.trace_parent
    }
    /// The operator impersonating the tenant, if this is an impersonated session.
    pub fn impersonated_by(&self) -> Option<&UserId> {
        self.inner.impersonated_by.as_ref()
    }
    /// Whether this is the tenant's lifecycle work (export, purge, a
    /// tier move's copy) rather than the tenant's own: such work goes on
    /// while the tenant is held (suspended, being deleted), which the
    /// data layer's process fence refuses to everything else.
    pub fn is_lifecycle(&self) -> bool {
        self.inner.lifecycle
    }

    /// Whether this is the system tenant.
    pub fn is_system(&self) -> bool {
        self.inner.tenant_id.is_system()
    }
}

impl fmt::Debug for TenantContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantContext")
            .field("tenant_id", &self.inner.tenant_id)
            .field("slug", &self.inner.slug)
            .field("plan", &self.inner.plan)
            .field("route", &self.inner.route)
            .field("role", &self.inner.role)
            .field("request_id", &self.inner.request_id)
            .field("impersonated_by", &self.inner.impersonated_by)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TenantContext`]; see [`TenantContext::builder`].
#[must_use]
#[derive(Clone)]
pub struct TenantContextBuilder {
    inner: Inner,
}

impl TenantContextBuilder {
    /// Sets the plan.
    pub fn plan(mut self, plan: Plan) -> Self {
        self.inner.plan = plan;
        self
    }
    /// Sets the tier: reads and writes go there.
    pub fn tier(mut self, tier: Tier) -> Self {
        self.inner.route = Route::single(tier);
        self
    }
    /// Sets the route, e.g. a dual-write one while the tenant moves tiers.
    pub fn route(mut self, route: Route) -> Self {
        self.inner.route = route;
        self
    }
    /// Sets the acting user and their role.
    pub fn user(mut self, user_id: UserId, role: Role) -> Self {
        // The system role is never taken from outside: a token claiming it is a member.
        self.inner.role = if role == Role::System {
            Role::Member
        } else {
            role
        };
        self.inner.user_id = Some(user_id);
        self
    }
    /// Sets the request id.
    pub fn request_id(mut self, request_id: RequestId) -> Self {
        self.inner.request_id = Some(request_id);
        self
    }
    /// Sets the caller's span (an inbound `traceparent`).
    pub fn trace_parent(mut self, parent: super::TraceParent) -> Self {
        self.inner.trace_parent = Some(parent);
        self
    }
    /// Marks the context as an operator's impersonation of the tenant.
    pub fn impersonated_by(mut self, operator: UserId) -> Self {
        self.inner.impersonated_by = Some(operator);
        self
    }
    /// Marks the context as the tenant's lifecycle work, done by the
    /// operator's workflows while the tenant itself is held (see
    /// [`TenantContext::is_lifecycle`]); never for a request or a job of
    /// the tenant's own.
    pub fn lifecycle(mut self) -> Self {
        self.inner.lifecycle = true;
        self
    }
    /// Finishes the context.
    ///
    /// The system tenant id is refused: cross-tenant work enters it only
    /// through [`run_as_system`](super::run_as_system), so a search for that
    /// one name finds every place that does.
    pub fn build(self) -> Result<TenantContext, SystemTenantReserved> {
        if self.inner.tenant_id.is_system() {
            return Err(SystemTenantReserved);
        }
        Ok(TenantContext {
            inner: Arc::new(self.inner),
        })
    }

    pub(super) fn build_system(mut self) -> TenantContext {
        self.inner.role = Role::System;
        TenantContext {
            inner: Arc::new(self.inner),
        }
    }
}
