//! The SockJS transports: which HTTP method each takes, its content type, its prelude, and how it
//! wraps each frame on the wire.
//!
//! Owns the exact bytes around frames and the JSONP/htmlfile `callback` rules; must not build
//! frames (`frame.rs`) or hold session state. Implements the per-transport sections of
//! `sockjs-protocol-0.3.3.py` (WebSocket, XhrPolling, XhrStreaming, EventSource, HtmlFile,
//! JsonpPolling).

use std::fmt;

use crate::frame::escape_json_string;

/// Body of the HTTP 500 answered when `htmlfile` or `jsonp` has no `c` (callback) query
/// parameter (spec `HtmlFile.test_no_callback`, `JsonPolling.test_no_callback`).
pub const CALLBACK_REQUIRED: &str = "\"callback\" parameter required";

/// Body of the HTTP 500 answered when the callback fails [`is_valid_callback`]. Not in the 0.3.3
/// suite; taken from the later revision of the spec (`sockjs-protocol.py`,
/// `test_invalid_callback`).
pub const INVALID_CALLBACK: &str = "invalid \"callback\" parameter";

/// Body of the HTTP 400 answered to a plain (non-upgrade) GET on `…/websocket`
/// (spec `WebsocketHttpErrors.test_httpMethod`).
pub const WEBSOCKET_UPGRADE_ONLY: &str = "Can \"Upgrade\" only to \"WebSocket\".";

/// Body of the HTTP 400 answered when `Connection` does not contain `Upgrade`
/// (spec `WebsocketHttpErrors.test_invalidConnectionHeader`).
pub const WEBSOCKET_CONNECTION_UPGRADE: &str = "\"Connection\" must be \"Upgrade\".";

/// Body of the `200` answer to a successful `jsonp_send` (the spec answers `ok`, not 204,
/// because Konqueror mishandles 204).
pub const JSONP_SEND_OK: &str = "ok";

/// The `xhr_streaming` prelude: 2 KiB of `h` and a newline, so browsers start delivering chunks.
const XHR_STREAMING_PRELUDE_LEN: usize = 2048;

/// The htmlfile page is padded to at least this many bytes (Safari needs 1 KiB before it
/// renders; the spec asserts the prelude is longer than 1024 bytes).
const HTMLFILE_MIN_LEN: usize = 1024;

/// One SockJS transport, as named by the last path segment of a session URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `websocket`: one WebSocket text message per frame, unwrapped.
    WebSocket,
    /// `xhr`: polling; one frame per POST response, followed by `\n`.
    Xhr,
    /// `xhr_send`: POST of a JSON array of messages; answers 204.
    XhrSend,
    /// `xhr_streaming`: one long POST response of `\n`-terminated frames after a 2 KiB prelude.
    XhrStreaming,
    /// `eventsource`: a `text/event-stream` of `data: <frame>` events.
    EventSource,
    /// `htmlfile`: a streamed HTML page calling `p("<frame>")` in `<script>` blocks.
    HtmlFile,
    /// `jsonp`: polling; one `callback("<frame>");` script per GET response.
    Jsonp,
    /// `jsonp_send`: POST of messages (form field `d` or raw JSON); answers 200 `ok`.
    JsonpSend,
}

impl Transport {
    /// Every transport, in spec order.
    pub const ALL: [Transport; 8] = [
        Transport::WebSocket,
        Transport::Xhr,
        Transport::XhrSend,
        Transport::XhrStreaming,
        Transport::EventSource,
        Transport::HtmlFile,
        Transport::Jsonp,
        Transport::JsonpSend,
    ];

    /// The transport named by a session URL's last path segment; `None` if unknown (→ 404).
    /// Case-sensitive, as the spec's URLs are.
    pub fn from_path_segment(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.path_segment() == s)
    }

    /// The path segment naming this transport, e.g. `xhr_streaming`.
    pub const fn path_segment(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Xhr => "xhr",
            Transport::XhrSend => "xhr_send",
            Transport::XhrStreaming => "xhr_streaming",
            Transport::EventSource => "eventsource",
            Transport::HtmlFile => "htmlfile",
            Transport::Jsonp => "jsonp",
            Transport::JsonpSend => "jsonp_send",
        }
    }

    /// The one HTTP method the transport answers (besides `OPTIONS` where CORS needs it); other
    /// methods get 405 with [`Transport::allow`] as the `Allow` header.
    pub const fn method(self) -> &'static str {
        match self {
            Transport::WebSocket
            | Transport::EventSource
            | Transport::HtmlFile
            | Transport::Jsonp => "GET",
            Transport::Xhr
            | Transport::XhrSend
            | Transport::XhrStreaming
            | Transport::JsonpSend => "POST",
        }
    }

    /// The `Allow` header for a 405 and the `Access-Control-Allow-Methods` header for an
    /// `OPTIONS` answer: `OPTIONS, POST` or `OPTIONS, GET` (spec `verify_options`), and `GET`
    /// alone for `websocket`, which does no CORS (spec `test_invalidMethod` wants only some
    /// `Allow`).
    pub const fn allow(self) -> &'static str {
        match self {
            Transport::WebSocket => "GET",
            Transport::EventSource | Transport::HtmlFile | Transport::Jsonp => "OPTIONS, GET",
            Transport::Xhr
            | Transport::XhrSend
            | Transport::XhrStreaming
            | Transport::JsonpSend => "OPTIONS, POST",
        }
    }

    /// Whether the transport receives frames from the session (all but `xhr_send` and
    /// `jsonp_send`, which only carry client messages to it).
    pub const fn is_receiving(self) -> bool {
        !matches!(self, Transport::XhrSend | Transport::JsonpSend)
    }

    /// Whether one HTTP response carries many frames (`xhr_streaming`, `eventsource`,
    /// `htmlfile`); such responses end on close or when the adapter's byte count reaches
    /// `SessionConfig::response_limit`. WebSocket streams too but is not HTTP and has no limit.
    pub const fn is_streaming(self) -> bool {
        matches!(
            self,
            Transport::XhrStreaming | Transport::EventSource | Transport::HtmlFile
        )
    }

    /// Whether one HTTP response carries exactly one frame (`xhr`, `jsonp`).
    pub const fn is_polling(self) -> bool {
        matches!(self, Transport::Xhr | Transport::Jsonp)
    }

    /// The exact `Content-Type` of the transport's successful response, from the spec's
    /// `verify_content_type` calls. For `websocket`, which has none, this is the type of the
    /// 400 error bodies ([`WEBSOCKET_UPGRADE_ONLY`]).
    pub const fn content_type(self) -> &'static str {
        match self {
            Transport::Xhr | Transport::XhrStreaming | Transport::Jsonp => {
                "application/javascript;charset=UTF-8"
            }
            Transport::EventSource => "text/event-stream;charset=UTF-8",
            Transport::HtmlFile => "text/html;charset=UTF-8",
            Transport::WebSocket | Transport::XhrSend | Transport::JsonpSend => {
                "text/plain;charset=UTF-8"
            }
        }
    }

    /// Whether the transport needs the `c` query parameter (`htmlfile`, `jsonp`): without it
    /// answer 500 [`CALLBACK_REQUIRED`], with one failing [`is_valid_callback`] answer 500
    /// [`INVALID_CALLBACK`].
    pub const fn needs_callback(self) -> bool {
        matches!(self, Transport::HtmlFile | Transport::Jsonp)
    }

    /// What a streaming response writes before its first frame, or `None`.
    ///
    /// - `xhr_streaming`: 2048 `h` then `\n` (spec: `'h' * 2048 + '\n'`).
    /// - `eventsource`: `\r\n` (spec: "a new line prelude, due to a bug in Opera").
    /// - `htmlfile`: the spec's HTML page calling `parent.<callback>`, padded with spaces to
    ///   1024 bytes and ended with `\r\n\r\n` (spec: `d.strip() == head % callback`,
    ///   `len(d) > 1024`). `callback` must have passed [`is_valid_callback`].
    pub fn prelude(self, callback: &str) -> Option<String> {
        match self {
            Transport::XhrStreaming => {
                let mut out = "h".repeat(XHR_STREAMING_PRELUDE_LEN);
                out.push('\n');
                Some(out)
            }
            Transport::EventSource => Some("\r\n".to_owned()),
            Transport::HtmlFile => Some(htmlfile_page(callback)),
            _ => None,
        }
    }

    /// `frame` as the transport writes it.
    ///
    /// - `websocket`: the frame itself (one text message);
    /// - `xhr`, `xhr_streaming`: `frame` + `\n`;
    /// - `eventsource`: `data: ` + `frame` + `\r\n\r\n`;
    /// - `htmlfile`: `<script>\np(` + JSON string of `frame` + `);\n</script>\r\n`, where `<`
    ///   is also escaped (`\u003c`) so a message containing `</script>` cannot end the block;
    /// - `jsonp`: `callback` + `(` + JSON string of `frame` + `);\r\n` — exactly the 0.3.3
    ///   bytes, without the `/**/` prefix the later spec revision added;
    /// - `xhr_send`, `jsonp_send` carry no frames: the frame itself.
    pub fn wrap(self, frame: &str, callback: &str) -> String {
        match self {
            Transport::Xhr | Transport::XhrStreaming => {
                let mut out = String::with_capacity(frame.len() + 1);
                out.push_str(frame);
                out.push('\n');
                out
            }
            Transport::EventSource => {
                let mut out = String::with_capacity(frame.len() + 10);
                out.push_str("data: ");
                out.push_str(frame);
                out.push_str("\r\n\r\n");
                out
            }
            Transport::HtmlFile => {
                let mut quoted = String::with_capacity(frame.len() + 8);
                escape_json_string(frame, &mut quoted);
                let quoted = quoted.replace('<', "\\u003c");
                let mut out = String::with_capacity(quoted.len() + 30);
                out.push_str("<script>\np(");
                out.push_str(&quoted);
                out.push_str(");\n</script>\r\n");
                out
            }
            Transport::Jsonp => {
                let mut out = String::with_capacity(callback.len() + frame.len() + 12);
                out.push_str(callback);
                out.push('(');
                escape_json_string(frame, &mut out);
                out.push_str(");\r\n");
                out
            }
            Transport::WebSocket | Transport::XhrSend | Transport::JsonpSend => frame.to_owned(),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path_segment())
    }
}

/// Whether `cb` may be used as a JSONP/htmlfile callback: non-empty, only ASCII letters, digits,
/// `-`, `_` and `.` (the later spec's rule: invalid is anything matching `[^a-zA-Z0-9-_.]`;
/// 0.3.3 has no rule). It is written unescaped into JavaScript, so nothing else may pass.
pub fn is_valid_callback(cb: &str) -> bool {
    !cb.is_empty()
        && cb
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The htmlfile prelude page (see [`Transport::prelude`]).
fn htmlfile_page(callback: &str) -> String {
    let mut page = format!(
        "<!doctype html>\n\
         <html><head>\n  \
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
         </head><body><h2>Don't panic!</h2>\n  \
         <script>\n    \
         document.domain = document.domain;\n    \
         var c = parent.{callback};\n    \
         c.start();\n    \
         function p(d) {{c.message(d);}};\n    \
         window.onload = function() {{c.stop();}};\n  \
         </script>\n"
    );
    let pad = HTMLFILE_MIN_LEN.saturating_sub(page.len());
    page.extend(std::iter::repeat_n(' ', pad));
    page.push_str("\r\n\r\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `HtmlFile.head` from the spec, with `%s` = `callback`.
    const SPEC_HTMLFILE_HEAD: &str = r#"<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.callback;
    c.start();
    function p(d) {c.message(d);};
    window.onload = function() {c.stop();};
  </script>"#;

    #[test]
    fn path_segments_round_trip() {
        for t in Transport::ALL {
            assert_eq!(Transport::from_path_segment(t.path_segment()), Some(t));
            assert_eq!(t.to_string(), t.path_segment());
        }
        for bad in [
            "",
            "XHR",
            "xhr ",
            "xhr_poll",
            "websocket/",
            "info",
            "iframe.html",
        ] {
            assert_eq!(Transport::from_path_segment(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn methods_match_the_spec() {
        use Transport::*;
        for (t, m) in [
            (WebSocket, "GET"),
            (Xhr, "POST"),
            (XhrSend, "POST"),
            (XhrStreaming, "POST"),
            (EventSource, "GET"),
            (HtmlFile, "GET"),
            (Jsonp, "GET"),
            (JsonpSend, "POST"),
        ] {
            assert_eq!(t.method(), m, "{t}");
        }
        assert_eq!(Xhr.allow(), "OPTIONS, POST");
        assert_eq!(XhrSend.allow(), "OPTIONS, POST");
        assert_eq!(XhrStreaming.allow(), "OPTIONS, POST");
        assert_eq!(Jsonp.allow(), "OPTIONS, GET");
        assert_eq!(WebSocket.allow(), "GET");
    }

    #[test]
    fn kinds_of_transport() {
        use Transport::*;
        let receiving: Vec<_> = Transport::ALL
            .into_iter()
            .filter(|t| t.is_receiving())
            .collect();
        assert_eq!(
            receiving,
            [WebSocket, Xhr, XhrStreaming, EventSource, HtmlFile, Jsonp]
        );
        let streaming: Vec<_> = Transport::ALL
            .into_iter()
            .filter(|t| t.is_streaming())
            .collect();
        assert_eq!(streaming, [XhrStreaming, EventSource, HtmlFile]);
        let polling: Vec<_> = Transport::ALL
            .into_iter()
            .filter(|t| t.is_polling())
            .collect();
        assert_eq!(polling, [Xhr, Jsonp]);
        let callback: Vec<_> = Transport::ALL
            .into_iter()
            .filter(|t| t.needs_callback())
            .collect();
        assert_eq!(callback, [HtmlFile, Jsonp]);
    }

    #[test]
    fn content_types_match_the_spec() {
        use Transport::*;
        assert_eq!(Xhr.content_type(), "application/javascript;charset=UTF-8");
        assert_eq!(
            XhrStreaming.content_type(),
            "application/javascript;charset=UTF-8"
        );
        assert_eq!(Jsonp.content_type(), "application/javascript;charset=UTF-8");
        assert_eq!(
            EventSource.content_type(),
            "text/event-stream;charset=UTF-8"
        );
        assert_eq!(HtmlFile.content_type(), "text/html;charset=UTF-8");
        assert_eq!(XhrSend.content_type(), "text/plain;charset=UTF-8");
        assert_eq!(JsonpSend.content_type(), "text/plain;charset=UTF-8");
    }

    #[test]
    fn xhr_streaming_prelude_is_2048_h_and_newline() {
        let prelude = Transport::XhrStreaming.prelude("").expect("has a prelude");
        assert_eq!(prelude.len(), 2049);
        assert_eq!(prelude, format!("{}\n", "h".repeat(2048)));
    }

    #[test]
    fn eventsource_prelude_is_crlf() {
        assert_eq!(Transport::EventSource.prelude("").as_deref(), Some("\r\n"));
    }

    #[test]
    fn htmlfile_prelude_is_the_spec_page_padded_past_1024_bytes() {
        let page = Transport::HtmlFile
            .prelude("callback")
            .expect("has a prelude");
        assert_eq!(page.trim(), SPEC_HTMLFILE_HEAD);
        assert!(page.len() > 1024, "{}", page.len());
        assert!(page.starts_with("<!doctype html>\n"));
        assert!(page.ends_with(" \r\n\r\n"));
    }

    #[test]
    fn other_transports_have_no_prelude() {
        use Transport::*;
        for t in [WebSocket, Xhr, XhrSend, Jsonp, JsonpSend] {
            assert_eq!(t.prelude("cb"), None, "{t}");
        }
    }

    #[test]
    fn wraps_match_the_spec_bytes() {
        use Transport::*;
        assert_eq!(Xhr.wrap("o", ""), "o\n");
        assert_eq!(XhrStreaming.wrap(r#"a["x"]"#, ""), "a[\"x\"]\n");
        assert_eq!(EventSource.wrap("o", ""), "data: o\r\n\r\n");
        assert_eq!(EventSource.wrap(r#"a["x"]"#, ""), "data: a[\"x\"]\r\n\r\n");
        assert_eq!(
            HtmlFile.wrap("o", "cb"),
            "<script>\np(\"o\");\n</script>\r\n"
        );
        assert_eq!(
            HtmlFile.wrap(r#"a["x"]"#, "cb"),
            "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
        );
        assert_eq!(Jsonp.wrap("o", "callback"), "callback(\"o\");\r\n");
        assert_eq!(Jsonp.wrap(r#"a["x"]"#, "x"), "x(\"a[\\\"x\\\"]\");\r\n");
        assert_eq!(
            Jsonp.wrap(r#"c[3000,"Go away!"]"#, "x"),
            "x(\"c[3000,\\\"Go away!\\\"]\");\r\n"
        );
        assert_eq!(WebSocket.wrap(r#"a["x"]"#, ""), r#"a["x"]"#);
    }

    #[test]
    fn jsonp_wrap_escapes_already_escaped_frames_again() {
        // test_content_types: a["abc","%61bc"] inside x("...").
        assert_eq!(
            Transport::Jsonp.wrap(r#"a["abc","%61bc"]"#, "x"),
            "x(\"a[\\\"abc\\\",\\\"%61bc\\\"]\");\r\n"
        );
        assert_eq!(
            Transport::Jsonp.wrap(r#"a["\u2028"]"#, "x"),
            "x(\"a[\\\"\\\\u2028\\\"]\");\r\n"
        );
    }

    #[test]
    fn htmlfile_wrap_cannot_be_broken_out_of() {
        let wrapped = Transport::HtmlFile.wrap(r#"a["</script><b>"]"#, "cb");
        assert!(!wrapped[8..wrapped.len() - 11].contains('<'), "{wrapped}");
        assert_eq!(
            wrapped,
            "<script>\np(\"a[\\\"\\u003c/script>\\u003cb>\\\"]\");\n</script>\r\n"
        );
    }

    #[test]
    fn callbacks_are_letters_digits_dash_underscore_dot() {
        for ok in ["callback", "x", "_jp.a1b2c3", "a-b", "A.B_C.9"] {
            assert!(is_valid_callback(ok), "{ok:?}");
        }
        // The later spec's test_invalid_callback: '%20', '*', 'abc(', 'abc%28' (decoded).
        for bad in ["", " ", "*", "abc(", "a;alert(1)", "é", "a/b", "a\"b"] {
            assert!(!is_valid_callback(bad), "{bad:?}");
        }
    }

    #[test]
    fn error_bodies_match_the_spec() {
        assert_eq!(CALLBACK_REQUIRED, r#""callback" parameter required"#);
        assert_eq!(INVALID_CALLBACK, r#"invalid "callback" parameter"#);
        assert_eq!(
            WEBSOCKET_UPGRADE_ONLY,
            r#"Can "Upgrade" only to "WebSocket"."#
        );
        assert_eq!(
            WEBSOCKET_CONNECTION_UPGRADE,
            r#""Connection" must be "Upgrade"."#
        );
        assert_eq!(JSONP_SEND_OK, "ok");
    }
}
