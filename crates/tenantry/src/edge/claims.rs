//! [`ClaimMapping`]: where a token carries its tenant, subject and roles.
//!
//! Identity providers agree on `sub`, `iss`, `aud` and `exp`, and on little
//! else. The tenant is Auth0's `org_id` or a namespaced claim
//! (`https://example.com/tenant`), Keycloak's `organization` (a list of
//! aliases, or an object keyed by them), Clerk's `org_slug` or `o.slg`;
//! roles are Keycloak's `realm_access.roles`, Auth0's namespaced array,
//! Clerk's `org_role` (`org:admin`). A [`ClaimMapping`] names the paths, so
//! each provider's tokens pass as they are.

use serde_json::Value;

use super::auth_error::AuthError;
use super::identity::Identity;
use crate::context::{Role, UserId};

/// Where one claim sits in a token's payload.
///
/// Parsed from text: a string starting with `/` is a JSON Pointer
/// (RFC 6901: `/resource_access/billing-api/roles`); a string containing
/// `://` is one top-level key (namespaced claims are URLs:
/// `https://example.com/tenant`); anything else is a dotted path
/// (`realm_access.roles`, `o.slg`).
///
/// ```
/// use tenantry::edge::ClaimPath;
/// let token = serde_json::json!({
///     "realm_access": {"roles": ["admin"]},
///     "https://example.com/tenant": "acme",
///     "resource_access": {"billing.api": {"roles": ["member"]}},
/// });
/// assert_eq!(ClaimPath::parse("realm_access.roles").find(&token), Some(&serde_json::json!(["admin"])));
/// assert_eq!(ClaimPath::parse("https://example.com/tenant").find(&token), Some(&serde_json::json!("acme")));
/// assert!(ClaimPath::parse("/resource_access/billing.api/roles").find(&token).is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A path from configuration text (see the type's docs).
    pub fn parse(text: &str) -> Self {
        if let Some(pointer) = text.strip_prefix('/') {
            return Self(
                pointer
                    .split('/')
                    .map(|s| s.replace("~1", "/").replace("~0", "~"))
                    .collect(),
            );
        }
        if text.contains("://") {
            return Self(vec![text.to_owned()]);
        }
        Self(text.split('.').map(str::to_owned).collect())
    }

    /// One top-level key, taken literally.
    pub fn key(key: impl Into<String>) -> Self {
        Self(vec![key.into()])
    }

    /// The value at this path in `claims`.
    pub fn find<'v>(&self, claims: &'v Value) -> Option<&'v Value> {
        self.0
            .iter()
            .try_fold(claims, |value, segment| value.as_object()?.get(segment))
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Where a token carries the tenant, the subject and the roles, and which
/// roles make an admin. The default is tenantry's own layout: `tenant`,
/// `sub`, `role`, with `admin` for admins.
///
/// The tenant claim may be a string (one tenant), an array of strings, or
/// an object whose keys are the tenants (Keycloak's organizations with ids);
/// each is a slug or an id. The role claim may be a string or an array;
/// the caller is an admin when any of its roles is one of
/// [`admin_roles`](Self::admin_roles), a member otherwise. Nobody becomes
/// [`Role::System`] through a token.
///
/// ```
/// use tenantry::context::Role;
/// use tenantry::edge::ClaimMapping;
///
/// // A Keycloak access token with the organization scope.
/// let mapping = ClaimMapping::default()
///     .tenant("organization")
///     .roles("resource_access.billing-api.roles")
///     .admin_roles(["tenant-admin"]);
/// let token = serde_json::json!({
///     "sub": "f1b8c1de-3f0e-4a4f-9d7e-0a4c7e1b2c3d",
///     "organization": ["acme"],
///     "resource_access": {"billing-api": {"roles": ["tenant-admin", "viewer"]}},
/// });
/// let identity = mapping.identity(&token).unwrap();
/// assert_eq!(identity.tenants, ["acme"]);
/// assert_eq!(identity.role, Role::Admin);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    tenant: ClaimPath,
    subject: ClaimPath,
    roles: ClaimPath,
    admin_roles: Vec<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            tenant: ClaimPath::key("tenant"),
            subject: ClaimPath::key("sub"),
            roles: ClaimPath::key("role"),
            admin_roles: vec!["admin".to_owned()],
        }
    }
}

impl ClaimMapping {
    /// The tenant claim's path (default `tenant`).
    pub fn tenant(mut self, path: &str) -> Self {
        self.tenant = ClaimPath::parse(path);
        self
    }

    /// The subject claim's path (default `sub`).
    pub fn subject(mut self, path: &str) -> Self {
        self.subject = ClaimPath::parse(path);
        self
    }

    /// The roles claim's path (default `role`).
    pub fn roles(mut self, path: &str) -> Self {
        self.roles = ClaimPath::parse(path);
        self
    }

    /// The role values that make the caller an admin (default `admin`).
    pub fn admin_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.admin_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The identity in verified `claims`.
    pub fn identity(&self, claims: &Value) -> Result<Identity, AuthError> {
        let missing = |what: &str, path: &ClaimPath| {
            AuthError::Invalid(format!("the token has no {what} at {path}").into())
        };
        let subject = self
            .subject
            .find(claims)
            .and_then(Value::as_str)
            .and_then(UserId::new)
            .ok_or_else(|| missing("subject", &self.subject))?;
        let tenants: Vec<String> = match self.tenant.find(claims) {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Some(Value::Object(keyed)) => keyed.keys().cloned().collect(),
            _ => Vec::new(),
        };
        if tenants.is_empty() {
            return Err(missing("tenant", &self.tenant));
        }
        let is_admin = |role: &str| self.admin_roles.iter().any(|admin| admin == role);
        let admin = match self.roles.find(claims) {
            Some(Value::String(role)) => is_admin(role),
            Some(Value::Array(roles)) => roles.iter().filter_map(Value::as_str).any(is_admin),
            _ => false,
        };
        Ok(Identity {
            subject,
            tenants,
            role: if admin { Role::Admin } else { Role::Member },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointer_paths_unescape() {
        let claims = json!({"a/b": {"c~d": 1}});
        assert_eq!(
            ClaimPath::parse("/a~1b/c~0d").find(&claims),
            Some(&json!(1))
        );
    }

    #[test]
    fn an_identity_needs_a_subject_and_a_tenant() {
        let mapping = ClaimMapping::default();
        assert!(mapping.identity(&json!({"sub": "u1"})).is_err());
        assert!(mapping.identity(&json!({"tenant": "acme"})).is_err());
        assert!(
            mapping
                .identity(&json!({"sub": "", "tenant": "acme"}))
                .is_err()
        );
        assert!(
            mapping
                .identity(&json!({"sub": "u1", "tenant": []}))
                .is_err()
        );
        let ok = mapping
            .identity(&json!({"sub": "u1", "tenant": "acme"}))
            .unwrap();
        assert_eq!(ok.subject.as_str(), "u1");
        assert_eq!(ok.role, Role::Member);
    }

    #[test]
    fn nobody_is_system_through_a_token() {
        let mapping = ClaimMapping::default().admin_roles(["admin", "system"]);
        let token = json!({"sub": "u1", "tenant": "acme", "role": "system"});
        assert_eq!(mapping.identity(&token).unwrap().role, Role::Admin);
        let plain = ClaimMapping::default();
        assert_eq!(plain.identity(&token).unwrap().role, Role::Member);
    }

    #[test]
    fn object_tenant_claims_name_their_keys() {
        let mapping = ClaimMapping::default().tenant("organization");
        let token = json!({"sub": "u1", "organization": {"acme": {"id": "42"}}});
        assert_eq!(mapping.identity(&token).unwrap().tenants, ["acme"]);
    }
}
