//! Which SockJS resource a path below the service prefix names.
//!
//! Owns the URL scheme; must not look at methods, headers or sessions (the adapter answers 405,
//! CORS and 404-for-unknown-session itself). Implements the "Base URL", "Static URLs" and
//! "Session URLs" sections of `sockjs-protocol-0.3.3.py` (`test_notFound`, `test_invalidUrl`,
//! `test_invalidPaths`, `test_anyValue`, `test_ignoringServerId`).

use crate::transport::Transport;

/// A resource under a SockJS service prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route<'a> {
    /// `` or `/`: the greeting text ([`crate::GREETING`]).
    Greeting,
    /// `/info`: the capabilities JSON ([`crate::info_json`]).
    Info,
    /// `/iframe.html` or `/iframe-<version>.html`: the iframe page ([`crate::iframe_html`]).
    Iframe,
    /// `/websocket`: raw WebSocket without SockJS framing (no `o`, `h`, `a`, `c`).
    RawWebSocket,
    /// `/<server>/<session>/<transport>`.
    Session {
        /// The server id: meant for load balancers, ignored by the server.
        server: &'a str,
        /// The session id, which alone identifies the session. As it appears in the path
        /// (not percent-decoded).
        session: &'a str,
        /// The transport named by the last segment.
        transport: Transport,
    },
    /// Anything else: answer 404.
    NotFound,
}

/// Routes `rest`, the request path after the service prefix (the prefix never ends with `/`).
///
/// A query string, if the caller left one on, is ignored. Server and session ids may hold any
/// character but `/` and `.`, and may not be empty (spec `test_invalidPaths`: `//`, `/a./a`,
/// `/a/a.`, `/./.`, `/`, `///` are 404). Matching is case-sensitive (`/IFRAME.HTML` is 404).
pub fn route(rest: &str) -> Route<'_> {
    let path = rest.split_once('?').map_or(rest, |(path, _query)| path);
    match path {
        "" | "/" => return Route::Greeting,
        "/info" => return Route::Info,
        "/websocket" => return Route::RawWebSocket,
        _ => {}
    }
    let Some(path) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    if is_iframe(path) {
        return Route::Iframe;
    }
    let mut segments = path.split('/');
    let (Some(server), Some(session), Some(transport), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Route::NotFound;
    };
    if !is_valid_id(server) || !is_valid_id(session) {
        return Route::NotFound;
    }
    match Transport::from_path_segment(transport) {
        Some(transport) => Route::Session {
            server,
            session,
            transport,
        },
        None => Route::NotFound,
    }
}

/// `iframe.html`, or `iframe-<anything without a slash>.html` (the version may be empty or hold
/// dots: `iframe-.html`, `iframe-0.1.2abc-dirty.2144.html`).
fn is_iframe(segment: &str) -> bool {
    if segment == "iframe.html" {
        return true;
    }
    segment
        .strip_prefix("iframe-")
        .and_then(|s| s.strip_suffix(".html"))
        .is_some_and(|version| !version.contains('/'))
}

/// A server or session id: non-empty, no `.` (and no `/`, which splitting already excludes).
fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(rest: &str) -> Option<(&str, &str, Transport)> {
        match route(rest) {
            Route::Session {
                server,
                session,
                transport,
            } => Some((server, session, transport)),
            _ => None,
        }
    }

    #[test]
    fn greeting_with_or_without_slash() {
        assert_eq!(route(""), Route::Greeting);
        assert_eq!(route("/"), Route::Greeting);
    }

    #[test]
    fn static_resources() {
        assert_eq!(route("/info"), Route::Info);
        assert_eq!(route("/websocket"), Route::RawWebSocket);
        assert_eq!(route("/info?t=1"), Route::Info);
    }

    #[test]
    fn spec_not_found_paths() {
        for rest in [
            "/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/", "/info/", "info",
        ] {
            assert_eq!(route(rest), Route::NotFound, "{rest:?}");
        }
    }

    #[test]
    fn iframe_simple_versioned_and_queried() {
        for rest in [
            "/iframe.html",
            "/iframe-a.html",
            "/iframe-.html",
            "/iframe-0.1.2.html",
            "/iframe-0.1.2abc-dirty.2144.html",
            "/iframe-a.html?t=1234",
            "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
        ] {
            assert_eq!(route(rest), Route::Iframe, "{rest:?}");
        }
    }

    #[test]
    fn iframe_invalid_urls_are_not_found() {
        for rest in [
            "/iframe.htm",
            "/iframe",
            "/IFRAME.HTML",
            "/IFRAME",
            "/iframe.HTML",
            "/iframe.xml",
            "/iframe-/.html",
        ] {
            assert_eq!(route(rest), Route::NotFound, "{rest:?}");
        }
    }

    #[test]
    fn session_urls_accept_any_ids() {
        assert_eq!(session("/a/a/xhr"), Some(("a", "a", Transport::Xhr)));
        assert_eq!(session("/_/_/xhr"), Some(("_", "_", Transport::Xhr)));
        assert_eq!(session("/1/1/xhr"), Some(("1", "1", Transport::Xhr)));
        assert_eq!(
            session("/abcdefgh_i-j%20/abcdefg_i-j%20/xhr"),
            Some(("abcdefgh_i-j%20", "abcdefg_i-j%20", Transport::Xhr))
        );
        assert_eq!(
            session("/000/abc/htmlfile?c=%63allback"),
            Some(("000", "abc", Transport::HtmlFile))
        );
    }

    #[test]
    fn every_transport_routes() {
        for t in Transport::ALL {
            let rest = format!("/000/s1/{}", t.path_segment());
            assert_eq!(session(&rest), Some(("000", "s1", t)));
        }
    }

    #[test]
    fn server_id_is_reported_but_session_id_alone_identifies() {
        let a = session("/000/sid/xhr").map(|(_, s, _)| s);
        let b = session("/999/sid/xhr_send").map(|(_, s, _)| s);
        assert_eq!(a, b);
    }

    #[test]
    fn spec_invalid_session_paths_are_not_found() {
        for prefix in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
            let rest = format!("{prefix}/xhr");
            assert_eq!(route(&rest), Route::NotFound, "{rest:?}");
        }
    }

    #[test]
    fn unknown_transport_or_extra_segments_are_not_found() {
        for rest in [
            "/a/a/xhr_poll",
            "/a/a/XHR",
            "/a/a/",
            "/a/a/xhr/",
            "/a/a/xhr/x",
            "/a/a/b/xhr",
        ] {
            assert_eq!(route(rest), Route::NotFound, "{rest:?}");
        }
    }
}
