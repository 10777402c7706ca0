//! Finding the tenant a request claims to be for.
//!
//! A [`TenantResolver`] looks at the request line and headers only — no I/O —
//! and returns the tenant it names, if any. The edge runs every configured
//! resolver and requires all claims to agree with the token, so a request
//! cannot pair its own host with another tenant's header or path prefix.

use http::request::Parts;
use http::{HeaderName, Uri};

use crate::registry::TenantKey;

/// A tenant named by a request, and how to rewrite the request for routing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// How to look the tenant up.
    pub key: TenantKey,
    /// A URI to route instead of the original (a stripped path prefix).
    pub rewrite: Option<Uri>,
}

impl Claim {
    fn key(key: TenantKey) -> Option<Self> {
        Some(Self { key, rewrite: None })
    }
}

/// Reads a tenant claim from a request.
pub trait TenantResolver: Send + Sync + 'static {
    /// The claim this resolver finds in `parts`, if any.
    fn resolve(&self, parts: &Parts) -> Option<Claim>;
}

/// The request's host, lowercase and without port (HTTP/1 `Host` or the HTTP/2 authority).
pub(crate) fn host(parts: &Parts) -> Option<String> {
    let raw = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.host())?;
    // IPv6 literals are bracketed in `Host`; anything else ends at the port colon.
    let without_port = match raw.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next()?,
        None => raw.split(':').next()?,
    };
    let host = without_port.trim_end_matches('.').to_ascii_lowercase();
    // An empty `Host` (or one of dots) names nothing, not a custom domain "".
    (!host.is_empty()).then_some(host)
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// `acme.app.example` → `acme`, for a base domain `app.example`.
///
/// ```
/// use tenantry::edge::{FromSubdomain, TenantResolver};
/// use tenantry::registry::TenantKey;
/// let req = http::Request::builder().header("host", "acme.localhost:8080").body(()).unwrap();
/// let claim = FromSubdomain::new("localhost").resolve(&req.into_parts().0).unwrap();
/// assert_eq!(claim.key, TenantKey::Slug("acme".into()));
/// ```
#[derive(Clone, Debug)]
pub struct FromSubdomain {
    suffix: String,
}

impl FromSubdomain {
    /// Resolves single-label subdomains of `base_domain`.
    pub fn new(base_domain: &str) -> Self {
        Self {
            suffix: format!(".{}", base_domain.trim_matches('.').to_ascii_lowercase()),
        }
    }
}

impl TenantResolver for FromSubdomain {
    fn resolve(&self, parts: &Parts) -> Option<Claim> {
        let host = host(parts)?;
        let label = host.strip_suffix(&self.suffix)?;
        // `a.b.app.example` names no tenant: only one label may precede the base.
        if label.is_empty() || label.contains('.') {
            return None;
        }
        Claim::key(TenantKey::Slug(label.to_owned()))
    }
}

/// A tenant's own domain (`shop.acme.example`), looked up in the registry.
///
/// Claims any host that is neither the base domain, one of its subdomains,
/// nor an IP literal.
#[derive(Clone, Debug)]
pub struct FromCustomDomain {
    base: String,
    suffix: String,
}

impl FromCustomDomain {
    /// Treats hosts outside `base_domain` as custom domains.
    pub fn new(base_domain: &str) -> Self {
        let base = base_domain.trim_matches('.').to_ascii_lowercase();
        Self {
            suffix: format!(".{base}"),
            base,
        }
    }
}

impl TenantResolver for FromCustomDomain {
    fn resolve(&self, parts: &Parts) -> Option<Claim> {
        let host = host(parts)?;
        if host == self.base
            || host.ends_with(&self.suffix)
            || is_ip_literal(&host)
            || host == "localhost"
        {
            return None;
        }
        Claim::key(TenantKey::Domain(host))
    }
}

/// `/t/acme/api/orders` → tenant `acme`, routed as `/api/orders`.
///
/// ```
/// use tenantry::edge::{FromPathPrefix, TenantResolver};
/// let req = http::Request::builder().uri("/t/acme/api/orders?limit=5").body(()).unwrap();
/// let claim = FromPathPrefix::new("/t").resolve(&req.into_parts().0).unwrap();
/// assert_eq!(claim.rewrite.unwrap().to_string(), "/api/orders?limit=5");
/// ```
#[derive(Clone, Debug)]
pub struct FromPathPrefix {
    prefix: String,
}

impl FromPathPrefix {
    /// Resolves paths of the form `{prefix}/{slug}/…`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: format!("/{}/", prefix.trim_matches('/')),
        }
    }
}

impl TenantResolver for FromPathPrefix {
    fn resolve(&self, parts: &Parts) -> Option<Claim> {
        let rest = parts.uri.path().strip_prefix(&self.prefix)?;
        let (slug, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if slug.is_empty() {
            return None;
        }
        let path_and_query = match parts.uri.query() {
            Some(q) => format!("{tail}?{q}"),
            None => tail.to_owned(),
        };
        let rewrite = Uri::builder().path_and_query(path_and_query).build().ok()?;
        Some(Claim {
            key: TenantKey::Slug(slug.to_owned()),
            rewrite: Some(rewrite),
        })
    }
}

/// `X-Tenant-Id: acme` (slug) or a tenant UUID, for service-to-service calls.
#[derive(Clone, Debug)]
pub struct FromHeader {
    name: HeaderName,
}

impl FromHeader {
    /// Reads the `X-Tenant-Id` header.
    pub fn new() -> Self {
        Self {
            name: HeaderName::from_static("x-tenant-id"),
        }
    }

    /// Reads another header.
    pub fn named(name: HeaderName) -> Self {
        Self { name }
    }
}

impl Default for FromHeader {
    fn default() -> Self {
        Self::new()
    }
}

impl TenantResolver for FromHeader {
    fn resolve(&self, parts: &Parts) -> Option<Claim> {
        let value = parts.headers.get(&self.name)?.to_str().ok()?.trim();
        match value.parse() {
            Ok(id) => Claim::key(TenantKey::Id(id)),
            Err(_) => Claim::key(TenantKey::Slug(value.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: &str, uri: &str) -> Parts {
        http::Request::builder()
            .uri(uri)
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn subdomain_takes_one_label_of_the_base() {
        let r = FromSubdomain::new("app.localhost");
        assert_eq!(
            r.resolve(&parts("t001.app.localhost:3000", "/"))
                .unwrap()
                .key,
            TenantKey::Slug("t001".into())
        );
        assert_eq!(
            r.resolve(&parts("T001.APP.localhost", "/")).unwrap().key,
            TenantKey::Slug("t001".into())
        );
        assert!(r.resolve(&parts("app.localhost", "/")).is_none());
        assert!(r.resolve(&parts("a.b.app.localhost", "/")).is_none());
        assert!(r.resolve(&parts("evilapp.localhost", "/")).is_none());
    }

    #[test]
    fn custom_domain_skips_base_and_ips() {
        let r = FromCustomDomain::new("localhost");
        assert_eq!(
            r.resolve(&parts("shop.acme.example", "/")).unwrap().key,
            TenantKey::Domain("shop.acme.example".into())
        );
        assert!(r.resolve(&parts("acme.localhost", "/")).is_none());
        assert!(r.resolve(&parts("127.0.0.1:8080", "/")).is_none());
        assert!(r.resolve(&parts("[::1]:8080", "/")).is_none());
    }

    #[test]
    fn path_prefix_strips_and_keeps_query() {
        let r = FromPathPrefix::new("t");
        let claim = r.resolve(&parts("x", "/t/acme")).unwrap();
        assert_eq!(claim.rewrite.unwrap().path(), "/");
        assert!(r.resolve(&parts("x", "/t/")).is_none());
        assert!(r.resolve(&parts("x", "/api/orders")).is_none());
    }

    #[test]
    fn header_takes_slug_or_id() {
        let id = crate::context::TenantId::new_v4();
        let req = http::Request::builder()
            .header("x-tenant-id", id.to_string())
            .body(())
            .unwrap();
        assert_eq!(
            FromHeader::new().resolve(&req.into_parts().0).unwrap().key,
            TenantKey::Id(id)
        );
    }
}
