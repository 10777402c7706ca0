//! Who is calling, for limits that count per client (sign-up): the peer's
//! address — or, behind proxies the operator trusts, the address they
//! forwarded — with IPv6 clients counted per /64, the prefix one
//! subscriber gets (each of its addresses is one client, not 2^64).

use std::net::IpAddr;

/// The proxies whose `X-Forwarded-For` is believed (`--trusted-proxies`).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8,::1/128,127.0.0.1` (a bare address is one host).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{item:?} is not an address or CIDR range"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{item:?}: the prefix must be 0–{max}"))?,
                None => max,
            };
            ranges.push((addr, prefix));
        }
        Ok(Self(ranges))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, prefix)| within(ip, *net, *prefix))
    }

    /// The client of a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, in order): walking from the nearest hop
    /// back, the first address not of a trusted proxy. An untrusted peer's
    /// header is ignored (anyone can write one).
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .flat_map(|value| value.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64
/// (an IPv4-mapped IPv6 address counts as its IPv4 address).
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn within(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv6_subscriber_is_one_client_per_slash_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa::1")),
            limit_key(ip("2001:db8:1:2:ffff:1:2:3"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
        let header = ["203.0.113.9, 10.1.2.3"];
        assert_eq!(
            proxies.client(ip("10.9.9.9"), header.into_iter()),
            ip("203.0.113.9"),
            "through two of our proxies"
        );
        assert_eq!(
            proxies.client(ip("198.51.100.1"), header.into_iter()),
            ip("198.51.100.1"),
            "a header from anyone else is not believed"
        );
        assert_eq!(
            proxies.client(ip("10.0.0.1"), ["1.2.3.4, 198.51.100.7"].into_iter()),
            ip("198.51.100.7"),
            "the nearest untrusted hop, not what it claims came before it"
        );
        assert_eq!(proxies.client(ip("::1"), std::iter::empty()), ip("::1"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.example").is_err());
    }
}
