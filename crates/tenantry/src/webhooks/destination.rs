//! [`DestinationGuard`]: may a tenant-supplied URL be called?

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a destination was refused.
///
/// The messages are shown to tenants (a webhook's delivery log), so an
/// internal address and a name that does not resolve read the same: neither
/// the address nor whether an internal name exists is told, or the guard
/// would be a scanner of our network. The fields keep the details for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// Not a URL at all.
    #[error("invalid URL: {0}")]
    Unparsable(#[from] url::ParseError),
    /// A URL without the host or port a call needs.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    /// Only `http` and `https` are called.
    #[error("scheme {0:?} is not allowed")]
    Scheme(String),
    /// The host did not resolve (or resolved to no address).
    #[error("the destination does not resolve to a public address")]
    Resolve {
        /// The URL's host.
        host: String,
        /// The resolver's error, when it failed (none when it answered
        /// with no address).
        #[source]
        cause: Option<ResolveFailure>,
    },
    /// The host is, or resolves to, an internal address.
    #[error("the destination does not resolve to a public address")]
    Internal {
        /// The URL's host.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
    /// An allow-list entry is not a CIDR range.
    #[error("invalid CIDR range {0:?}")]
    InvalidCidr(String),
}

/// The resolver's error under a [`DestinationError::Resolve`], kept for
/// logs and callers (the message to a tenant stays the same whatever it
/// says). Shared, so the error stays `Clone`; two are equal when they are
/// of the same kind.
#[derive(Clone, Debug)]
pub struct ResolveFailure(std::sync::Arc<std::io::Error>);

impl ResolveFailure {
    /// `error`, from the resolver.
    pub fn new(error: std::io::Error) -> Self {
        Self(std::sync::Arc::new(error))
    }

    /// The resolver's error.
    pub fn io(&self) -> &std::io::Error {
        &self.0
    }
}

impl std::fmt::Display for ResolveFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ResolveFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl PartialEq for ResolveFailure {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind()
    }
}

impl Eq for ResolveFailure {}

impl DestinationError {
    /// `host` did not resolve: the resolver said `error`.
    pub(crate) fn resolve(host: &str, error: std::io::Error) -> Self {
        Self::Resolve {
            host: host.to_owned(),
            cause: Some(ResolveFailure::new(error)),
        }
    }
}

/// Refuses URLs that reach internal addresses, except allow-listed ranges.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tenantry::webhooks::DestinationGuard;
/// let guard = DestinationGuard::new();
/// assert!(guard.check("http://127.0.0.1:8080/hook").await.is_err());
/// assert!(guard.check("http://169.254.169.254/latest/meta-data").await.is_err());
/// let tests = DestinationGuard::new().allow("127.0.0.0/8").unwrap();
/// assert!(tests.check("http://127.0.0.1:8080/hook").await.is_ok());
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct DestinationGuard {
    allowed: Vec<(IpAddr, u8)>,
}

impl DestinationGuard {
    /// A guard that allows no internal address.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also allows the range `cidr` (`127.0.0.0/8`, `::1/128`, `10.1.2.3`).
    pub fn allow(mut self, cidr: &str) -> Result<Self, DestinationError> {
        let invalid = || DestinationError::InvalidCidr(cidr.to_owned());
        let (addr, prefix) = match cidr.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().map_err(|_| invalid())?)),
            None => (cidr, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(invalid());
        }
        self.allowed.push((addr, prefix));
        Ok(self)
    }

    /// Checks `url` and returns the addresses it may be called at — connect
    /// to these, so a second lookup cannot be steered elsewhere.
    pub async fn check(&self, url: &str) -> Result<Vec<SocketAddr>, DestinationError> {
        let parsed = url::Url::parse(url)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DestinationError::Scheme(parsed.scheme().to_owned()));
        }
        let port = parsed
            .port_or_known_default()
            .ok_or(DestinationError::InvalidUrl("no port"))?;
        let addrs: Vec<SocketAddr> = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| DestinationError::resolve(name, e))?
                .collect(),
            None => return Err(DestinationError::InvalidUrl("no host")),
        };
        self.vet(parsed.host_str().unwrap_or_default(), &addrs)?;
        Ok(addrs)
    }

    /// Checks the addresses `host` resolved to: every one must be public or
    /// allow-listed — a name with one public and one internal record would
    /// otherwise be a way in. For resolvers that vet at connect time.
    pub fn vet(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), DestinationError> {
        if addrs.is_empty() {
            return Err(DestinationError::Resolve {
                host: host.to_owned(),
                cause: None,
            });
        }
        for addr in addrs {
            if is_internal(addr.ip()) && !self.allows(addr.ip()) {
                return Err(DestinationError::Internal {
                    host: host.to_owned(),
                    addr: addr.ip(),
                });
            }
        }
        Ok(())
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.allowed
            .iter()
            .any(|(net, prefix)| in_range(ip, *net, *prefix))
    }
}

fn in_range(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Addresses a tenant's webhook must not reach: loopback, private,
/// link-local (cloud metadata), CGNAT, multicast, reserved, unspecified —
/// and IPv6 forms that embed an IPv4 address: the IPv4-mapped
/// `::ffff:0:0/96` and IPv4-translated `::ffff:0:0:0/96` ranges whole (a
/// public IPv4 destination is reached as IPv4; a mapped form is only ever
/// a way round the IPv4 rules), and the others below.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if v6.to_ipv4_mapped().is_some()
                || in_range(
                    ip,
                    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, 0, 0)),
                    96,
                )
            {
                return true;
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
                || in_range(ip, net6(0, 0), 96) // IPv4-compatible ::a.b.c.d (deprecated)
                || in_range(ip, net6(0x64, 0xff9b), 96) // NAT64
                || in_range(ip, IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0)), 48) // local-use NAT64
                || in_range(ip, net6(0x2002, 0), 16) // 6to4: embeds an IPv4 address, relayed anywhere
                || in_range(ip, net6(0x2001, 0), 32) // Teredo: likewise
                || in_range(ip, net6(0x2001, 0xdb8), 32) // documentation
        }
    }
}

/// `first:second::`, the start of an IPv6 range.
fn net6(first: u16, second: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(first, second, 0, 0, 0, 0, 0, 0))
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let ip = IpAddr::V4(v4);
    let within = |a, b, c, d, prefix| in_range(ip, IpAddr::V4(Ipv4Addr::new(a, b, c, d)), prefix);
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || within(0, 0, 0, 0, 8)
        || within(100, 64, 0, 0, 10) // carrier-grade NAT
        || within(192, 0, 0, 0, 24) // IETF protocol assignments
        || within(198, 18, 0, 0, 15) // benchmarking
        || within(240, 0, 0, 0, 4) // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_that_does_not_resolve_keeps_the_resolver_s_error() {
        // `.invalid` never resolves (RFC 6761).
        let err = DestinationGuard::new()
            .check("http://no-such-host.invalid/hook")
            .await
            .unwrap_err();
        let DestinationError::Resolve { host, cause } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(host, "no-such-host.invalid");
        assert!(cause.is_some(), "the resolver's error is kept");
        assert!(std::error::Error::source(&err).is_some());
        // What a tenant reads names no internals.
        assert_eq!(
            err.to_string(),
            "the destination does not resolve to a public address"
        );
    }

    #[tokio::test]
    async fn internal_destinations_are_refused() {
        let guard = DestinationGuard::new();
        for url in [
            "http://127.0.0.1/",
            "http://localhost:6379/",
            "http://10.0.0.5/",
            "http://172.16.3.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[::ffff:0:7f00:1]/",
            "http://[::ffff:0:808:808]/",
            "http://[::10.0.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[2002:a00:1::]/",
            "http://[2002:7f00:1::]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[fec0::1]/",
            "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        ] {
            assert!(
                matches!(
                    guard.check(url).await,
                    Err(DestinationError::Internal { .. })
                ),
                "{url} must be refused"
            );
        }
        assert!(matches!(
            guard.check("ftp://example.com/").await,
            Err(DestinationError::Scheme(_))
        ));
        assert!(matches!(
            guard.check("not a url").await,
            Err(DestinationError::Unparsable(
                url::ParseError::RelativeUrlWithoutBase
            ))
        ));
        let public = guard.check("https://93.184.215.14/hook").await.unwrap();
        assert!(guard.check("https://[2606:4700::1111]/hook").await.is_ok());
        assert_eq!(public, vec!["93.184.215.14:443".parse().unwrap()]);
    }

    #[tokio::test]
    async fn refusals_tell_tenants_nothing_about_our_network() {
        let guard = DestinationGuard::new();
        let internal = guard.check("http://10.1.2.3:8080/").await.unwrap_err();
        let unresolved = guard
            .check("http://no-such-host.invalid/")
            .await
            .unwrap_err();
        assert_eq!(internal.to_string(), unresolved.to_string());
        assert!(!internal.to_string().contains("10.1.2.3"), "{internal}");
        assert!(
            !unresolved.to_string().contains("no-such-host"),
            "{unresolved}"
        );
    }

    #[tokio::test]
    async fn allow_lists_open_exact_ranges() {
        let guard = DestinationGuard::new()
            .allow("127.0.0.0/8")
            .unwrap()
            .allow("::1")
            .unwrap();
        assert!(guard.check("http://127.0.0.1:9000/").await.is_ok());
        assert!(guard.check("http://[::1]:9000/").await.is_ok());
        assert!(
            guard.check("http://10.0.0.1/").await.is_err(),
            "only what was listed"
        );
        assert!(DestinationGuard::new().allow("10.0.0.0/33").is_err());
        assert!(DestinationGuard::new().allow("banana").is_err());
    }
}
