//! Which address a request comes from. The operator says how the server is reached
//! ([`ClientIpSource`]): directly (the TCP peer is the client), or behind proxies that set
//! one named header. Then, and only for requests whose peer is a trusted proxy, that header
//! is walked from the right, skipping trusted proxies, and the first untrusted address is
//! the client. Every line of the header counts (a proxy may add a line rather than extend
//! one), `Forwarded` is parsed per RFC 7239 (quoted values, `for=` with ports and
//! brackets), and a hop that is not an address (`unknown`, an obfuscated name, garbage)
//! ends the walk: what lies to its left was written by someone we cannot vouch for, so the
//! nearest trusted proxy stands in for the client. Headers from untrusted peers are
//! ignored: anyone can write them.

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

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// The header a trusted proxy writes the client's address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// How the server is reached, as the operator declared it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientIpSource {
    /// Exposed directly: the TCP peer is the client; forwarding headers are ignored.
    #[default]
    Direct,
    /// Behind these proxies, which set this header.
    Proxied { trusted: TrustedProxies, header: ForwardedHeader },
}

impl ClientIpSource {
    /// The header to read, if any.
    pub fn header(&self) -> Option<ForwardedHeader> {
        match self {
            Self::Direct => None,
            Self::Proxied { header, .. } => Some(*header),
        }
    }

    /// The client's address for a request from `peer` carrying `lines` (every line of
    /// [`ClientIpSource::header`], in order).
    pub fn client_ip(&self, peer: IpAddr, lines: &[&str]) -> IpAddr {
        // A server listening on `[::]` sees IPv4 peers as `::ffff:a.b.c.d`; compare them as
        // the IPv4 addresses they are, or IPv4 proxies would not be recognised.
        let peer = peer.to_canonical();
        let Self::Proxied { trusted, header } = self else { return peer };
        if !trusted.contains(&peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = match header {
            ForwardedHeader::XForwardedFor => {
                lines.iter().flat_map(|line| line.split(',')).map(|hop| parse_addr(hop.trim())).collect()
            }
            ForwardedHeader::Forwarded => lines.iter().flat_map(|line| forwarded_for(line)).collect(),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if trusted.contains(ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }
}

/// The `for=` node of each element of one `Forwarded` line (RFC 7239 §4), `None` for an
/// element without a usable address. Quoted strings may hold `,` and `;`.
fn forwarded_for(line: &str) -> Vec<Option<IpAddr>> {
    let mut elements = vec![Vec::new()];
    let mut pair = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => {
                pair.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => elements.last_mut().map_or((), |e| e.push(std::mem::take(&mut pair))),
            ',' if !quoted => {
                if let Some(e) = elements.last_mut() {
                    e.push(std::mem::take(&mut pair));
                }
                elements.push(Vec::new());
            }
            _ => pair.push(c),
        }
    }
    if let Some(e) = elements.last_mut() {
        e.push(pair);
    }
    let count = elements.len();
    elements
        .into_iter()
        .enumerate()
        .map(|(i, pairs)| {
            // A quote never closed swallowed everything after it, the proxy's own entry
            // included: that element is unreadable, which ends the walk at the proxy.
            if quoted && i + 1 == count {
                return None;
            }
            pairs.iter().find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| parse_addr(value.trim()))
            })?
        })
        .collect()
}

/// Exactly `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:80`
/// (a port is digits only); anything else is not an address.
fn parse_addr(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    let is_port =
        |port: &str| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok.then(|| inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?;
    }
    let (host, port) = text.rsplit_once(':')?;
    is_port(port).then(|| host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))?
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

/// The key of the network `ip` belongs to at `level` (`v4/24:198.51.100.0`,
/// `v6/48:2001:db8:7::`); `None` when the level has no prefix for the address's family.
/// IPv4-mapped IPv6 addresses count as IPv4.
pub fn prefix_key(ip: IpAddr, level: super::PrefixShare) -> Option<String> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let (family, len) = match ip {
        IpAddr::V4(_) => ("v4", level.v4?),
        IpAddr::V6(_) => ("v6", level.v6?),
    };
    let net = IpNet::new(ip, len).ok()?.trunc();
    Some(format!("{family}/{len}:{}", net.network()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_prefix_is_the_address_masked_to_the_level() {
        let level = |v4, v6| super::super::PrefixShare { v4, v6, percent: 10 };
        let key = |s: &str, l| prefix_key(ip(s), l);
        assert_eq!(key("198.51.100.77", level(Some(24), None)).as_deref(), Some("v4/24:198.51.100.0"));
        assert_eq!(key("198.51.100.77", level(Some(16), None)).as_deref(), Some("v4/16:198.51.0.0"));
        assert_eq!(key("198.51.100.77", level(Some(32), None)).as_deref(), Some("v4/32:198.51.100.77"));
        assert_eq!(key("198.51.100.77", level(None, Some(32))), None, "no IPv4 level here");
        assert_eq!(
            key("::ffff:198.51.100.77", level(Some(24), Some(48))).as_deref(),
            Some("v4/24:198.51.100.0")
        );
        assert_eq!(key("2001:db8:7:ab:1::9", level(None, Some(48))).as_deref(), Some("v6/48:2001:db8:7::"));
        assert_eq!(key("2001:db8:7:ab:1::9", level(None, Some(56))).as_deref(), Some("v6/56:2001:db8:7::"));
        assert_eq!(
            key("2001:db8:7:abff:1::9", level(None, Some(56))).as_deref(),
            Some("v6/56:2001:db8:7:ab00::")
        );
        assert_eq!(
            key("2001:db8:7:ab:1::9", level(None, Some(64))).as_deref(),
            Some("v6/64:2001:db8:7:ab::")
        );
        assert_eq!(key("2001:db8:7:ab:1::9", level(None, Some(0))).as_deref(), Some("v6/0:::"));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxied(list: &str, header: ForwardedHeader) -> ClientIpSource {
        ClientIpSource::Proxied { trusted: TrustedProxies::parse(list).expect("list"), header }
    }

    #[test]
    fn a_directly_exposed_server_ignores_forwarding_headers() {
        assert_eq!(ClientIpSource::Direct.client_ip(ip("203.0.113.9"), &["1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let source = proxied("10.0.0.0/8", ForwardedHeader::XForwardedFor);
        assert_eq!(source.client_ip(ip("203.0.113.9"), &["1.1.1.1"]), ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let source = proxied("10.0.0.0/8, 192.0.2.1", ForwardedHeader::XForwardedFor);
        let xff = "6.6.6.6, 198.51.100.7, 10.1.2.3";
        assert_eq!(source.client_ip(ip("192.0.2.1"), &[xff]), ip("198.51.100.7"));
    }

    #[test]
    fn every_x_forwarded_for_line_counts_not_only_the_first() {
        let source = proxied("127.0.0.1", ForwardedHeader::XForwardedFor);
        // The client forged the first line; the proxy added its own line after it.
        assert_eq!(source.client_ip(ip("127.0.0.1"), &["6.6.6.6", "198.51.100.7"]), ip("198.51.100.7"));
    }

    #[test]
    fn the_forwarded_header_is_parsed_per_rfc_7239() {
        let source = proxied("127.0.0.1", ForwardedHeader::Forwarded);
        let fwd = r#"for=6.6.6.6, for="[2001:db8::7]:4711";proto=https"#;
        assert_eq!(source.client_ip(ip("127.0.0.1"), &[fwd]), ip("2001:db8::7"));
        let quoted = r#"for="6.6.6.6, for=1.1.1.1";by=x, proto=http;for=198.51.100.3"#;
        assert_eq!(source.client_ip(ip("127.0.0.1"), &[quoted]), ip("198.51.100.3"), "commas inside quotes");
        assert_eq!(
            source.client_ip(ip("127.0.0.1"), &["for=6.6.6.6", "For=198.51.100.4"]),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn the_configured_header_is_the_only_one_read() {
        let source = proxied("127.0.0.1", ForwardedHeader::Forwarded);
        assert_eq!(source.client_ip(ip("127.0.0.1"), &["198.51.100.7"]), ip("127.0.0.1"), "no for= in it");
    }

    #[test]
    fn an_unknown_hop_stops_the_walk_at_the_nearest_trusted_proxy() {
        let source = proxied("127.0.0.1, 10.0.0.1", ForwardedHeader::Forwarded);
        let fwd = "for=6.6.6.6, for=unknown, for=10.0.0.1";
        assert_eq!(source.client_ip(ip("127.0.0.1"), &[fwd]), ip("10.0.0.1"));
        let xff = proxied("127.0.0.1", ForwardedHeader::XForwardedFor);
        assert_eq!(xff.client_ip(ip("127.0.0.1"), &["6.6.6.6, garbage"]), ip("127.0.0.1"));
    }

    #[test]
    fn an_unclosed_quote_cannot_swallow_the_proxys_entry() {
        let source = proxied("127.0.0.1", ForwardedHeader::Forwarded);
        // The client sent `for="[6.6.6.6]` (or `for="6.6.6.6:`) and the proxy appended its
        // entry to the same line, inside the client's open quote.
        for forged in [r#"for="[6.6.6.6], for=198.51.100.7"#, r#"for="6.6.6.6:, for=198.51.100.7"#] {
            assert_eq!(source.client_ip(ip("127.0.0.1"), &[forged]), ip("127.0.0.1"), "{forged}");
        }
    }

    #[test]
    fn only_well_formed_addresses_and_ports_are_read() {
        for bad in
            ["6.6.6.6:x", "6.6.6.6:", "[6.6.6.6]", "[2001:db8::1]x", "[2001:db8::1]:99999x", "1.2.3.4, x"]
        {
            assert_eq!(parse_addr(bad), None, "{bad}");
        }
        assert_eq!(parse_addr("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_addr("192.0.2.1:8080"), Some(ip("192.0.2.1")));
    }

    #[test]
    fn an_ipv4_proxy_is_recognised_behind_an_ipv6_socket() {
        let source = proxied("127.0.0.1", ForwardedHeader::XForwardedFor);
        assert_eq!(source.client_ip(ip("::ffff:127.0.0.1"), &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(ClientIpSource::Direct.client_ip(ip("::ffff:192.0.2.1"), &[]), ip("192.0.2.1"));
    }

    #[test]
    fn a_trusted_peer_without_headers_is_itself_the_client() {
        let source = proxied("127.0.0.1", ForwardedHeader::XForwardedFor);
        assert_eq!(source.client_ip(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
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
