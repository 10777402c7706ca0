//! Membership: is the token's user still in the tenant, and in which role?
//!
//! A token is a snapshot: it says who the user was when it was minted, for
//! as long as it lives. Removing a user or demoting an admin must take effect
//! long before that, so the edge asks a [`Membership`] on every request —
//! inside the tenant's context, so the app answers from its own,
//! tenant-scoped user table. [`CachedMembership`] keeps answers for a few
//! seconds (the bound on how late a change from another process is seen)
//! and forgets one at once when this process makes the change.
//!
//! The role a request gets is the lesser of the token's and the member's:
//! a token can narrow a user's rights, never widen them.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::context::{Role, TenantId, UserId};
use crate::registry::BoxFuture;

/// The app's answer to "is this user a member of the current tenant?".
pub trait Membership: Send + Sync + 'static {
    /// The role `user` holds in the tenant of the current context, or `None`
    /// if they are not (or no longer) a member.
    fn role(&self, user: UserId) -> BoxFuture<'_, Result<Option<Role>, MembershipError>>;
}

/// The membership store could not answer (the request gets a 503).
#[derive(Debug, thiserror::Error)]
#[error("membership lookup failed: {0}")]
pub struct MembershipError(pub Box<dyn std::error::Error + Send + Sync>);

/// A [`Membership`] with a short-lived cache in front.
///
/// ```
/// use std::time::Duration;
/// use tenantry::context::{Role, TenantContext, TenantId, UserId};
/// use tenantry::edge::{CachedMembership, Membership, MembershipError};
/// use tenantry::registry::BoxFuture;
///
/// struct EveryoneIsAMember;
/// impl Membership for EveryoneIsAMember {
///     fn role(&self, _: UserId) -> BoxFuture<'_, Result<Option<Role>, MembershipError>> {
///         Box::pin(async { Ok(Some(Role::Member)) })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let members = CachedMembership::new(EveryoneIsAMember, Duration::from_secs(5));
/// let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
/// let role = acme.scope(members.role(UserId::from(uuid::Uuid::new_v4()))).await.unwrap();
/// assert_eq!(role, Some(Role::Member));
/// # });
/// ```
#[derive(Clone)]
pub struct CachedMembership {
    inner: Arc<dyn Membership>,
    cache: Cache<(TenantId, UserId), Option<Role>>,
}

impl CachedMembership {
    /// The default time an answer is kept: how late a change made by another
    /// process is seen at most.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

    /// Caches `inner`'s answers for `ttl`.
    pub fn new(inner: impl Membership, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Drops the cached answer for `user` in `tenant` (call it when the
    /// user is changed or removed).
    pub fn forget(&self, tenant: TenantId, user: UserId) {
        self.cache.invalidate(&(tenant, user));
    }
}

impl Membership for CachedMembership {
    fn role(&self, user: UserId) -> BoxFuture<'_, Result<Option<Role>, MembershipError>> {
        Box::pin(async move {
            let tenant =
                crate::context::current_tenant_id().map_err(|e| MembershipError(Box::new(e)))?;
            if let Some(role) = self.cache.get(&(tenant, user.clone())) {
                return Ok(role);
            }
            let role = self.inner.role(user.clone()).await?;
            self.cache.insert((tenant, user), role);
            Ok(role)
        })
    }
}

/// The lesser of two roles: what a token may do as this member.
pub(crate) fn narrower(token: Role, member: Role) -> Role {
    match (token, member) {
        (Role::Admin, Role::Admin) => Role::Admin,
        _ => Role::Member,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::context::TenantContext;

    struct Counting(Arc<AtomicUsize>, Role);
    impl Membership for Counting {
        fn role(&self, _: UserId) -> BoxFuture<'_, Result<Option<Role>, MembershipError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let role = self.1;
            Box::pin(async move { Ok(Some(role)) })
        }
    }

    #[tokio::test]
    async fn answers_are_cached_per_tenant_and_forgotten_on_change() {
        let calls = Arc::new(AtomicUsize::new(0));
        let members = CachedMembership::new(
            Counting(calls.clone(), Role::Admin),
            Duration::from_secs(60),
        );
        let user = UserId::from(uuid::Uuid::new_v4());
        let acme = TenantContext::builder(TenantId::new_v4(), "acme")
            .build()
            .unwrap();
        let globex = TenantContext::builder(TenantId::new_v4(), "globex")
            .build()
            .unwrap();
        acme.clone()
            .scope(members.role(user.clone()))
            .await
            .unwrap();
        acme.clone()
            .scope(members.role(user.clone()))
            .await
            .unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "second answer from the cache"
        );
        globex.scope(members.role(user.clone())).await.unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "another tenant is asked anew"
        );
        members.forget(acme.tenant_id(), user.clone());
        acme.scope(members.role(user)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "forgotten: asked again");
    }

    #[tokio::test]
    async fn no_context_no_answer() {
        let members = CachedMembership::new(
            Counting(Arc::default(), Role::Admin),
            Duration::from_secs(60),
        );
        assert!(
            members
                .role(UserId::from(uuid::Uuid::new_v4()))
                .await
                .is_err()
        );
    }

    #[test]
    fn a_token_narrows_never_widens() {
        assert_eq!(narrower(Role::Admin, Role::Member), Role::Member);
        assert_eq!(narrower(Role::Member, Role::Admin), Role::Member);
        assert_eq!(narrower(Role::Admin, Role::Admin), Role::Admin);
        assert_eq!(narrower(Role::Admin, Role::System), Role::Member);
    }
}
