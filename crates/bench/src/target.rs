//! Where the load goes and where it comes from: the `ws://` target (loopback only) and the
//! loopback source addresses client sockets are bound to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::UsageError;

/// Sockets one source address should carry at most. An address has ~28 000 ephemeral ports
/// (32768–60999 by default), but `bind(ip:0)` searches the half of the range it prefers first:
/// past ~14 000 sockets every bind scans that exhausted half, and 19 000 sessions on one
/// address connected 10× slower (665/s against 6 468/s on two addresses).
pub(crate) const SOCKETS_PER_SOURCE: usize = 12_000;

/// Most source addresses (127.0.0.1 … 127.0.1.0).
const MAX_SOURCES: usize = 256;

/// A STOMP-over-WebSocket endpoint on this machine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Target {
    /// The address connected to.
    pub(crate) addr: SocketAddr,
    /// The `Host` header (the URL's authority).
    pub(crate) host: String,
    /// The request path, e.g. `/test-ws`.
    pub(crate) path: String,
}

impl Target {
    /// Parses `ws://HOST[:PORT][/PATH]`; HOST must be a loopback address or `localhost`.
    /// `flag` names the option in errors.
    pub(crate) fn parse(url: &str, flag: &str) -> Result<Target, UsageError> {
        Target::parse_scheme(url, flag, "ws")
    }

    /// Parses `http://HOST[:PORT][/PATH]` on loopback.
    pub(crate) fn parse_http(url: &str, flag: &str) -> Result<Target, UsageError> {
        Target::parse_scheme(url, flag, "http")
    }

    fn parse_scheme(url: &str, flag: &str, scheme: &str) -> Result<Target, UsageError> {
        let bad = |why: &str| UsageError(format!("{flag} `{url}`: {why}"));
        let rest = url
            .strip_prefix(scheme)
            .and_then(|r| r.strip_prefix("://"))
            .ok_or_else(|| {
                bad(&format!(
                    "expected {scheme}://HOST:PORT/PATH (TLS is not supported)"
                ))
            })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse::<IpAddr>()
                .map_err(|_| bad("the host must be an IP address or localhost"))?
        };
        if !ip.is_loopback() {
            return Err(bad(
                "only loopback targets (127.0.0.0/8, ::1, localhost) are allowed",
            ));
        }
        if path.contains(char::is_whitespace) {
            return Err(bad("the path must not contain spaces"));
        }
        Ok(Target {
            addr: SocketAddr::new(ip, port),
            host: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// The URL as given back in reports.
    pub(crate) fn url(&self) -> String {
        format!("ws://{}{}", self.host, self.path)
    }

    /// `http://HOST:PORT/metrics`: where stompbox serves Prometheus metrics.
    pub(crate) fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.host)
    }
}

/// `host:port`, `[v6]:port`, or a host alone (port 80).
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if rest.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None if !authority.is_empty() => Some((authority, 80)),
        None => None,
    }
}

/// The source addresses client sockets are bound to, round-robin.
///
/// `explicit` (from `--source-addrs`) must be loopback addresses of the target's family;
/// `count` (`--source-addr-count`) takes 127.0.0.1, 127.0.0.2, …; by default enough addresses
/// that none carries more than [`SOCKETS_PER_SOURCE`] sockets.
pub(crate) fn source_addrs(
    target: &Target,
    explicit: &[IpAddr],
    count: Option<usize>,
    sockets: usize,
) -> Result<Vec<IpAddr>, UsageError> {
    if !explicit.is_empty() {
        for ip in explicit {
            if !ip.is_loopback() {
                return Err(UsageError(format!(
                    "--source-addrs: {ip} is not a loopback address (127.0.0.0/8 or ::1)"
                )));
            }
            if ip.is_ipv4() != target.addr.is_ipv4() {
                return Err(UsageError(format!(
                    "--source-addrs: {ip} is not of the same IP family as the target {}",
                    target.addr
                )));
            }
        }
        return Ok(explicit.to_vec());
    }
    let needed = sockets.div_ceil(SOCKETS_PER_SOURCE).max(1);
    let count = match count {
        Some(0) => return Err(UsageError("--source-addr-count must be at least 1".into())),
        Some(n) if n > MAX_SOURCES => {
            return Err(UsageError(format!(
                "--source-addr-count {n}: at most {MAX_SOURCES}"
            )));
        }
        Some(n) => n,
        None => needed,
    };
    if target.addr.is_ipv6() {
        if count > 1 {
            return Err(UsageError(format!(
                "an IPv6 target has one loopback source address (::1), but {sockets} sockets need {count}; use a 127.0.0.1 target"
            )));
        }
        return Ok(vec![IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)]);
    }
    let base = u32::from(Ipv4Addr::LOCALHOST);
    Ok((0..count)
        .map(|i| IpAddr::V4(Ipv4Addr::from(base + i as u32)))
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_loopback_urls_and_refuses_others_naming_the_flag() {
        let t = Target::parse("ws://127.0.0.1:8081/test-ws", "--url").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(t.path, "/test-ws");
        assert_eq!(t.metrics_url(), "http://127.0.0.1:8081/metrics");
        let t = Target::parse("ws://localhost:15674/ws", "--url").unwrap();
        assert_eq!(t.host, "localhost:15674");
        let t = Target::parse("ws://[::1]:9", "--url").unwrap();
        assert_eq!(t.path, "/");
        assert!(Target::parse_http("http://127.0.0.1:15692/metrics", "--metrics-url").is_ok());
        for bad in [
            "ws://10.0.0.1:80/x",
            "ws://example.com/x",
            "wss://127.0.0.1/x",
            "127.0.0.1:80",
            "http://127.0.0.1:80/",
            "ws://127.0.0.1:99999/",
        ] {
            let e = Target::parse(bad, "--url").unwrap_err();
            assert!(e.0.contains("--url"), "{e}");
        }
    }

    #[test]
    fn source_addresses_default_to_enough_loopback_addresses() {
        let t = Target::parse("ws://127.0.0.1:1/", "--url").unwrap();
        assert_eq!(source_addrs(&t, &[], None, 100).unwrap().len(), 1);
        let three = source_addrs(&t, &[], None, 30_000).unwrap();
        assert_eq!(three[2], "127.0.0.3".parse::<IpAddr>().unwrap());
        let e = source_addrs(&t, &["10.0.0.2".parse().unwrap()], None, 1).unwrap_err();
        assert!(e.0.contains("--source-addrs"), "{e}");
        assert!(source_addrs(&t, &[], Some(0), 1).is_err());
    }
}
