//! STOMP over WebSocket: the upgrade (with `v1x.stomp` subprotocol negotiation) and the serving
//! of the connection behind it by [`crate::wsconn`]. The same connection code serves SockJS's
//! `websocket` transport, which only frames the traffic differently (`o`, `a[…]`, `h`,
//! `c[…]`). All protocol logic lives in the broker and in `stompbox-sockjs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto::upgrade::{self, downcast};
use stompbox_broker::{Outbound, Transport};
use tokio::net::TcpStream;

use crate::AppState;
use crate::endpoint::Kind;
use crate::pump;
use crate::tls;
use crate::wsconn::conn::Conn;
use crate::wsconn::handshake;

/// Subprotocols in order of preference: the best version the client offers wins. Clients that
/// offer none are accepted too (the response then names none).
pub(crate) const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How STOMP frames travel in WebSocket messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One application message (a STOMP frame) per WebSocket message: the endpoint itself and
    /// SockJS's raw `<endpoint>/websocket`.
    Raw,
    /// SockJS's `websocket` transport: `o` first, frames inside `a[…]`, `h` after `heartbeat` of
    /// silence (unless STOMP heart-beats were negotiated), `c[code,reason]` before closing.
    SockJs {
        /// The SockJS heartbeat interval.
        heartbeat: Duration,
    },
}

/// Answers a WebSocket upgrade request and serves the connection once upgraded.
pub(crate) fn accept(
    parts: &mut Parts,
    app: Arc<AppState>,
    remote: SocketAddr,
    framing: Framing,
    kind: Kind,
    session_id: Option<String>,
) -> Response {
    let protocols: &[&'static str] = match (framing, &kind) {
        (Framing::Raw, Kind::Stomp(_)) => &SUBPROTOCOLS,
        _ => &[],
    };
    let upgrade = match handshake::validate(parts, protocols) {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = app.gate.refuse_over_capacity(&app.broker, remote) {
        return refused;
    }
    let response = upgrade.response();
    let on_upgrade = upgrade.on_upgrade;
    let opening = pump::Opening::new(session_id, &parts.headers);
    let tracker = app.tracker.clone();
    tracker.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        // axum serves on `TcpStream`s: take the stream back (and the bytes hyper read past the
        // request), so that nothing of hyper stays behind per connection. The connection gets
        // a task of its own, holding only what it needs.
        let tracker = app.tracker.clone();
        let upgraded = match downcast::<TokioIo<TcpStream>>(upgraded) {
            Ok(parts) => {
                let _ = parts.io.inner().set_nodelay(true);
                tracker.spawn(taken_back(parts, &app, remote, framing, &kind, opening));
                return;
            }
            Err(upgraded) => upgraded,
        };
        // HTTPS (`[tls]`): the TLS stream, taken back the same way.
        let upgraded = match downcast::<TokioIo<tls::Stream>>(upgraded) {
            Ok(parts) => {
                tracker.spawn(taken_back(parts, &app, remote, framing, &kind, opening));
                return;
            }
            Err(upgraded) => upgraded,
        };
        let io = TokioIo::new(upgraded);
        let conn = connection(io, &app, remote, framing, &kind, opening);
        tracker.spawn(conn.serve(Vec::new()));
    });
    response
}

/// The connection on the stream hyper served the upgrade on, with the bytes it read past the
/// request.
fn taken_back<Io>(
    parts: upgrade::Parts<TokioIo<Io>>,
    app: &AppState,
    remote: SocketAddr,
    framing: Framing,
    kind: &Kind,
    opening: pump::Opening,
) -> impl Future<Output = ()> + Send + use<Io>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = parts.io.into_inner();
    // A copy: even empty, `read_buf` may be a slice that keeps hyper's whole read buffer alive.
    let early = parts.read_buf.to_vec();
    drop(parts.read_buf);
    connection(io, app, remote, framing, kind, opening).serve(early)
}

/// The connection for an upgraded socket, with its endpoint open.
fn connection<Io>(
    io: Io,
    app: &AppState,
    remote: SocketAddr,
    framing: Framing,
    kind: &Kind,
    opening: pump::Opening,
) -> Conn<Io>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let transport = match framing {
        Framing::Raw => Transport::WebSocket,
        Framing::SockJs { .. } => Transport::SockJs,
    };
    let limits = &app.config.limits;
    // Kind::Close closes at once; Kind::Echo and Kind::Stomp wait for the peer.
    // SockJS's websocket transport keeps the session id of its URL (as the HTTP transports do).
    let (endpoint, outbox) = pump::open_from(kind, opening, transport, remote, &app.send_limits);
    let max_message = (limits.max_frame_size * 2).max(64 * 1024);
    Conn::new(io, max_message, outbox, endpoint, framing)
}

/// A frame as SockJS message text (SockJS carries strings only; non-UTF-8 bytes are replaced).
pub(crate) fn to_text(item: &Outbound) -> String {
    item.to_contiguous()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
