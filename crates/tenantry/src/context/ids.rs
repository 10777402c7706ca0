//! Identifier newtypes: a tenant id is never a bare `Uuid` or `String`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A tenant's stable identifier.
///
/// [`TenantId::SYSTEM`] (the nil UUID) is reserved for cross-tenant work and is
/// only entered through [`run_as_system`](super::run_as_system).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// The system tenant, `00000000-0000-0000-0000-000000000000`.
    pub const SYSTEM: TenantId = TenantId(Uuid::nil());

    /// Wraps an existing UUID.
    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// A fresh random id for a new tenant.
    pub fn new_v4() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Whether this is the system tenant.
    pub fn is_system(&self) -> bool {
        self.0.is_nil()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

impl FromStr for TenantId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The authenticated user: the identity provider's subject, as it gives it
/// (`auth0|64f1…`, `user_2Nf…`, a UUID). Cheap to clone.
///
/// ```
/// use tenantry::context::UserId;
/// let user = UserId::new("auth0|64f1c2a9e0b3").unwrap();
/// assert_eq!(user.as_str(), "auth0|64f1c2a9e0b3");
/// assert!(UserId::new("").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(std::sync::Arc<str>);

impl UserId {
    /// Longest accepted subject.
    pub const MAX_LEN: usize = 255;

    /// `subject` if it is 1 to 255 characters without control characters
    /// (it ends up in logs and audit records).
    pub fn new(subject: &str) -> Option<Self> {
        let ok = !subject.is_empty()
            && subject.len() <= Self::MAX_LEN
            && !subject.chars().any(char::is_control);
        ok.then(|| Self(subject.into()))
    }

    /// The subject.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject as a UUID, for apps whose users are keyed by one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.0).ok()
    }
}

impl From<Uuid> for UserId {
    fn from(id: Uuid) -> Self {
        Self(id.to_string().into())
    }
}

impl TryFrom<String> for UserId {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s).ok_or("a user id is 1 to 255 characters without control characters")
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> String {
        id.0.as_ref().to_owned()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request id: taken from a well-formed `X-Request-Id` or generated.
///
/// Kept as text because callers' ids are not always UUIDs; the edge accepts
/// only short printable ASCII so the value is safe in logs and headers.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Longest accepted incoming id.
    pub const MAX_LEN: usize = 128;

    /// Accepts `raw` if it is 1–128 visible ASCII characters from a safe set.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        ok.then(|| Self(raw.to_owned()))
    }

    /// A new random id.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_rejects_unsafe_text() {
        assert!(RequestId::parse("abc-123_x.y:z").is_some());
        assert!(RequestId::parse("").is_none());
        assert!(RequestId::parse("a b").is_none());
        assert!(RequestId::parse("line\nbreak").is_none());
        assert!(RequestId::parse(&"x".repeat(129)).is_none());
    }

    #[test]
    fn system_tenant_is_nil() {
        assert!(TenantId::SYSTEM.is_system());
        assert_eq!(
            TenantId::SYSTEM.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert!(!TenantId::new_v4().is_system());
    }
}
