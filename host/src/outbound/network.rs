//! Which addresses outbound requests may reach, checked on the addresses a
//! request actually connects to (after DNS resolution), so that neither a
//! customer's `base_url`, nor a webhook URL, nor a DNS answer can point the
//! host at itself or at the networks around it.
//!
//! Refused unless the operator allows them for the request's purpose:
//! loopback, link-local (cloud metadata services live there), private
//! (RFC 1918, unique-local and site-local IPv6), shared (CGNAT),
//! unspecified, multicast, broadcast, documentation, benchmarking and other
//! special-purpose or reserved ranges. IPv6 addresses that carry an IPv4
//! address (IPv4-mapped, NAT64's well-known prefix) are judged as that IPv4
//! address; the tunnelling prefixes whose IPv4 part the host cannot judge
//! (6to4, Teredo, local-use NAT64) are refused. Every other (public) address
//! is allowed.
//!
//! **One allowance per purpose.** Adapters, and the check of a connection's
//! URLs when it is made, follow the grants of `--adapter-allow-network`,
//! each for one adapter (`tryton=10.20.0.0/16`) or, said explicitly, for
//! every adapter (`*=127.0.0.0/8`). Webhook deliveries follow
//! `--webhook-allow-network` alone. So a private network opened for one
//! customer's self-hosted system is not opened to every tenant's webhooks,
//! nor to other adapters. The tests run their upstreams on loopback with
//! `*=127.0.0.0/8`.
//!
//! A refusal names the host the request was for, never the address it
//! resolved to: the log has that (what internal addresses a name resolves
//! to is the operator's to know, not the client's).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

/// Why an address is refused, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    Loopback,
    LinkLocal,
    Private,
    Shared,
    Unspecified,
    Multicast,
    /// Documentation, benchmarking, protocol assignments and other
    /// special-purpose blocks, and the reserved ranges.
    Reserved,
    /// An IPv6 tunnelling prefix (6to4, Teredo, local-use NAT64), whose
    /// IPv4 destination the host cannot judge.
    Tunnel,
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
            Restricted::Reserved => "a special-purpose or reserved address",
            Restricted::Tunnel => "an IPv6 tunnelling address (6to4, Teredo or NAT64)",
        }
    }
}

/// The kind of restricted range `ip` is in, if any.
pub fn restriction(ip: IpAddr) -> Option<Restricted> {
    match ip {
        IpAddr::V4(v4) => restriction_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            // An IPv4 address in IPv6 clothing is judged as itself.
            Some(v4) => restriction_v4(v4),
            None => restriction_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped
/// (`::ffff:a.b.c.d`) and NAT64's well-known prefix (`64:ff9b::a.b.c.d`,
/// RFC 6052), which a NAT64 gateway turns into a connection to that IPv4
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

fn restriction_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let [a, b, c, _] = ip.octets();
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
    } else if a >= 240
        // IETF protocol assignments (192.0.0.0/24), the documentation
        // blocks TEST-NET-1, -2 and -3, the deprecated 6to4 relay anycast
        // (192.88.99.0/24) and benchmarking (198.18.0.0/15).
        || (a, b, c) == (192, 0, 0)
        || (a, b, c) == (192, 0, 2)
        || (a, b, c) == (198, 51, 100)
        || (a, b, c) == (203, 0, 113)
        || (a, b, c) == (192, 88, 99)
        || (a == 198 && (b & 0xfe) == 18)
    {
        Restricted::Reserved
    } else {
        return None;
    })
}

fn restriction_v6(ip: Ipv6Addr) -> Option<Restricted> {
    let s = ip.segments();
    Some(if ip.is_loopback() {
        Restricted::Loopback
    } else if ip.is_unspecified() {
        Restricted::Unspecified
    } else if ip.is_multicast() {
        Restricted::Multicast
    } else if s[0] & 0xffc0 == 0xfe80 {
        Restricted::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        // Unique-local (fc00::/7) and the deprecated site-local (fec0::/10).
        Restricted::Private
    } else if s[0] == 0x2002
        || (s[0], s[1]) == (0x2001, 0)
        || (s[0], s[1], s[2]) == (0x64, 0xff9b, 1)
    {
        // 6to4 (2002::/16), Teredo (2001::/32), local-use NAT64
        // (64:ff9b:1::/48): tunnels to IPv4 addresses the host cannot judge.
        Restricted::Tunnel
    } else if ip.to_ipv4().is_some()
        || (s[0], s[1]) == (0x2001, 0xdb8)
        || s[..4] == [0x100, 0, 0, 0]
        || (s[0] == 0x2001 && s[1] < 0x200)
    {
        // IPv4-compatible (::a.b.c.d, deprecated), documentation
        // (2001:db8::/32), discard-only (100::/64) and the IETF protocol
        // assignments (2001::/23, besides Teredo above).
        Restricted::Reserved
    } else {
        return None;
    })
}

/// The restricted networks one kind of request may reach, besides every
/// public address. The default allows none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Arc<[IpNet]>,
}

/// An address outbound requests may not reach. Its text names the host the
/// request was for, never the address: `ip` is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the address of {host} is not one Interlink may connect to (loopback, private and other \
     restricted networks are refused unless the operator allows them)"
)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub restricted: Restricted,
}

impl NetworkPolicy {
    /// Allows the restricted addresses in `networks` too.
    pub fn allowing(networks: Vec<IpNet>) -> Self {
        NetworkPolicy {
            allowed: networks.into(),
        }
    }

    /// Whether a request for `host` may connect to `ip`.
    ///
    /// # Errors
    ///
    /// [`Refused`] when `ip` is in a restricted range none of the allowed
    /// networks contains.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        match restriction(ip) {
            None => Ok(()),
            Some(_) if self.allowed.iter().any(|n| n.contains(&canonical(ip))) => Ok(()),
            Some(restricted) => Err(Refused {
                host: host.to_string(),
                ip,
                restricted,
            }),
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

/// Parses a network: CIDR (`10.20.0.0/16`) or a single address.
///
/// # Errors
///
/// A message naming `text` when it is neither.
pub fn parse_network(text: &str) -> Result<IpNet, String> {
    IpNet::from_str(text)
        .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
        .map_err(|_| format!("`{text}` is not a network (10.20.0.0/16) or an address"))
}

/// Who an `--adapter-allow-network` grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// Every adapter, said explicitly (`*=`).
    EveryAdapter,
    /// The adapter with this id.
    Adapter(String),
}

/// One `--adapter-allow-network` value: a restricted network one adapter
/// (or, explicitly, every adapter) may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterGrant {
    pub grantee: Grantee,
    pub network: IpNet,
}

/// Parses `ADAPTER=NETWORK` or `*=NETWORK`.
///
/// # Errors
///
/// A message that says the form when `text` is not in it: a bare network
/// is refused, so that no network is opened to every adapter by accident.
pub fn parse_adapter_grant(text: &str) -> Result<AdapterGrant, String> {
    let Some((who, network)) = text.split_once('=') else {
        return Err(format!(
            "`{text}` names no adapter: write `ADAPTER=NETWORK` (tryton=10.20.0.0/16), or \
             `*=NETWORK` to allow the network to every adapter"
        ));
    };
    let grantee = match who.trim() {
        "*" => Grantee::EveryAdapter,
        "" => return Err(format!("`{text}` names no adapter before `=`")),
        id => Grantee::Adapter(id.to_string()),
    };
    Ok(AdapterGrant {
        grantee,
        network: parse_network(network.trim())?,
    })
}

/// The restricted networks adapters may reach, as the operator granted
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterGrants(Vec<AdapterGrant>);

impl AdapterGrants {
    pub fn new(grants: Vec<AdapterGrant>) -> Self {
        AdapterGrants(grants)
    }

    /// `networks` for every adapter (the tools that run one adapter, and
    /// the deprecated `--outbound-allow-network`).
    pub fn every_adapter(networks: Vec<IpNet>) -> Self {
        AdapterGrants(
            networks
                .into_iter()
                .map(|network| AdapterGrant {
                    grantee: Grantee::EveryAdapter,
                    network,
                })
                .collect(),
        )
    }

    /// The policy of adapter `id`'s requests: the networks granted to it
    /// and to every adapter.
    pub fn policy_for(&self, id: &str) -> NetworkPolicy {
        NetworkPolicy::allowing(
            self.0
                .iter()
                .filter(|g| match &g.grantee {
                    Grantee::EveryAdapter => true,
                    Grantee::Adapter(own) => own == id,
                })
                .map(|g| g.network)
                .collect(),
        )
    }
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
            ("fec0::1", Restricted::Private),
            ("100.64.0.1", Restricted::Shared),
            ("0.0.0.0", Restricted::Unspecified),
            ("::", Restricted::Unspecified),
            ("224.0.0.1", Restricted::Multicast),
            ("255.255.255.255", Restricted::Multicast),
            ("240.0.0.1", Restricted::Reserved),
            ("::127.0.0.1", Restricted::Reserved),
            ("192.0.0.8", Restricted::Reserved),
            ("192.0.2.1", Restricted::Reserved),
            ("198.51.100.7", Restricted::Reserved),
            ("203.0.113.9", Restricted::Reserved),
            ("198.18.0.1", Restricted::Reserved),
            ("198.19.255.254", Restricted::Reserved),
            ("192.88.99.1", Restricted::Reserved),
            ("2001:db8::1", Restricted::Reserved),
            ("100::1", Restricted::Reserved),
            ("2001:2::1", Restricted::Reserved),
            // NAT64's well-known prefix carries the IPv4 address it reaches.
            ("64:ff9b::7f00:1", Restricted::Loopback),
            ("64:ff9b::a9fe:a9fe", Restricted::LinkLocal),
            ("64:ff9b::10.0.0.1", Restricted::Private),
            // Tunnels whose IPv4 end the host cannot judge.
            ("64:ff9b:1::a00:1", Restricted::Tunnel),
            ("2002:7f00:1::1", Restricted::Tunnel),
            ("2002:808:808::1", Restricted::Tunnel),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Restricted::Tunnel),
        ] {
            assert_eq!(
                policy.check("h", ip(text)),
                Err(Refused {
                    host: "h".into(),
                    ip: ip(text),
                    restricted: kind
                }),
                "{text}"
            );
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "172.32.0.1",
            "64:ff9b::808:808",
            "198.20.0.1",
            "2001:4860:4860::8888",
            "192.0.3.1",
        ] {
            assert_eq!(policy.check("h", ip(public)), Ok(()), "{public}");
        }
    }

    #[test]
    fn a_refusal_names_the_host_never_the_address() {
        let refused = NetworkPolicy::default()
            .check("erp.internal", ip("10.9.8.7"))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("erp.internal"), "{refused}");
        assert!(!refused.contains("10.9.8.7"), "{refused}");
        assert!(!refused.contains("private-network address"), "{refused}");
    }

    #[test]
    fn the_operator_allows_exactly_the_networks_it_names() {
        let policy = NetworkPolicy::allowing(vec![
            parse_network("127.0.0.0/8").unwrap(),
            parse_network("10.20.0.5").unwrap(),
        ]);
        assert_eq!(policy.check("h", ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check("h", ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check("h", ip("10.20.0.5")), Ok(()));
        assert!(policy.check("h", ip("10.20.0.6")).is_err());
        assert!(policy.check("h", ip("169.254.169.254")).is_err());
        assert!(
            policy.check("h", ip("::1")).is_err(),
            "IPv6 loopback is not in 127/8"
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("localhost").is_err());
    }

    #[test]
    fn adapter_grants_name_their_adapter_or_say_every_adapter() {
        let grants = AdapterGrants::new(vec![
            parse_adapter_grant("tryton=10.20.0.0/16").unwrap(),
            parse_adapter_grant("*=127.0.0.0/8").unwrap(),
        ]);
        let tryton = grants.policy_for("tryton");
        let other = grants.policy_for("netsuite");
        assert_eq!(tryton.check("h", ip("10.20.1.1")), Ok(()));
        assert!(other.check("h", ip("10.20.1.1")).is_err());
        assert_eq!(other.check("h", ip("127.0.0.1")), Ok(()));
        assert!(
            AdapterGrants::default()
                .policy_for("tryton")
                .check("h", ip("127.0.0.1"))
                .is_err()
        );
        let bare = parse_adapter_grant("10.20.0.0/16").unwrap_err();
        assert!(
            bare.contains("ADAPTER=NETWORK") && bare.contains("*=NETWORK"),
            "{bare}"
        );
        assert!(parse_adapter_grant("=10.0.0.0/8").is_err());
        assert!(parse_adapter_grant("tryton=nowhere").is_err());
    }
}
