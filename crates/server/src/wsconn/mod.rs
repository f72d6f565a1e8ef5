//! A lean server-side WebSocket (RFC 6455) for STOMP: the handshake answered over axum, then the
//! connection served on the bare `TcpStream` hyper hands back, with a sans-IO receiver
//! ([`parse`]), direct batch framing ([`write`]) and a small pump ([`conn`]).
//!
//! Why not axum's `WebSocket` (tokio-tungstenite): an idle connection there holds a boxed
//! upgraded stream with hyper's rewind buffer, a permanent read buffer, a write buffer that keeps
//! its capacity and a split lock — about 10 KB per session, against a budget of 4 KiB. Here an
//! idle connection holds the socket, the task and nothing else.

pub(crate) mod conn;
mod end;
pub(crate) mod handshake;
pub(crate) mod parse;
pub(crate) mod write;
