//! Which browser pages may use the endpoint: the defence against cross-site WebSocket hijacking
//! (RFC 6455 §10.2) for WebSocket upgrades and every SockJS request. A request whose `Origin`
//! is another site than the one it addressed is refused unless the allow-list names it.
//!
//! Same-origin compares host and port, never the path: the host case-insensitively (IPv6 in
//! canonical form, in brackets), the `Origin`'s port defaulting from its scheme (http 80,
//! https 443). A `Host` without a port stands for the default port of whatever scheme the
//! client used, so it matches an `Origin` on its scheme's default port (an `https://` page
//! behind a TLS-terminating proxy that forwards `Host: example.com`).
//!
//! Allow-list patterns: `*` (or `*:*`) allows every origin, `null` included; `host:port` with
//! either part `*`, and `*.example.com` for any subdomain; `host` alone means any port; a full
//! origin (`https://app.example.com`, `https://*.example.com:8443`) also fixes the scheme, its
//! port defaulting from it. Requests without an `Origin` come from non-browser clients, which can
//! send any header they like, so there is nothing to check: they are allowed.
//!
//! No I/O and no HTTP types: the adapter passes header values as strings.

use std::fmt;
use std::net::Ipv6Addr;

/// An allow-list, ready to judge requests. Build it once from the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// `*` was listed: everything is allowed.
    any: bool,
    patterns: Vec<Pattern>,
    /// The patterns as written, for `/info`.
    written: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Lower-case; `None` = any scheme.
    scheme: Option<String>,
    host: HostPattern,
    /// `None` = any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: hosts ending in `.example.com` (the dot included).
    Subdomain(String),
}

/// An allow-list entry that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The entry as written.
    pub pattern: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {} (expected `*`, `host`, `host:port`, `*.domain:port` or `https://host[:port]`)",
            self.pattern, self.why
        )
    }
}

impl std::error::Error for PatternError {}

/// Why a request is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginAllowed {
    /// No `Origin` header: not a browser.
    NoOrigin,
    /// The page is on the site the request addressed.
    SameOrigin,
    /// The allow-list names the page's origin (or is `*`).
    Listed,
}

/// Why a request is refused (the text is meant for the 403 body and the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginRefused {
    /// The `Origin` is not `scheme://host[:port]`.
    Malformed {
        /// The header value (cut to 200 characters).
        origin: String,
    },
    /// `Origin: null` (a sandboxed iframe, a `file:` page, a cross-site redirect): allowed only
    /// by `*`.
    Opaque,
    /// Another site, not on the allow-list.
    CrossOrigin {
        /// The page's origin (cut to 200 characters).
        origin: String,
        /// The site the request addressed (`host[:port]`), if it named one.
        target: Option<String>,
    },
}

impl fmt::Display for OriginRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginRefused::Malformed { origin } => {
                write!(
                    f,
                    "Origin `{origin}` is not a valid origin (scheme://host[:port])"
                )
            }
            OriginRefused::Opaque => f.write_str(
                "Origin `null` (a sandboxed or file: page) is not allowed; only `*` allows it",
            ),
            OriginRefused::CrossOrigin {
                origin,
                target: Some(target),
            } => write!(
                f,
                "Origin `{origin}` is another site than this server (`{target}`) and is not on the allowed origins list"
            ),
            OriginRefused::CrossOrigin {
                origin,
                target: None,
            } => write!(
                f,
                "Origin `{origin}` is not on the allowed origins list (the request names no Host to compare it with)"
            ),
        }
    }
}

impl std::error::Error for OriginRefused {}

impl OriginPolicy {
    /// A policy from allow-list entries (see the module docs); an empty list allows the same
    /// origin only.
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Result<OriginPolicy, PatternError> {
        let mut policy = OriginPolicy::default();
        for entry in entries {
            let written = entry.as_ref().trim();
            match Pattern::parse(written)? {
                None => policy.any = true,
                Some(p) => policy.patterns.push(p),
            }
            policy.written.push(written.to_string());
        }
        Ok(policy)
    }

    /// Allows every origin (`*`).
    pub fn any() -> OriginPolicy {
        OriginPolicy {
            any: true,
            patterns: Vec::new(),
            written: vec!["*".to_string()],
        }
    }

    /// Whether every origin is allowed.
    pub fn allows_any(&self) -> bool {
        self.any
    }

    /// What `/info` reports as `origins`: the allow-list as written, or `["*:*"]` when any
    /// origin is allowed or no list is configured. The field is informational (sockjs-client
    /// ignores it; Spring always sends `["*:*"]`, the protocol suite expects it by default), so
    /// the same-origin default reports what every reference server does.
    pub fn info_origins(&self) -> Vec<&str> {
        if self.any || self.written.is_empty() {
            vec!["*:*"]
        } else {
            self.written.iter().map(String::as_str).collect()
        }
    }

    /// Judges a request: `origin` is its `Origin` header, `target` the site it addressed (see
    /// [`request_target`]).
    pub fn check(
        &self,
        origin: Option<&str>,
        target: Option<&str>,
    ) -> Result<OriginAllowed, OriginRefused> {
        let Some(origin) = origin else {
            return Ok(OriginAllowed::NoOrigin);
        };
        if self.any {
            return Ok(OriginAllowed::Listed);
        }
        let origin = origin.trim();
        if origin == "null" {
            return Err(OriginRefused::Opaque);
        }
        let Some(page) = Site::parse_origin(origin) else {
            return Err(OriginRefused::Malformed {
                origin: clip(origin),
            });
        };
        let target_site = target.and_then(|t| parse_authority(t.trim()));
        if target_site
            .as_ref()
            .is_some_and(|(host, port)| page.is_same_site(host, *port))
        {
            return Ok(OriginAllowed::SameOrigin);
        }
        if self.patterns.iter().any(|p| p.matches(&page)) {
            return Ok(OriginAllowed::Listed);
        }
        Err(OriginRefused::CrossOrigin {
            origin: clip(origin),
            target: target.map(|t| clip(t.trim())),
        })
    }
}

/// The site a request addressed, from its headers: the first `X-Forwarded-Host`, else the
/// `host=` of the first `Forwarded` element, else `Host` (or HTTP/2's `:authority`). Proxies set
/// the forwarded ones to the client's `Host`; a cross-site page cannot add them (browsers set
/// no custom headers on WebSocket handshakes, and a preflight for them is itself refused).
pub fn request_target<'a>(
    host: Option<&'a str>,
    x_forwarded_host: Option<&'a str>,
    forwarded: Option<&'a str>,
) -> Option<&'a str> {
    let first = |v: &'a str| v.split(',').next().map(str::trim).filter(|s| !s.is_empty());
    if let Some(h) = x_forwarded_host.and_then(first) {
        return Some(h);
    }
    let from_forwarded = forwarded.and_then(first).and_then(|element| {
        element.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("host")
                .then(|| v.trim().trim_matches('"'))
                .filter(|v| !v.is_empty())
        })
    });
    from_forwarded.or(host.map(str::trim).filter(|h| !h.is_empty()))
}

/// A page's origin: scheme, host and explicit port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Site {
    /// `scheme://host[:port]` (a trailing `/` tolerated).
    fn parse_origin(origin: &str) -> Option<Site> {
        let (scheme, rest) = origin.split_once("://")?;
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !valid_scheme {
            return None;
        }
        let (host, port) = parse_authority(rest.strip_suffix('/').unwrap_or(rest))?;
        Some(Site {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
        })
    }

    /// The port, defaulting from the scheme.
    fn effective_port(&self) -> Option<u16> {
        self.port.or_else(|| default_port(&self.scheme))
    }

    /// Whether this page's origin is the site `host[:port]` a request addressed.
    fn is_same_site(&self, host: &str, port: Option<u16>) -> bool {
        let Some(page_port) = default_port(&self.scheme).and(self.effective_port()) else {
            // Only web schemes can be compared with a Host.
            return false;
        };
        if self.host != host {
            return false;
        }
        match port {
            Some(port) => page_port == port,
            // No port in Host: the default port of the client's scheme, which the page's own
            // scheme tells.
            None => Some(page_port) == default_port(&self.scheme),
        }
    }
}

impl Pattern {
    /// `None` for `*` / `*:*` (everything).
    fn parse(written: &str) -> Result<Option<Pattern>, PatternError> {
        let error = |why| PatternError {
            pattern: written.to_string(),
            why,
        };
        if written == "*" || written == "*:*" {
            return Ok(None);
        }
        if written.is_empty() {
            return Err(error("empty entry"));
        }
        let (scheme, authority) = match written.split_once("://") {
            Some((s, rest)) => {
                if s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                {
                    return Err(error("invalid scheme"));
                }
                (
                    Some(s.to_ascii_lowercase()),
                    rest.strip_suffix('/').unwrap_or(rest),
                )
            }
            None => (None, written),
        };
        // A `*` port is taken off before the authority is parsed as a host[:port].
        let (authority, any_port) = match authority.strip_suffix(":*") {
            Some(a) => (a, true),
            None => (authority, false),
        };
        let (host, port) = if authority == "*" {
            (HostPattern::Any, None)
        } else if let Some(port) = authority.strip_prefix("*:") {
            (
                HostPattern::Any,
                parse_port(port).ok_or_else(|| error("invalid port"))?,
            )
        } else if let Some(domain) = authority.strip_prefix("*.") {
            let (domain, port) = parse_authority(domain).ok_or_else(|| error("invalid host"))?;
            if domain.starts_with('[') {
                return Err(error("`*.` needs a domain name"));
            }
            (HostPattern::Subdomain(format!(".{domain}")), port)
        } else {
            let (host, port) = parse_authority(authority).ok_or_else(|| error("invalid host"))?;
            (HostPattern::Exact(host), port)
        };
        if any_port && port.is_some() {
            return Err(error("two ports"));
        }
        let port = match (&scheme, port, any_port) {
            (_, Some(p), _) => Some(p),
            (_, None, true) | (None, None, false) => None,
            (Some(s), None, false) => Some(default_port(s).ok_or_else(|| {
                error("a scheme other than http(s)/ws(s) needs an explicit port")
            })?),
        };
        Ok(Some(Pattern { scheme, host, port }))
    }

    fn matches(&self, page: &Site) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == page.scheme);
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == page.host,
            HostPattern::Subdomain(suffix) => page.host.ends_with(suffix.as_str()),
        };
        let port_ok = self.port.is_none_or(|p| Some(p) == page.effective_port());
        scheme_ok && host_ok && port_ok
    }
}

/// `host[:port]` → (lower-case host, IPv6 canonical in brackets; port if given). `None` when it
/// is not an authority without user info.
fn parse_authority(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = inside.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~%!$&'()+,;=".contains(c));
        if !valid {
            return None;
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => parse_port(p)?,
    };
    Some((host, port))
}

/// A port after `:`: `Some(None)` for an empty one (the default, RFC 3986 §3.2.3), `None` when
/// it is not a number up to 65535.
fn parse_port(p: &str) -> Option<Option<u16>> {
    if p.is_empty() {
        return Some(None);
    }
    if p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().map(Some)
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn clip(value: &str) -> String {
    value.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn policy(entries: &[&str]) -> OriginPolicy {
        OriginPolicy::new(entries).unwrap()
    }

    fn allowed(p: &OriginPolicy, origin: &str, host: &str) -> bool {
        p.check(Some(origin), Some(host)).is_ok()
    }

    #[test]
    fn the_same_origin_is_allowed_by_default_and_other_sites_are_not() {
        let p = policy(&[]);
        assert_eq!(
            p.check(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8081")),
            Ok(OriginAllowed::SameOrigin)
        );
        assert!(allowed(&p, "HTTP://Example.COM:8081", "example.com:8081"));
        assert!(!allowed(&p, "http://127.0.0.1:8082", "127.0.0.1:8081"));
        assert!(!allowed(&p, "http://evil.example:8081", "127.0.0.1:8081"));
        assert!(!allowed(&p, "http://127.0.0.1.evil.example", "127.0.0.1"));
        let refused = p
            .check(Some("https://evil.example"), Some("app.example.com"))
            .unwrap_err();
        assert!(matches!(refused, OriginRefused::CrossOrigin { .. }));
        assert!(refused.to_string().contains("evil.example"), "{refused}");
        assert!(refused.to_string().contains("app.example.com"), "{refused}");
    }

    #[test]
    fn ports_default_from_the_scheme() {
        let p = policy(&[]);
        // Explicit Host ports compare with the page's effective port.
        assert!(allowed(&p, "https://example.com", "example.com:443"));
        assert!(allowed(&p, "http://example.com", "example.com:80"));
        assert!(allowed(&p, "http://example.com:80", "example.com:80"));
        assert!(!allowed(&p, "http://example.com", "example.com:443"));
        assert!(!allowed(&p, "https://example.com", "example.com:8443"));
        // A Host without a port is the default port of the client's scheme.
        assert!(allowed(&p, "https://example.com", "example.com"));
        assert!(allowed(&p, "http://example.com", "example.com"));
        assert!(allowed(&p, "https://example.com:443", "example.com"));
        assert!(!allowed(&p, "http://example.com:8080", "example.com"));
        // Only web schemes are compared with a Host.
        assert!(!allowed(
            &p,
            "chrome-extension://example.com",
            "example.com"
        ));
        assert!(!allowed(&p, "ftp://example.com:21", "example.com:21"));
    }

    #[test]
    fn ipv6_hosts_compare_in_brackets_and_canonical_form() {
        let p = policy(&[]);
        assert!(allowed(&p, "http://[::1]:8081", "[::1]:8081"));
        assert!(allowed(&p, "http://[0:0::1]:8081", "[::1]:8081"));
        assert!(allowed(&p, "http://[::1]", "[::1]"));
        assert!(allowed(&p, "http://[2001:DB8::1]:80", "[2001:db8::1]"));
        assert!(!allowed(&p, "http://[::1]:8081", "[::2]:8081"));
        assert!(!allowed(&p, "http://[::1]:8081", "127.0.0.1:8081"));
        assert!(matches!(
            p.check(Some("http://[zz]:1"), Some("x")),
            Err(OriginRefused::Malformed { .. })
        ));
    }

    #[test]
    fn no_origin_is_allowed_and_null_or_garbage_is_not() {
        let p = policy(&[]);
        assert_eq!(p.check(None, Some("x")), Ok(OriginAllowed::NoOrigin));
        assert_eq!(p.check(None, None), Ok(OriginAllowed::NoOrigin));
        assert_eq!(p.check(Some("null"), Some("x")), Err(OriginRefused::Opaque));
        for bad in [
            "test",
            "",
            "http://",
            "http://a b",
            "http://user@host",
            "http://host/path",
            "http://host:99999",
            "http://host:x",
            "://host",
        ] {
            assert!(
                matches!(
                    p.check(Some(bad), Some("host")),
                    Err(OriginRefused::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
        // Without a Host there is nothing to be the same as.
        assert!(matches!(
            p.check(Some("http://a"), None),
            Err(OriginRefused::CrossOrigin { target: None, .. })
        ));
    }

    #[test]
    fn star_allows_everything_only_when_listed() {
        for star in ["*", "*:*", " * "] {
            let p = policy(&[star]);
            assert!(p.allows_any());
            assert!(allowed(&p, "http://evil.example", "x"));
            assert!(allowed(&p, "null", "x"));
            assert!(allowed(&p, "test", "x"));
            assert_eq!(p.info_origins(), vec!["*:*"]);
        }
        assert!(!policy(&[]).allows_any());
        assert_eq!(policy(&[]).info_origins(), vec!["*:*"]);
        assert!(OriginPolicy::any().allows_any());
    }

    #[test]
    fn host_and_port_patterns_match_the_origin() {
        let p = policy(&[
            "app.example.com:443",
            "localhost:*",
            "http://127.0.0.1:8080",
            "https://*.example.org",
            "dev.example",
        ]);
        let h = "server.internal:8081";
        assert!(allowed(&p, "https://app.example.com", h));
        assert!(!allowed(&p, "http://app.example.com", h));
        assert!(allowed(&p, "http://localhost:3000", h));
        assert!(allowed(&p, "http://localhost", h));
        assert!(allowed(&p, "http://127.0.0.1:8080", h));
        assert!(!allowed(&p, "https://127.0.0.1:8080", h), "scheme fixed");
        assert!(!allowed(&p, "http://127.0.0.1:8081", h));
        assert!(allowed(&p, "https://a.example.org", h));
        assert!(allowed(&p, "https://a.b.example.org", h));
        assert!(!allowed(&p, "https://example.org", h), "subdomains only");
        assert!(!allowed(&p, "https://evilexample.org", h));
        assert!(!allowed(&p, "http://a.example.org", h));
        assert!(allowed(&p, "http://dev.example:1234", h));
        assert!(!allowed(&p, "https://evil.example", h));
        assert!(!allowed(&p, "null", h));
        assert_eq!(p.info_origins().len(), 5);
        let p = policy(&["*:8080", "https://*"]);
        assert!(allowed(&p, "http://anything:8080", h));
        assert!(allowed(&p, "https://anything", h));
        assert!(!allowed(&p, "http://anything", h));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_entry() {
        for bad in [
            "",
            "a b",
            "http://",
            "host:port",
            "a:1:2",
            "*.[::1]",
            "x:1:*",
            "ftp://host",
            "[::1",
            "::1",
        ] {
            let e = OriginPolicy::new(&[bad]).unwrap_err();
            assert_eq!(e.pattern, bad.trim());
            assert!(e.to_string().contains("expected"), "{e}");
        }
        assert!(OriginPolicy::new(&["ftp://host:21", "[::1]:8080", "[::1]"]).is_ok());
    }

    #[test]
    fn the_target_prefers_the_forwarded_host() {
        assert_eq!(request_target(Some("a:1"), None, None), Some("a:1"));
        assert_eq!(
            request_target(Some("a:1"), Some("b:2, c"), None),
            Some("b:2")
        );
        assert_eq!(
            request_target(
                Some("a:1"),
                None,
                Some("for=1.2.3.4;proto=https;Host=\"b.example\", host=c")
            ),
            Some("b.example")
        );
        assert_eq!(request_target(Some("a"), None, Some("for=x")), Some("a"));
        assert_eq!(request_target(Some(" "), Some(""), None), None);
        assert_eq!(request_target(None, None, None), None);
    }
}
