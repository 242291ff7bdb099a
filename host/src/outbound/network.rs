//! Which addresses outbound requests may reach, checked on the addresses a
//! request actually connects to (after DNS resolution), so that neither a
//! customer's `base_url`, nor a webhook URL, nor a DNS answer can point the
//! host at itself or at the networks around it.
//!
//! Refused unless the operator allows them (`--outbound-allow-network`):
//! loopback, link-local (cloud metadata services live there), private
//! (RFC 1918, unique-local IPv6), shared (CGNAT), unspecified, multicast,
//! broadcast and reserved ranges. Every other (public) address is allowed.
//! Self-hosted systems often live on private networks: allow exactly those
//! (`--outbound-allow-network 10.20.0.0/16`); the tests run their upstreams
//! on loopback with `--outbound-allow-network 127.0.0.0/8`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// Why an address is refused, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    Loopback,
    LinkLocal,
    Private,
    Shared,
    Unspecified,
    Multicast,
    Reserved,
}

impl Restricted {
    pub fn describe(self) -> &'static str {
        match self {
            Restricted::Loopback => "a loopback address",
            Restricted::LinkLocal => "a link-local address (where cloud metadata services live)",
            Restricted::Private => "a private-network address",
            Restricted::Shared => "a shared (carrier-grade NAT) address",
            Restricted::Unspecified => "an unspecified address",
            Restricted::Multicast => "a multicast or broadcast address",
            Restricted::Reserved => "a reserved address",
        }
    }
}

/// The kind of restricted range `ip` is in, if any.
pub fn restriction(ip: IpAddr) -> Option<Restricted> {
    match ip {
        IpAddr::V4(v4) => restriction_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address in IPv6 clothing is judged as itself.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return restriction_v4(v4);
            }
            restriction_v6(v6)
        }
    }
}

fn restriction_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let [a, b, ..] = ip.octets();
    Some(if ip.is_loopback() {
        Restricted::Loopback
    } else if ip.is_link_local() {
        Restricted::LinkLocal
    } else if ip.is_private() {
        Restricted::Private
    } else if a == 100 && (64..128).contains(&b) {
        Restricted::Shared
    } else if ip.is_unspecified() || a == 0 {
        Restricted::Unspecified
    } else if ip.is_multicast() || ip.is_broadcast() {
        Restricted::Multicast
    } else if a >= 240 {
        Restricted::Reserved
    } else {
        return None;
    })
}

fn restriction_v6(ip: Ipv6Addr) -> Option<Restricted> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        Restricted::Loopback
    } else if ip.is_unspecified() {
        Restricted::Unspecified
    } else if ip.is_multicast() {
        Restricted::Multicast
    } else if first & 0xffc0 == 0xfe80 {
        Restricted::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        Restricted::Private
    } else if ip.to_ipv4().is_some() {
        // IPv4-compatible (::a.b.c.d), deprecated: nothing legitimate.
        Restricted::Reserved
    } else {
        return None;
    })
}

/// The operator's exceptions to the restricted ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

/// An address outbound requests may not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{ip} is {}, which Interlink does not connect to unless the operator allows it (--outbound-allow-network)",
    .restricted.describe()
)]
pub struct Refused {
    pub ip: IpAddr,
    pub restricted: Restricted,
}

impl NetworkPolicy {
    /// Allows the restricted addresses in `networks` too.
    pub fn allowing(networks: Vec<IpNet>) -> Self {
        NetworkPolicy { allowed: networks }
    }

    /// Whether a request may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        match restriction(ip) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|n| n.contains(&canonical(ip))) => Ok(()),
            Some(restricted) => Err(Refused { ip, restricted }),
        }
    }
}

/// IPv4-mapped IPv6 addresses as their IPv4 selves, so that allowing
/// `127.0.0.0/8` allows `::ffff:127.0.0.1` too.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses `--outbound-allow-network` values: CIDR networks or single
/// addresses.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    IpNet::from_str(text)
        .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
        .map_err(|_| format!("`{text}` is not a network (10.20.0.0/16) or an address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_host_and_its_surroundings_are_refused_by_default() {
        let policy = NetworkPolicy::default();
        for (text, kind) in [
            ("127.0.0.1", Restricted::Loopback),
            ("127.8.9.10", Restricted::Loopback),
            ("::1", Restricted::Loopback),
            ("::ffff:127.0.0.1", Restricted::Loopback),
            ("169.254.169.254", Restricted::LinkLocal),
            ("fe80::1", Restricted::LinkLocal),
            ("10.1.2.3", Restricted::Private),
            ("172.16.0.1", Restricted::Private),
            ("192.168.1.1", Restricted::Private),
            ("fd00:ec2::254", Restricted::Private),
            ("100.64.0.1", Restricted::Shared),
            ("0.0.0.0", Restricted::Unspecified),
            ("::", Restricted::Unspecified),
            ("224.0.0.1", Restricted::Multicast),
            ("255.255.255.255", Restricted::Multicast),
            ("240.0.0.1", Restricted::Reserved),
            ("::127.0.0.1", Restricted::Reserved),
        ] {
            assert_eq!(
                policy.check(ip(text)),
                Err(Refused {
                    ip: ip(text),
                    restricted: kind
                }),
                "{text}"
            );
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            assert_eq!(policy.check(ip(public)), Ok(()), "{public}");
        }
    }

    #[test]
    fn the_operator_allows_exactly_the_networks_it_names() {
        let policy = NetworkPolicy::allowing(vec![
            parse_network("127.0.0.0/8").unwrap(),
            parse_network("10.20.0.5").unwrap(),
        ]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("10.20.0.5")), Ok(()));
        assert!(policy.check(ip("10.20.0.6")).is_err());
        assert!(policy.check(ip("169.254.169.254")).is_err());
        assert!(
            policy.check(ip("::1")).is_err(),
            "IPv6 loopback is not in 127/8"
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("localhost").is_err());
    }
}
