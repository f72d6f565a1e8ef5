//! Helpers for SockJS end-to-end tests: a minimal JSON reader/writer (the tests must not trust
//! the server's own encoder), SockJS frame parsing, STOMP frames inside SockJS messages, and
//! xhr-polling shortcuts over [`super::http`](crate::http).
//!
//! Included with `#[path = "support/sockjs.rs"] mod sockjs;` after `mod http;`.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;
use stompbox_stomp::{Decoder, Frame, Item, Limits};

use crate::http;

/// A fresh session id (unique in this test binary).
pub fn sid() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("s{}-{nanos:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// `s` as a JSON string literal: only `"`, `\` and controls escaped (what a client sends).
pub fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An `xhr_send` body: a JSON array of the messages.
pub fn send_body(messages: &[&str]) -> String {
    let items: Vec<String> = messages.iter().map(|m| json_string(m)).collect();
    format!("[{}]", items.join(","))
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parses a whole JSON text; panics with the text on error.
    pub fn parse(text: &str) -> Json {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value();
        p.ws();
        assert_eq!(p.i, p.s.len(), "trailing bytes in JSON {text:?}");
        v
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a JSON string: {other:?}"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(
            self.s.get(self.i),
            Some(&b),
            "expected {:?} at {} in {:?}",
            b as char,
            self.i,
            String::from_utf8_lossy(self.s)
        );
        self.i += 1;
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s.get(self.i) {
            Some(b'"') => Json::Str(self.string()),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Json::Array(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Json::Array(items);
                        }
                        _ => panic!("bad JSON array in {:?}", String::from_utf8_lossy(self.s)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Json::Object(members);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    members.push((k, self.value()));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Json::Object(members);
                        }
                        _ => panic!("bad JSON object in {:?}", String::from_utf8_lossy(self.s)),
                    }
                }
            }
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Number(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad JSON value at {start}: {text:?}")),
                )
            }
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Json {
        assert!(
            self.s[self.i..].starts_with(w.as_bytes()),
            "bad JSON literal"
        );
        self.i += w.len();
        v
    }

    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad \\u escape {h:?}"))
    }

    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i).expect("unterminated JSON string");
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).expect("UTF-8 JSON string"),
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4();
                            let v = if (0xd800..0xdc00).contains(&hi) {
                                assert_eq!(&self.s[self.i..self.i + 2], b"\\u", "lone surrogate");
                                self.i += 2;
                                let lo = self.hex4();
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(v).expect("a scalar value")
                        }
                        _ => panic!("bad JSON escape \\{}", e as char),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => panic!("raw control byte {b:#x} inside a JSON string"),
                b => out.push(b),
            }
        }
    }
}

/// The messages of an `a[…]` frame (trailing `\n` or `\r\n` allowed).
pub fn messages(frame: &str) -> Vec<String> {
    let frame = frame.trim_end_matches(['\r', '\n']);
    let array = frame
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not an a-frame: {frame:?}"));
    match Json::parse(array) {
        Json::Array(items) => items.iter().map(|m| m.as_str().to_string()).collect(),
        other => panic!("a-frame payload is not an array: {other:?}"),
    }
}

/// Decodes STOMP frames from concatenated SockJS messages (heart-beat EOLs are dropped).
pub fn stomp_frames(messages: &[String]) -> Vec<Frame> {
    let mut decoder = Decoder::new(Limits {
        max_frame_size: 16 << 20,
        ..Limits::default()
    });
    let mut buf = BytesMut::new();
    for m in messages {
        buf.extend_from_slice(m.as_bytes());
    }
    let mut frames = Vec::new();
    while let Some(item) = decoder.decode(&mut buf).unwrap() {
        if let Item::Frame(f) = item {
            frames.push(f);
        }
    }
    assert!(buf.is_empty(), "an incomplete STOMP frame: {buf:?}");
    frames
}

/// STOMP CONNECT without heart-beats (so SockJS `h` frames are not replaced by STOMP EOLs).
pub const CONNECT: &str = "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0";

/// `<endpoint>/000/<sid>/<transport><query>`.
pub fn url(sid: &str, transport: &str) -> String {
    format!("/test-ws/000/{sid}/{transport}")
}

/// `POST …/xhr`: the whole body.
pub async fn xhr(addr: SocketAddr, sid: &str) -> String {
    let r = http::post(addr, &url(sid, "xhr"), "").await;
    assert_eq!(r.status(), 200, "{r:?}");
    r.text().to_string()
}

/// `POST …/xhr_send` with `messages`; asserts 204.
pub async fn xhr_send(addr: SocketAddr, sid: &str, messages: &[&str]) {
    let r = http::post(addr, &url(sid, "xhr_send"), &send_body(messages)).await;
    assert_eq!((r.status(), r.text()), (204, ""), "{r:?}");
}

/// Opens an xhr-polling session and connects STOMP; returns the CONNECTED frame.
pub async fn xhr_connect(addr: SocketAddr, sid: &str) -> Frame {
    assert_eq!(xhr(addr, sid).await, "o\n");
    xhr_send(addr, sid, &[CONNECT]).await;
    let mut frames = xhr_frames(addr, sid).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    let connected = frames.remove(0);
    assert_eq!(
        connected.command,
        stompbox_stomp::Command::Connected,
        "{connected:?}"
    );
    connected
}

/// Polls until at least one STOMP frame arrives (skipping `h`); returns the frames.
pub async fn xhr_frames(addr: SocketAddr, sid: &str) -> Vec<Frame> {
    loop {
        let body = xhr(addr, sid).await;
        if body == "h\n" {
            continue;
        }
        let frames = stomp_frames(&messages(&body));
        if !frames.is_empty() {
            return frames;
        }
    }
}

/// A test server with the spec's test settings: `response_limit` 4096 and a heartbeat long
/// enough not to interleave `h` frames (tests about heartbeats set their own).
pub async fn start_with(
    adjust: impl FnOnce(&mut stompbox_server::ServerConfig),
) -> crate::support::TestServer {
    crate::support::TestServer::start_with(|c| {
        c.sockjs.heartbeat = std::time::Duration::from_secs(60);
        c.sockjs.response_limit = 4096;
        // The spec's suite sends cross-site and `null` origins and expects CORS answers.
        c.allowed_origins = vec!["*".into()];
        adjust(c);
    })
    .await
}

/// [`start_with`] with nothing changed.
pub async fn start() -> crate::support::TestServer {
    start_with(|_| {}).await
}

/// The spec's `verify_not_cached`.
pub fn assert_not_cached(head: &http::Head) {
    assert_eq!(
        head.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0"),
        "{head:?}"
    );
    assert!(!head.has("expires"), "{head:?}");
    assert!(!head.has("last-modified"), "{head:?}");
}

/// The spec's `verify_cors`: the request's origin echoed (`*` for none or `null`), credentials.
pub fn assert_cors(head: &http::Head, origin: Option<&str>) {
    let expected = match origin {
        Some(o) if o != "null" => o,
        _ => "*",
    };
    assert_eq!(
        head.header("access-control-allow-origin"),
        Some(expected),
        "{head:?}"
    );
    assert_eq!(
        head.header("access-control-allow-credentials"),
        Some("true"),
        "{head:?}"
    );
}

/// `Cache-Control` with `public` and `max-age=` of at least 7 digits (`[1-9][0-9]{6}`), and
/// `Expires`.
pub fn assert_cacheable(head: &http::Head) {
    let cc = head.header("cache-control").unwrap_or_default();
    assert!(cc.contains("public"), "{head:?}");
    let max_age: String = cc
        .split("max-age=")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        max_age.len() >= 7 && !max_age.starts_with('0'),
        "max-age must be large (one year is best): {head:?}"
    );
    assert!(head.has("expires"), "{head:?}");
}

/// The spec's `verify_405`: status 405, an `Allow` header, no `Content-Type`, no body.
pub fn assert_405(r: &http::Response) {
    assert_eq!(r.status(), 405, "{r:?}");
    assert!(r.header("allow").is_some_and(|a| !a.is_empty()), "{r:?}");
    assert_eq!(
        r.header("content-type"),
        None,
        "405 must have no Content-Type: {r:?}"
    );
    assert_eq!(r.text(), "", "405 must have no body: {r:?}");
}

/// The spec's `verify_no_cookie`.
pub fn assert_no_cookie(head: &http::Head) {
    assert!(!head.has("set-cookie"), "{head:?}");
}

/// `POST …/xhr_streaming`: asserts 200, reads the 2 KiB prelude, returns the stream.
pub async fn xhr_streaming(addr: SocketAddr, sid: &str) -> http::Conn {
    let (mut c, head) = http::open_stream(addr, "POST", &url(sid, "xhr_streaming"), &[]).await;
    assert_eq!(head.status, 200, "{head:?}");
    c.expect(&format!("{}\n", "h".repeat(2048))).await;
    c
}

/// Reads one xhr frame line from a stream, skipping `h`; the STOMP frames in it.
pub async fn streamed_frames(c: &mut http::Conn) -> Vec<Frame> {
    loop {
        let line = c.line().await;
        if line == "h\n" {
            continue;
        }
        let frames = stomp_frames(&messages(&line));
        if !frames.is_empty() {
            return frames;
        }
    }
}

/// A raw WebSocket to `path` (SockJS `websocket` transport or raw `/websocket`).
pub async fn ws_open(addr: SocketAddr, path: &str) -> crate::support::Ws {
    let (ws, _) = tokio::time::timeout(
        http::WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}{path}")),
    )
    .await
    .expect("handshake in time")
    .expect("handshake succeeds");
    ws
}

/// The next text message, or `None` when the server closes (Close frame, EOF or reset).
pub async fn ws_recv(ws: &mut crate::support::Ws) -> Option<String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let m = tokio::time::timeout(http::WAIT, ws.next())
            .await
            .expect("the server answers in time");
        match m {
            Some(Ok(Message::Text(t))) => return Some(t.to_string()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Sends a text message.
pub async fn ws_send(ws: &mut crate::support::Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
}
