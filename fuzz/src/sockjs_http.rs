//! `sockjs_http`: sequences of HTTP requests to a SockJS endpoint, handled by the sans-IO half
//! the server uses (`stompbox-sockjs`: origin policy, [`route`], callback validation, payload
//! parsing, the [`Session`] state machine, transport preludes and wrapping) in a small model of
//! the server's adapter (`crates/server/src/sockjs/`), with an echo application and a fake clock.
//!
//! The input is requests separated by the byte 0x1e, each written like HTTP/1.1:
//! `METHOD /stomp/<rest>[?query]`, header lines, an empty line, the body. Besides HTTP methods,
//! harness verbs act for the server and the network: `TICK <ms>` (time passes),
//! `ABORT <session>` (the receiving request's client goes away), `CLOSE <session> <code>
//! <reason>` (the server closes the session), `PUSH <session> <message>` (the application
//! sends), `HB <session> 0|1` (SockJS heartbeats off or on). Headers read: `origin`, `host`,
//! `x-forwarded-host`, `forwarded`, `content-type`, and `x-origins` (the configured allowed
//! origins, comma-separated; none: same origin only).
//!
//! Checked: no panic; an origin on the allow-list is allowed; routes name exactly their path;
//! every frame a receiver gets is `o` (first, once per session), `h`, `a[…]` carrying the
//! echoed messages in order, or `c[…]` with the session's close reason after everything queued;
//! attach answers match the model; timers never ask to be called back in the past; every
//! session expires once left alone.
//!
//! Not reached (the server's I/O half): axum's request parsing, the percent-decoding of the
//! `c` callback parameter, CORS and cookie headers, the session registry and its timers, and
//! the STOMP broker behind the session (here an echo).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use stompbox_sockjs::{
    Attach, Detach, Expiry, OriginAllowed, OriginPolicy, OriginRefused, ReceiverId, Route, Session,
    SessionConfig, Transport, is_valid_callback, parse_jsonp_send, parse_send_body,
    parse_websocket_message, request_target, route,
};

/// The endpoint the model serves SockJS at.
const PREFIX: &str = "/stomp";

/// Small enough that streaming responses end within a fuzz input.
const CONFIG: SessionConfig = SessionConfig {
    heartbeat: Duration::from_secs(25),
    disconnect_delay: Duration::from_secs(5),
    response_limit: 4096,
};

/// Requests per input considered: enough for any session's life.
const MAX_REQUESTS: usize = 64;

/// Checks one fuzz input; panics on a finding.
pub fn sockjs_http(data: &[u8]) {
    let mut server = Server::new();
    for request in data.split(|&b| b == 0x1e).take(MAX_REQUESTS) {
        server.handle(&Request::parse(request));
    }
    server.finish();
}

/// One request as the adapter sees it.
struct Request<'a> {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: &'a [u8],
}

impl<'a> Request<'a> {
    fn parse(data: &'a [u8]) -> Request<'a> {
        let (line, mut rest) = split_line(data);
        let line = String::from_utf8_lossy(line);
        let (method, target) = line.split_once(' ').unwrap_or((line.as_ref(), ""));
        let mut headers = Vec::new();
        while !rest.is_empty() {
            let (header, after) = split_line(rest);
            rest = after;
            if header.is_empty() {
                break;
            }
            let header = String::from_utf8_lossy(header);
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: rest,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The bytes before the first `\n` (without a trailing `\r`), and those after it.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

/// The receiving request attached to a session.
struct Receiving {
    id: ReceiverId,
    transport: Transport,
    callback: String,
    sent: usize,
}

/// A session and what the model expects of it.
struct Entry {
    session: Session,
    receiving: Option<Receiving>,
    /// Echoed messages not yet delivered, in order.
    expected: VecDeque<String>,
    /// Whether the open frame was delivered.
    opened: bool,
    /// Whether the session was closed (by the server, an aborted receiver, or expiry).
    closed: bool,
}

struct Server {
    now: Instant,
    sessions: HashMap<String, Entry>,
}

impl Server {
    fn new() -> Server {
        Server {
            now: Instant::now(),
            sessions: HashMap::new(),
        }
    }

    fn handle(&mut self, request: &Request<'_>) {
        let (word, rest) = request
            .target
            .split_once(' ')
            .unwrap_or((request.target.as_str(), ""));
        match request.method.as_str() {
            "TICK" => self.tick(Duration::from_millis(word.parse().unwrap_or(0))),
            "ABORT" => {
                if let Some(entry) = self.sessions.get_mut(word) {
                    entry.abort(self.now);
                }
            }
            "CLOSE" => {
                if let Some(entry) = self.sessions.get_mut(word) {
                    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                    entry.session.close(code.parse().unwrap_or(3000), reason);
                    entry.closed = true;
                    entry.pump(self.now);
                }
            }
            "PUSH" => {
                if let Some(entry) = self.sessions.get_mut(word) {
                    entry.push(rest.to_owned());
                    entry.pump(self.now);
                }
            }
            "HB" => {
                if let Some(entry) = self.sessions.get_mut(word) {
                    entry.session.set_heartbeat_enabled(rest != "0");
                    entry.pump(self.now);
                }
            }
            _ => self.http(request),
        }
        for entry in self.sessions.values() {
            assert_eq!(entry.closed, entry.session.is_closed());
            assert_eq!(entry.receiving.is_some(), entry.session.has_receiver());
            assert_eq!(entry.expected.len(), entry.session.pending_len());
        }
    }

    fn http(&mut self, request: &Request<'_>) {
        let (path, query) = match request.target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (request.target.as_str(), None),
        };
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return; // 404: not the endpoint
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            return; // 404: another path that starts like the endpoint
        }
        if !origin_allowed(request) {
            return; // 403
        }
        let routed = route(rest);
        check_route(rest, routed);
        if let Some(query) = query {
            assert_eq!(route(&format!("{rest}?{query}")), routed);
        }
        let Route::Session {
            session, transport, ..
        } = routed
        else {
            return; // greeting, info, iframe, raw WebSocket, 404
        };
        let method = request.method.as_str();
        if transport == Transport::WebSocket {
            if method == "GET" {
                websocket(request.body);
            }
            return;
        }
        if method == "OPTIONS" && transport.method() == "POST" {
            return; // CORS preflight
        }
        if method != transport.method() {
            assert!(transport.allow().contains(transport.method()));
            return; // 405
        }
        if transport.is_receiving() {
            let callback = query
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("c=")))
                .unwrap_or("");
            self.receive(session, transport, callback);
        } else if let Some(entry) = self.sessions.get_mut(session) {
            let parsed = match transport {
                Transport::JsonpSend => {
                    parse_jsonp_send(request.header("content-type"), request.body)
                }
                _ => parse_send_body(request.body),
            };
            // An error is answered 500 with its body; the session is untouched.
            for message in parsed.unwrap_or_default() {
                entry.push(message);
            }
            entry.pump(self.now);
        }
    }

    fn receive(&mut self, id: &str, transport: Transport, callback: &str) {
        if transport.needs_callback() && !is_valid_callback(callback) {
            return; // 500: "callback" parameter required, or invalid
        }
        let callback = if transport.needs_callback() {
            callback
        } else {
            ""
        };
        let now = self.now;
        let entry = self.sessions.entry(id.to_owned()).or_insert_with(|| Entry {
            session: Session::new(CONFIG, now),
            receiving: None,
            expected: VecDeque::new(),
            opened: false,
            closed: false,
        });
        let attached = entry.session.attach(now);
        let drained = entry.opened && entry.expected.is_empty();
        let busy = entry.receiving.is_some();
        match &attached {
            Attach::Accepted(id) => {
                assert!(!busy && (!entry.closed || !drained), "{attached:?}");
                if let Some(prelude) = transport.prelude(callback) {
                    assert!(transport.is_streaming());
                    assert!(prelude.contains(callback));
                }
                entry.receiving = Some(Receiving {
                    id: *id,
                    transport,
                    callback: callback.to_owned(),
                    sent: 0,
                });
                entry.pump(now);
            }
            Attach::AnotherConnectionOpen => assert!(busy && !entry.closed),
            Attach::Closed { code, reason } => {
                assert!(entry.closed && (busy || drained));
                assert_eq!(entry.session.close_reason(), Some((*code, reason.as_str())));
            }
        }
        if let Some(frame) = attached.frame() {
            assert!(frame.starts_with("c["), "{frame:?}");
            let wrapped = transport.wrap(&frame, callback);
            if transport == Transport::Jsonp {
                assert!(wrapped.starts_with(&format!("{callback}(")));
            }
        }
    }

    /// Time passes: timers fire, due heartbeats go out, sessions left alone expire.
    fn tick(&mut self, by: Duration) {
        self.now += by.min(Duration::from_secs(3600));
        let now = self.now;
        self.sessions.retain(|_, entry| {
            let was_closed = entry.closed;
            match entry.session.handle_timeout(now) {
                Some(Expiry::Expired { after }) => {
                    assert!(!was_closed && entry.receiving.is_none());
                    assert!(after >= CONFIG.disconnect_delay);
                    false
                }
                Some(Expiry::Finished) => {
                    assert!(was_closed && entry.receiving.is_none());
                    false
                }
                None => {
                    entry.pump(now);
                    let next = entry.session.poll_timeout();
                    assert!(next.is_none_or(|at| at > now), "timer in the past");
                    true
                }
            }
        });
    }

    /// Every client goes away, then time passes: no session may be left.
    fn finish(&mut self) {
        for entry in self.sessions.values_mut() {
            entry.abort(self.now);
        }
        self.tick(CONFIG.disconnect_delay);
        assert!(
            self.sessions.is_empty(),
            "sessions outlived disconnect_delay"
        );
    }
}

impl Entry {
    /// The attached receiving request's client goes away: the session is closed (1002) and
    /// what was queued is dropped.
    fn abort(&mut self, now: Instant) {
        if let Some(r) = self.receiving.take() {
            self.session.detach(r.id, Detach::Interrupted, now);
            self.expected.clear();
            self.closed = true;
        }
    }

    /// The application (an echo) sends `message`.
    fn push(&mut self, message: String) {
        if !self.closed {
            self.expected.push_back(message.clone());
        }
        self.session.push_message(message);
    }

    /// Writes every frame the session has for the attached receiver, as the adapter does.
    fn pump(&mut self, now: Instant) {
        while let Some(r) = &mut self.receiving {
            let Some(frame) = self.session.poll_frame(r.id, now) else {
                break;
            };
            let wrapped = r.transport.wrap(&frame, &r.callback);
            r.sent += wrapped.len();
            let closing = frame.starts_with('c');
            assert_eq!(closing, self.session.is_finished(r.id));
            let done = !r.transport.is_streaming() || closing || r.sent >= CONFIG.response_limit;
            let id = r.id;
            self.check_frame(&frame);
            if done {
                self.session.detach(id, Detach::Done, now);
                self.receiving = None;
            }
        }
    }

    fn check_frame(&mut self, frame: &str) {
        if !self.opened {
            assert_eq!(frame, "o", "the first frame");
            self.opened = true;
            return;
        }
        match frame.split_at(1) {
            ("h", "") => {}
            ("a", json) => {
                let messages = parse_send_body(json.as_bytes()).expect("an a frame's JSON");
                assert!(!messages.is_empty(), "an empty a frame");
                for message in messages {
                    assert_eq!(Some(message), self.expected.pop_front(), "out of order");
                }
            }
            ("c", json) => {
                assert!(
                    self.expected.is_empty(),
                    "closed before delivering everything"
                );
                let (code, reason): (u16, String) =
                    serde_json::from_str(json).expect("a c frame's JSON");
                assert_eq!(self.session.close_reason(), Some((code, reason.as_str())));
            }
            _ => panic!("unexpected frame {frame:?}"),
        }
    }
}

/// A WebSocket session's client messages, one per body line: each is parsed as the server
/// does; a broken one ends the connection.
fn websocket(body: &[u8]) {
    for line in body.split(|&b| b == b'\n') {
        let Ok(text) = std::str::from_utf8(line) else {
            return; // not a text message: the WebSocket layer refuses it (1007)
        };
        match parse_websocket_message(text) {
            Ok(messages) => {
                let frame = stompbox_sockjs::message_frame(&messages);
                assert_eq!(parse_send_body(&frame.as_bytes()[1..]), Ok(messages));
            }
            Err(_) => return,
        }
    }
}

/// The origin check the server makes on every request (`OriginPolicy`, with the allow-list from
/// `x-origins`, comma-separated; none: same origin only), with what must hold of its answers.
fn origin_allowed(request: &Request<'_>) -> bool {
    let patterns: Vec<&str> = request
        .header("x-origins")
        .map_or(Vec::new(), |p| p.split(',').collect());
    let Ok(policy) = OriginPolicy::new(&patterns) else {
        return false; // the server refuses to start with this configuration
    };
    let origin = request.header("origin");
    let target = request_target(
        request.header("host"),
        request.header("x-forwarded-host"),
        request.header("forwarded"),
    );
    let checked = policy.check(origin, target);
    match (&checked, origin) {
        (_, None) => assert_eq!(checked, Ok(OriginAllowed::NoOrigin)),
        (Ok(OriginAllowed::SameOrigin), _) => assert!(target.is_some()),
        (Err(OriginRefused::Opaque), Some(o)) => assert_eq!(o.trim(), "null"),
        _ => {}
    }
    if policy.allows_any() {
        assert!(checked.is_ok(), "{checked:?}");
    }
    if let Some(origin) = origin {
        // An origin written on the allow-list is allowed, wherever the request went.
        if let Ok(listed) = OriginPolicy::new(&[origin]) {
            let again = listed.check(Some(origin), target);
            assert!(
                !matches!(again, Err(OriginRefused::CrossOrigin { .. })),
                "{origin:?} is listed but refused: {again:?}"
            );
        }
    }
    checked.is_ok()
}

/// A route names exactly the path it was read from.
fn check_route(rest: &str, routed: Route<'_>) {
    match routed {
        Route::Greeting => assert!(rest.is_empty() || rest == "/"),
        Route::Info => assert_eq!(rest, "/info"),
        Route::RawWebSocket => assert_eq!(rest, "/websocket"),
        Route::Iframe => assert!(rest.starts_with("/iframe") && rest.ends_with(".html")),
        Route::Session {
            server,
            session,
            transport,
        } => {
            for id in [server, session] {
                assert!(!id.is_empty() && !id.contains(['.', '/']), "{id:?}");
            }
            assert_eq!(
                rest,
                format!("/{server}/{session}/{}", transport.path_segment())
            );
        }
        Route::NotFound => {}
    }
}
