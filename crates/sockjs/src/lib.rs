//! SockJS 0.3.3 server logic with no I/O: routes, frames, transports and sessions.
//!
//! Everything an HTTP/WebSocket adapter needs to speak SockJS, as pure functions and one
//! deterministic state machine ([`Session`]). This crate does no I/O, uses no HTTP library
//! types, reads no clock (time comes in as [`std::time::Instant`]) and spawns nothing; the
//! adapter routes a request with [`route`], answers static resources with [`GREETING`],
//! [`info_json`] and [`iframe_html`], parses client payloads with [`parse_send_body`],
//! [`parse_jsonp_send`] and [`parse_websocket_message`], and pumps [`Session`] for receiving
//! requests, wrapping each frame with [`Transport::wrap`]. Counting bytes against
//! [`SessionConfig::response_limit`] is also the adapter's job.
//!
//! The authority for every byte is the protocol test suite `sockjs-protocol-0.3.3.py`
//! (repository sockjs/sockjs-protocol); where it is silent (JSONP callback validation) the later
//! revision `sockjs-protocol.py` is followed.
//!
//! ```
//! use std::time::Instant;
//! use stompbox_sockjs::{route, Attach, Route, Session, SessionConfig, Transport};
//!
//! let Route::Session { transport, .. } = route("/000/abc/xhr_streaming") else { panic!() };
//! assert_eq!(transport, Transport::XhrStreaming);
//!
//! let now = Instant::now();
//! let mut session = Session::new(SessionConfig::default(), now);
//! let Attach::Accepted(rx) = session.attach(now) else { panic!() };
//! session.push_message("hello".to_owned());
//! let mut out = transport.prelude("").unwrap_or_default();
//! while let Some(frame) = session.poll_frame(rx, now) {
//!     out.push_str(&transport.wrap(&frame, ""));
//! }
//! assert!(out.ends_with("\no\na[\"hello\"]\n"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod frame;
mod info;
mod origin;
mod payload;
mod route;
mod session;
mod transport;

pub use frame::{HEARTBEAT, OPEN, close_frame, escape_json_string, message_frame};
pub use info::{
    CACHE_NO, CACHE_YEAR, CONTENT_TYPE_HTML, CONTENT_TYPE_JSON, CONTENT_TYPE_PLAIN, GREETING,
    INFO_ALLOW, ONE_YEAR_SECS, etag, iframe_html, info_json,
};
pub use origin::{OriginAllowed, OriginPolicy, OriginRefused, PatternError, request_target};
pub use payload::{PayloadError, parse_jsonp_send, parse_send_body, parse_websocket_message};
pub use route::{Route, route};
pub use session::{
    Attach, CODE_ANOTHER_CONNECTION, CODE_GO_AWAY, CODE_INTERRUPTED, Detach, Expiry,
    REASON_ANOTHER_CONNECTION, REASON_GO_AWAY, REASON_INTERRUPTED, ReceiverId, Session,
    SessionConfig,
};
pub use transport::{
    CALLBACK_REQUIRED, INVALID_CALLBACK, JSONP_SEND_OK, Transport, WEBSOCKET_CONNECTION_UPGRADE,
    WEBSOCKET_UPGRADE_ONLY, is_valid_callback,
};
