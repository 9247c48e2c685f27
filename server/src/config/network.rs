//! How the server meets the network: where client addresses come from (the operator must
//! decide in production; guessing wrong either lets anyone forge their address or puts
//! every client behind a proxy into one throttle bucket), and the limits on connections
//! and requests.

use std::time::Duration;

use bulwark::throttle::{ClientIpSource, ForwardedHeader, TrustedProxies};
use clap::ValueEnum;

use super::ConfigError;

/// `BULWARK_CLIENT_IP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientIpMode {
    /// Exposed directly: the TCP peer is the client.
    Direct,
    /// Behind proxies that set `X-Forwarded-For`.
    XForwardedFor,
    /// Behind proxies that set RFC 7239 `Forwarded`.
    Forwarded,
}

impl ClientIpMode {
    fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// The client address source from the two settings. Production has no default.
pub fn client_ip_source(
    mode: Option<ClientIpMode>,
    proxies: &str,
    production: bool,
) -> Result<ClientIpSource, ConfigError> {
    let trusted = TrustedProxies::parse(proxies).map_err(ConfigError::TrustedProxies)?;
    let mode = match mode {
        Some(mode) => mode,
        None if production => return Err(ConfigError::MissingClientIp),
        None if trusted.is_empty() => ClientIpMode::Direct,
        None => ClientIpMode::XForwardedFor,
    };
    let header = match mode {
        ClientIpMode::Direct if trusted.is_empty() => return Ok(ClientIpSource::Direct),
        ClientIpMode::Direct => return Err(ConfigError::DirectWithProxies),
        ClientIpMode::XForwardedFor => ForwardedHeader::XForwardedFor,
        ClientIpMode::Forwarded => ForwardedHeader::Forwarded,
    };
    if trusted.is_empty() {
        return Err(ConfigError::ProxiesMissing(mode.name()));
    }
    Ok(ClientIpSource::Proxied { trusted, header })
}

/// Bounds on what one client can hold open or make the server read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to send a request's headers.
    pub header_timeout: Duration,
    /// Time for a whole request, body and handler included.
    pub request_timeout: Duration,
    /// Largest request body: every form here is a few hundred bytes (a password is at
    /// most 10 KB before it is refused).
    pub body_limit: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            body_limit: 32 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_must_say_how_clients_arrive() {
        assert_eq!(client_ip_source(None, "", true), Err(ConfigError::MissingClientIp));
        assert_eq!(client_ip_source(None, "10.0.0.1", true), Err(ConfigError::MissingClientIp));
        assert_eq!(client_ip_source(Some(ClientIpMode::Direct), "", true), Ok(ClientIpSource::Direct));
    }

    #[test]
    fn a_header_needs_proxies_and_direct_forbids_them() {
        assert_eq!(
            client_ip_source(Some(ClientIpMode::Forwarded), "", true),
            Err(ConfigError::ProxiesMissing("forwarded"))
        );
        assert_eq!(
            client_ip_source(Some(ClientIpMode::Direct), "10.0.0.1", false),
            Err(ConfigError::DirectWithProxies)
        );
        let source = client_ip_source(Some(ClientIpMode::Forwarded), "10.0.0.0/8", true).expect("valid");
        assert_eq!(source.header(), Some(ForwardedHeader::Forwarded));
    }

    #[test]
    fn development_defaults_to_direct_or_to_x_forwarded_for_with_proxies() {
        assert_eq!(client_ip_source(None, "", false), Ok(ClientIpSource::Direct));
        let source = client_ip_source(None, "127.0.0.1", false).expect("valid");
        assert_eq!(source.header(), Some(ForwardedHeader::XForwardedFor));
    }
}
