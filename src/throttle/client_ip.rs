//! Which address a request comes from. The TCP peer, unless the peer is a proxy we were
//! told to trust: then `X-Forwarded-For` (or `Forwarded`) is walked from the right,
//! skipping trusted proxies, and the first untrusted address is the client. Headers from
//! untrusted peers are ignored: anyone can write them.

use std::net::IpAddr;

use ipnet::IpNet;

/// Networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// The client's address for a request from `peer` with these forwarding headers.
pub fn client_ip(
    peer: IpAddr,
    forwarded_for: Option<&str>,
    forwarded: Option<&str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let chain: Vec<IpAddr> = match (forwarded_for, forwarded) {
        (Some(xff), _) => xff.split(',').filter_map(|s| parse_addr(s.trim())).collect(),
        (None, Some(fwd)) => fwd
            .split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then(|| parse_addr(value.trim().trim_matches('"')))?
                })
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    chain.iter().rev().find(|ip| !trusted.contains(ip)).or(chain.first()).copied().unwrap_or(peer)
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse_addr(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.rsplit_once(':').and_then(|(host, _)| host.parse().ok())
}

/// The key a client address is throttled under: the address for IPv4, its /64 for IPv6
/// (one subscriber usually holds a whole /64, so per-address limits would be trivial to
/// dodge). IPv4-mapped IPv6 addresses count as IPv4.
pub fn ip_bucket(ip: IpAddr) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let trusted = TrustedProxies::default();
        assert_eq!(client_ip(ip("203.0.113.9"), Some("1.1.1.1"), None, &trusted), ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").expect("list");
        let xff = "6.6.6.6, 198.51.100.7, 10.1.2.3";
        assert_eq!(client_ip(ip("192.0.2.1"), Some(xff), None, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn the_forwarded_header_is_understood_too() {
        let trusted = TrustedProxies::parse("127.0.0.1").expect("list");
        let fwd = r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#;
        assert_eq!(client_ip(ip("127.0.0.1"), None, Some(fwd), &trusted), ip("2001:db8::7"));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_itself_the_client() {
        let trusted = TrustedProxies::parse("127.0.0.1").expect("list");
        assert_eq!(client_ip(ip("127.0.0.1"), None, None, &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_are_bucketed_by_their_64() {
        assert_eq!(ip_bucket(ip("2001:db8:1:2:aaaa::1")), ip_bucket(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(ip_bucket(ip("2001:db8:1:2::1")), ip_bucket(ip("2001:db8:1:3::1")));
        assert_eq!(ip_bucket(ip("::ffff:192.0.2.5")), "192.0.2.5");
    }

    #[test]
    fn bad_proxy_entries_are_reported() {
        assert!(TrustedProxies::parse("10.0.0.0/8, nonsense").is_err());
    }
}
