//! Tenant slugs are DNS labels, because they appear as subdomains.

/// Why a slug was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant slug {slug:?}: {reason}")]
pub struct InvalidSlug {
    slug: String,
    reason: &'static str,
}

/// Checks that `slug` is 1–63 characters of `a-z`, `0-9` and `-`, starting
/// with a letter and not ending with `-`.
///
/// ```
/// assert!(tenantry::registry::validate_slug("acme-2").is_ok());
/// assert!(tenantry::registry::validate_slug("Acme").is_err());
/// assert!(tenantry::registry::validate_slug("../etc").is_err());
/// ```
pub fn validate_slug(slug: &str) -> Result<(), InvalidSlug> {
    let refuse = |reason| {
        Err(InvalidSlug {
            slug: slug.to_owned(),
            reason,
        })
    };
    if slug.is_empty() || slug.len() > 63 {
        return refuse("must be 1 to 63 characters");
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return refuse("only lowercase letters, digits and '-' are allowed");
    }
    if !slug.as_bytes()[0].is_ascii_lowercase() {
        return refuse("must start with a letter");
    }
    if slug.ends_with('-') {
        return refuse("must not end with '-'");
    }
    if slug == "system" {
        return refuse("is reserved");
    }
    Ok(())
}
