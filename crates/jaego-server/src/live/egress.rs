//! Where webhook deliveries may connect: the guard against server-side
//! request forgery. [`private_target`] names the addresses on the server's
//! own network, or not routable on the internet, that a delivery must not
//! reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `true` for an address a delivery must not connect to under `deny`:
/// loopback, unspecified, private, link-local (cloud metadata endpoints
/// live there), carrier-grade NAT, unique-local, multicast, broadcast,
/// reserved, documentation and benchmarking ranges, and the IPv4-mapped,
/// IPv4-compatible and NAT64 forms of the IPv4 ones.
pub fn private_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        // What std lacks, or has only unstable (`is_shared`,
        // `is_benchmarking`, `is_reserved`):
        // 0.0.0.0/8, "this network" (Linux connects 0.x to itself).
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT.
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24, IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15, benchmarking.
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4, reserved (255.255.255.255 included).
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    // ::ffff:a.b.c.d reaches a.b.c.d itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let s = ip.segments();
    let embedded = Ipv4Addr::from_bits(ip.to_bits() as u32);
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // ::/96 (:: and ::1 included), the IPv4-compatible addresses: deprecated
        // (RFC 4291) and never a public receiver, so all of it.
        || s[..6] == [0; 6]
        // 64:ff9b::/96, NAT64: the gateway connects to the embedded IPv4 address.
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && private_v4(embedded))
        // fec0::/10, site-local (deprecated, still private where used).
        || (s[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32, documentation.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each address and whether a delivery may connect to it under `deny`.
    #[test]
    fn classifies_addresses() {
        fn check(addr: &str, allowed: bool) {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(!private_target(ip), allowed, "{addr}");
        }
        let table = [
            // Public.
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("93.184.216.34", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("192.169.0.1", true),
            ("198.17.255.255", true),
            ("198.20.0.0", true),
            ("223.255.255.255", true),
            ("2606:4700:4700::1111", true),
            ("2001:4860:4860::8888", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            // Loopback and unspecified.
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("::1", false),
            ("::", false),
            // Private.
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.1.1", false),
            // Link-local: the cloud metadata endpoint among them.
            ("169.254.169.254", false),
            ("169.254.0.1", false),
            ("fe80::1", false),
            ("febf::1", false),
            // Carrier-grade NAT.
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            // Unique-local and site-local IPv6.
            ("fc00::1", false),
            ("fd00:ec2::254", false),
            ("fec0::1", false),
            // Multicast and broadcast.
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("ff02::1", false),
            ("255.255.255.255", false),
            // Reserved, IETF, documentation and benchmarking.
            ("240.0.0.1", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("198.51.100.1", false),
            ("203.0.113.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("2001:db8::1", false),
            // IPv4-mapped, IPv4-compatible and NAT64 forms.
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:0.0.0.0", false),
            ("::127.0.0.1", false),
            ("::8.8.8.8", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::a9fe:a9fe", false),
        ];
        for (addr, allowed) in table {
            check(addr, allowed);
        }
    }
}
