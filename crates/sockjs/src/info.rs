//! The static resources: the greeting, `/info`, the iframe page, and the cache headers they (and
//! the transports) use.
//!
//! Owns their exact bodies and header values; must not pick random numbers or read clocks (the
//! adapter passes the entropy and computes `Expires`). Implements `BaseUrlGreeting`,
//! `IframePage`, `InfoTest` and `verify_not_cached` / `verify_options` of
//! `sockjs-protocol-0.3.3.py`.

use crate::frame::escape_json_string;

/// The greeting body at the service root, served as [`CONTENT_TYPE_PLAIN`].
pub const GREETING: &str = "Welcome to SockJS!\n";

/// `Content-Type` of the greeting, of `xhr_send`/`jsonp_send` answers and of error bodies
/// (spec: `'text/plain;charset=UTF-8'`).
pub const CONTENT_TYPE_PLAIN: &str = "text/plain;charset=UTF-8";

/// `Content-Type` of `/info` (spec: `'application/json;charset=UTF-8'`).
pub const CONTENT_TYPE_JSON: &str = "application/json;charset=UTF-8";

/// `Content-Type` of the iframe page (spec: `'text/html;charset=UTF-8'`).
pub const CONTENT_TYPE_HTML: &str = "text/html;charset=UTF-8";

/// `Cache-Control` for everything private: `/info` and every transport response. The exact
/// value the 0.3.3 spec's `verify_not_cached` compares with (also what Spring sends). Such
/// responses must carry no `Expires` and no `Last-Modified`.
pub const CACHE_NO: &str = "no-store, no-cache, must-revalidate, max-age=0";

/// `Cache-Control` for the iframe page and `OPTIONS` answers, which must be cacheable for a long
/// time (spec: `public` and `max-age=[1-9][0-9]{6}`, "one year (31536000) is best"). Send an
/// `Expires` one year ahead with it.
pub const CACHE_YEAR: &str = "public, max-age=31536000";

/// One year in seconds: the `max-age` of [`CACHE_YEAR`], the offset of `Expires`, and the value
/// for `Access-Control-Max-Age` on `OPTIONS` answers (spec: greater than 1000000).
pub const ONE_YEAR_SECS: u64 = 31_536_000;

/// The `Access-Control-Allow-Methods` of `OPTIONS /info` (spec: `'OPTIONS, GET'`).
pub const INFO_ALLOW: &str = "OPTIONS, GET";

/// The `/info` body: `{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":123}`.
///
/// The spec wants `origins` to be `["*:*"]` and `entropy` a fresh random number from
/// `0..=2^32-1` on every request; the caller supplies it.
pub fn info_json(websocket: bool, cookie_needed: bool, origins: &[&str], entropy: u32) -> String {
    let mut out = String::with_capacity(80);
    out.push_str("{\"websocket\":");
    out.push_str(if websocket { "true" } else { "false" });
    out.push_str(",\"cookie_needed\":");
    out.push_str(if cookie_needed { "true" } else { "false" });
    out.push_str(",\"origins\":[");
    for (i, origin) in origins.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        escape_json_string(origin, &mut out);
    }
    out.push_str("],\"entropy\":");
    out.push_str(&entropy.to_string());
    out.push('}');
    out
}

/// The iframe page of the 0.3.3 spec, loading sockjs-client from `client_url`.
///
/// `client_url` should start with `/` or `http` (the spec checks) and is HTML-attribute-escaped.
/// The page sets `_sockjs_onload` before loading the client, which sockjs-client 0.3 and 1.x
/// both call. Serve it as [`CONTENT_TYPE_HTML`] with [`CACHE_YEAR`], `Expires` and
/// [`etag`]`(&page)`, no `Last-Modified`, and answer a matching `If-None-Match` with 304.
pub fn iframe_html(client_url: &str) -> String {
    let mut src = String::with_capacity(client_url.len());
    for c in client_url.chars() {
        match c {
            '&' => src.push_str("&amp;"),
            '"' => src.push_str("&quot;"),
            '<' => src.push_str("&lt;"),
            '>' => src.push_str("&gt;"),
            c => src.push(c),
        }
    }
    format!(
        "<!DOCTYPE html>\n\
         <html>\n\
         <head>\n  \
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  \
         <script>\n    \
         document.domain = document.domain;\n    \
         _sockjs_onload = function(){{SockJS.bootstrap_iframe();}};\n  \
         </script>\n  \
         <script src=\"{src}\"></script>\n\
         </head>\n\
         <body>\n  \
         <h2>Don't panic!</h2>\n  \
         <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n\
         </body>\n\
         </html>"
    )
}

/// A strong, quoted `ETag` for `body`: the 64-bit FNV-1a hash in hex, e.g. `"cbf29ce484222325"`.
///
/// Stable across runs and builds (unlike `std`'s randomly seeded hasher), so restarts and
/// replicas agree and `If-None-Match` keeps working (spec `test_cacheability`).
pub fn etag(body: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = body
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's `IframePage.iframe_body` with the client URL group filled in.
    const SPEC_IFRAME: &str = r#"<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script>
    document.domain = document.domain;
    _sockjs_onload = function(){SockJS.bootstrap_iframe();};
  </script>
  <script src="/static/sockjs.min.js"></script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"#;

    #[test]
    fn greeting_is_exact() {
        assert_eq!(GREETING, "Welcome to SockJS!\n");
        assert_eq!(GREETING.len(), 19);
    }

    #[test]
    fn header_values_are_exact() {
        assert_eq!(CACHE_NO, "no-store, no-cache, must-revalidate, max-age=0");
        assert_eq!(CACHE_YEAR, format!("public, max-age={ONE_YEAR_SECS}"));
        assert_eq!(ONE_YEAR_SECS, 365 * 24 * 60 * 60);
        assert_eq!(CONTENT_TYPE_PLAIN, "text/plain;charset=UTF-8");
        assert_eq!(CONTENT_TYPE_JSON, "application/json;charset=UTF-8");
        assert_eq!(CONTENT_TYPE_HTML, "text/html;charset=UTF-8");
    }

    #[test]
    fn info_json_is_exact_and_parses() {
        assert_eq!(
            info_json(true, false, &["*:*"], 123),
            r#"{"websocket":true,"cookie_needed":false,"origins":["*:*"],"entropy":123}"#
        );
        let body = info_json(false, true, &["*:*"], u32::MAX);
        let value: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(value["websocket"], false);
        assert_eq!(value["cookie_needed"], true);
        assert_eq!(value["origins"][0], "*:*");
        assert_eq!(value["entropy"], u64::from(u32::MAX));
        assert!(info_json(true, false, &[], 0).contains("\"origins\":[]"));
    }

    #[test]
    fn iframe_page_matches_the_spec() {
        assert_eq!(iframe_html("/static/sockjs.min.js"), SPEC_IFRAME);
    }

    #[test]
    fn iframe_client_url_is_attribute_escaped() {
        let page = iframe_html("http://x/a.js?a=1&b=\"><script>");
        assert!(page.contains(r#"src="http://x/a.js?a=1&amp;b=&quot;&gt;&lt;script&gt;""#));
    }

    #[test]
    fn etag_is_quoted_stable_and_content_dependent() {
        assert_eq!(etag(""), "\"cbf29ce484222325\"");
        assert_eq!(etag("a"), "\"af63dc4c8601ec8c\"");
        let page = iframe_html("/s.js");
        assert_eq!(etag(&page), etag(&page.clone()));
        assert_ne!(etag(&page), etag(&iframe_html("/t.js")));
        let tag = etag(&page);
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18);
    }
}
