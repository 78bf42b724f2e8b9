//! Address classes: whether an IP address is on the public internet, and if not, what it is.
//!
//! An IPv6 address that carries an IPv4 one — IPv4-mapped (`::ffff:127.0.0.1`), IPv4-compatible
//! (`::127.0.0.1`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) — is classed by the IPv4
//! address it carries, since that is where a packet to it may end up.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an address is, as far as reaching it from the gateway goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// On the public internet.
    Public,
    /// `127.0.0.0/8`, `::1`: this host.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`), unique-local `fc00::/7`, and the deprecated
    /// site-local `fec0::/10`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT, `100.64/10` (RFC 6598).
    SharedCgnat,
    /// `0.0.0.0`, `::` (which reach this host on Linux).
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// The clouds' instance metadata services: `169.254.169.254`, `169.254.170.2` (ECS),
    /// `fd00:ec2::254`.
    Metadata,
    /// Not routable on the internet for another reason: `0/8`, `240/4`, `192.0.0/24`,
    /// benchmarking `198.18/15`, documentation ranges, IPv6 discard `100::/64`.
    Reserved,
}

impl AddressClass {
    /// The class of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    /// A few words for error messages ("a loopback address").
    pub fn describe(self) -> &'static str {
        match self {
            Self::Public => "a public address",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address",
            Self::SharedCgnat => "a carrier-grade NAT address",
            Self::Unspecified => "the unspecified address",
            Self::Broadcast => "the broadcast address",
            Self::Multicast => "a multicast address",
            Self::Metadata => "a cloud metadata address",
            Self::Reserved => "a reserved address",
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, c, _] = ip.octets();
        if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(169, 254, 170, 2) {
            Self::Metadata
        } else if ip.is_unspecified() {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private() {
            Self::Private
        } else if ip.is_link_local() {
            Self::LinkLocal
        } else if a == 100 && (64..128).contains(&b) {
            Self::SharedCgnat
        } else if ip.is_broadcast() {
            Self::Broadcast
        } else if ip.is_multicast() {
            Self::Multicast
        } else if a == 0
            || a >= 240
            || (a, b, c) == (192, 0, 0)
            || (a == 198 && (b == 18 || b == 19))
            || ip.is_documentation()
        {
            Self::Reserved
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        if let Some(v4) = embedded_v4(ip) {
            return Self::of_v4(v4);
        }
        let segments = ip.segments();
        if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
            Self::Metadata
        } else if ip.is_unspecified() {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_unique_local() || segments[0] & 0xffc0 == 0xfec0 {
            Self::Private
        } else if ip.is_unicast_link_local() {
            Self::LinkLocal
        } else if ip.is_multicast() {
            Self::Multicast
        } else if segments[0] == 0x2001 && segments[1] == 0xdb8 || segments[..4] == [0x100, 0, 0, 0]
        {
            Self::Reserved
        } else {
            Self::Public
        }
    }
}

/// The IPv4 address an IPv6 one carries, if it carries one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // IPv4-compatible `::a.b.c.d` (but not `::` and `::1`, which are IPv6's own).
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(low(s[6], s[7]));
    }
    // NAT64's well-known prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low(s[6], s[7]));
    }
    // 6to4: `2002:aabb:ccdd::/48` routes to `aa.bb.cc.dd`.
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> AddressClass {
        AddressClass::of(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_classes() {
        use AddressClass::*;
        for (ip, expected) in [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("169.254.170.2", Metadata),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.255", SharedCgnat),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("255.255.255.255", Broadcast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("192.0.0.170", Reserved),
            ("192.0.2.1", Reserved),
            ("198.18.0.1", Reserved),
            ("203.0.113.9", Reserved),
            ("8.8.8.8", Public),
            ("172.32.0.1", Public),
            ("100.128.0.1", Public),
            ("169.253.255.255", Public),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_classes() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::1", Loopback),
            ("::", Unspecified),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            ("fe80::1", LinkLocal),
            ("fd00:ec2::254", Metadata),
            ("ff02::1", Multicast),
            ("2001:db8::1", Reserved),
            ("100::1", Reserved),
            ("2606:4700:4700::1111", Public),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_carrying_ipv4_is_classed_by_the_ipv4() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::192.168.0.1", Private),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", Metadata),
            ("::ffff:8.8.8.8", Public),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }
}
