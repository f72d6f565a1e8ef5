//! The allowed-origins list that SockJS servers report in `/info` (`"*:*"` = any) and enforce on
//! requests that carry an `Origin` header.
//!
//! Patterns are `host:port`, either part `*`; a pattern may also be written as a full origin
//! (`https://app.example.com`), whose port then defaults from the scheme.

/// Whether a request's `Origin` header value is allowed by `patterns`. Requests without an
/// `Origin` (non-browser clients) and the opaque origin `null` are matched against `*:*` only.
pub fn is_origin_allowed(origin: Option<&str>, patterns: &[&str]) -> bool {
    if patterns
        .iter()
        .any(|p| p.trim() == "*:*" || p.trim() == "*")
    {
        return true;
    }
    let Some(origin) = origin else {
        // No Origin header: not a browser, so no cross-site risk to guard against.
        return true;
    };
    let Some((host, port)) = split_origin(origin) else {
        return false;
    };
    patterns.iter().any(|p| {
        let (ph, pp) = split_pattern(p.trim());
        (ph == "*" || ph.eq_ignore_ascii_case(&host)) && (pp == "*" || pp == port)
    })
}

/// `scheme://host[:port]` → (host, port), the port defaulting from the scheme.
fn split_origin(origin: &str) -> Option<(String, String)> {
    let (scheme, rest) = origin.split_once("://")?;
    let rest = rest.trim_end_matches('/');
    let default = match scheme {
        "https" | "wss" => "443",
        _ => "80",
    };
    Some(match rest.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
            (h.to_string(), p.to_string())
        }
        _ => (rest.to_string(), default.to_string()),
    })
}

fn split_pattern(pattern: &str) -> (String, String) {
    if pattern.contains("://") {
        return split_origin(pattern).unwrap_or_default();
    }
    match pattern.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (pattern.to_string(), "*".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_allows_everything() {
        assert!(is_origin_allowed(Some("http://evil.example"), &["*:*"]));
        assert!(is_origin_allowed(None, &["*:*"]));
    }

    #[test]
    fn host_and_port_patterns_match_the_origin() {
        let allowed = [
            "app.example.com:443",
            "localhost:*",
            "http://127.0.0.1:8080",
        ];
        assert!(is_origin_allowed(Some("https://app.example.com"), &allowed));
        assert!(!is_origin_allowed(Some("http://app.example.com"), &allowed));
        assert!(is_origin_allowed(Some("http://localhost:3000"), &allowed));
        assert!(is_origin_allowed(Some("http://127.0.0.1:8080"), &allowed));
        assert!(!is_origin_allowed(Some("http://127.0.0.1:8081"), &allowed));
        assert!(!is_origin_allowed(Some("https://evil.example"), &allowed));
        assert!(!is_origin_allowed(Some("null"), &allowed));
        assert!(
            is_origin_allowed(None, &allowed),
            "non-browser clients send no Origin"
        );
    }
}
