//! Where webhook deliveries may connect: the guard against server-side
//! request forgery.
//!
//! A manager can point a webhook at any URL, so without a guard jaego's
//! delivery workers would POST to whatever sits on the server's own network
//! (loopback, private ranges, a cloud metadata endpoint). Under
//! [`PrivateTargets::Deny`], the default, a delivery never connects to an
//! address that [`private_target`] names. The check sits where the
//! connection is made: the client resolves host names with [`PublicOnly`],
//! which drops such addresses from the answer, and connects only to what
//! is left, so a name that resolves to a public address at one moment and
//! to a private one at the next (DNS rebinding) gains nothing. A URL whose
//! host is an IP address is not resolved at all; [`refused_literal`] checks
//! it before the request is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// Whether deliveries may go to addresses on the server's own network
/// (`jaego serve --webhook-private-targets`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PrivateTargets {
    /// Refuse them: the default.
    #[default]
    Deny,
    /// Deliver anywhere, for receivers on the merchant's own network (and
    /// tests, whose receivers listen on loopback).
    Allow,
}

impl FromStr for PrivateTargets {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deny" => Ok(PrivateTargets::Deny),
            "allow" => Ok(PrivateTargets::Allow),
            _ => Err(format!("unknown setting {s:?}; expected deny or allow")),
        }
    }
}

/// How every refusal ends, so an operator reading a delivery log knows
/// which setting refused it.
const REFUSED_BY: &str = "refused by --webhook-private-targets deny";

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

/// The delivery log's error for a URL whose host is an address that
/// `deny` refuses; `None` if the host is a name or an allowed address.
pub fn refused_literal(url: &reqwest::Url) -> Option<String> {
    let ip = literal(url)?;
    private_target(ip).then(|| format!("{ip} is a private or loopback address, {REFUSED_BY}"))
}

/// The address `url`'s host names, if it is an IP literal. The URL parser
/// has already turned every IPv4 spelling (`2130706433`, `0x7f.1`) into
/// dotted form, and a host that is a name never parses as an address.
fn literal(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// Why registration refuses `url` under `deny`: its host is an address
/// [`private_target`] names, or `localhost` (RFC 6761: `localhost` and its
/// subdomains are loopback). Other host names are not resolved here, since
/// their addresses can change; delivery checks them.
pub fn refused_at_registration(url: &reqwest::Url) -> Option<String> {
    if literal(url).is_none() {
        let name = url.host_str()?.trim_end_matches('.');
        let local = name.eq_ignore_ascii_case("localhost")
            || name
                .rsplit_once('.')
                .is_some_and(|(_, last)| last.eq_ignore_ascii_case("localhost"));
        return local.then(|| format!("{name} is a loopback name, {REFUSED_BY}"));
    }
    refused_literal(url)
}

/// Resolves host names with the system resolver and keeps only the
/// addresses [`private_target`] allows; a name left with none fails to
/// resolve, so the client never connects.
#[derive(Debug, Default)]
pub struct PublicOnly;

/// A resolution that `deny` refused. Its own type, so that the delivery
/// log can show it without the client's wrapping.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

/// The addresses of `resolved` that a delivery may connect to, in order.
pub fn public_only(resolved: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    resolved
        .into_iter()
        .filter(|a| !private_target(a.ip()))
        .collect()
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            // The port is the URL's; the client puts it in.
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = public_only(resolved.iter().copied());
            if resolved.is_empty() {
                let error = std::io::Error::other(format!("{host} resolves to no address"));
                return Err(error.into());
            }
            if kept.is_empty() {
                let error = Refused(format!(
                    "{host} resolves only to private or loopback addresses, {REFUSED_BY}"
                ));
                return Err(error.into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
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

    #[test]
    fn literal_hosts_are_refused_and_names_are_left_to_the_resolver() {
        fn check(url: &str, refused: Option<&str>) {
            let url = reqwest::Url::parse(url).unwrap();
            assert_eq!(refused_literal(&url).as_deref(), refused, "{url}");
        }
        check("https://hooks.example/in", None);
        check("http://localhost:8080/", None);
        check("https://8.8.8.8/in", None);
        check(
            "http://127.0.0.1:9/hook",
            Some(
                "127.0.0.1 is a private or loopback address, refused by --webhook-private-targets deny",
            ),
        );
        // The URL parser reads every IPv4 spelling as the address it is.
        check(
            "http://2130706433/",
            Some(
                "127.0.0.1 is a private or loopback address, refused by --webhook-private-targets deny",
            ),
        );
        check(
            "http://0x7f.1/",
            Some(
                "127.0.0.1 is a private or loopback address, refused by --webhook-private-targets deny",
            ),
        );
        check(
            "http://[::ffff:127.0.0.1]/",
            Some(
                "::ffff:127.0.0.1 is a private or loopback address, refused by --webhook-private-targets deny",
            ),
        );
        check(
            "http://169.254.169.254/latest/meta-data/",
            Some(
                "169.254.169.254 is a private or loopback address, refused by --webhook-private-targets deny",
            ),
        );
    }

    #[test]
    fn registration_refuses_private_literals_and_localhost_only() {
        fn check(url: &str, refused: bool) {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert_eq!(refused_at_registration(&parsed).is_some(), refused, "{url}");
        }
        check("https://hooks.example/in", false);
        check("https://localhost.example/in", false);
        check("https://notlocalhost/in", false);
        check("https://8.8.8.8/in", false);
        check("http://localhost:8080/", true);
        check("http://LOCALHOST/", true);
        check("http://localhost./", true);
        check("http://app.localhost/", true);
        check("http://127.0.0.1:9/", true);
        check("http://[::1]/", true);
        check("http://[fd00::1]/", true);
        check("http://10.1.2.3/", true);
    }

    #[test]
    fn resolved_addresses_keep_only_public_ones_in_order() {
        let addrs: Vec<SocketAddr> = [
            "127.0.0.1:0",
            "93.184.216.34:0",
            "[::1]:0",
            "10.0.0.1:0",
            "[2606:4700:4700::1111]:0",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(
            public_only(addrs),
            vec![
                "93.184.216.34:0".parse::<SocketAddr>().unwrap(),
                "[2606:4700:4700::1111]:0".parse().unwrap()
            ]
        );
        assert!(public_only(["127.0.0.1:0".parse().unwrap()]).is_empty());
    }

    #[test]
    fn the_setting_reads_deny_and_allow() {
        assert_eq!("deny".parse(), Ok(PrivateTargets::Deny));
        assert_eq!("allow".parse(), Ok(PrivateTargets::Allow));
        assert!("yes".parse::<PrivateTargets>().is_err());
        assert_eq!(PrivateTargets::default(), PrivateTargets::Deny);
    }
}
