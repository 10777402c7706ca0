//! Who may use a tenant: its rows in `users`, asked by the edge on every
//! request (through a few seconds' cache), so removing a user or demoting
//! an admin takes effect long before their token expires.

use tenantry::context::{Role, UserId};
use tenantry::data::Database;
use tenantry::edge::{CachedMembership, Membership, MembershipError};
use tenantry::registry::BoxFuture;

/// The tenant's `users` table as the edge's [`Membership`].
pub(crate) struct UserMembership {
    db: Database,
}

impl UserMembership {
    /// Membership from `db`'s users, cached for [`CachedMembership::DEFAULT_TTL`].
    pub(crate) fn cached(db: Database) -> CachedMembership {
        CachedMembership::new(Self { db }, CachedMembership::DEFAULT_TTL)
    }
}

impl Membership for UserMembership {
    fn role(&self, user: UserId) -> BoxFuture<'_, Result<Option<Role>, MembershipError>> {
        Box::pin(async move {
            // Users are keyed by UUID here; any other subject is no member.
            let Some(id) = user.as_uuid() else {
                return Ok(None);
            };
            let role = crate::store::users::role_of(&self.db, id)
                .await
                .map_err(|e| MembershipError(Box::new(e)))?;
            Ok(role.map(|r| match r.as_str() {
                "admin" => Role::Admin,
                _ => Role::Member,
            }))
        })
    }
}
