//! STOMP over WebSocket: the upgrade (with `v1x.stomp` subprotocol negotiation) and a thin pump
//! between the socket and a broker [`Session`]. The same pump serves SockJS's `websocket`
//! transport, which only frames the traffic differently (`o`, `a[…]`, `h`, `c[…]`). All protocol
//! logic lives in the broker and in `stompbox-sockjs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stompbox_broker::{CloseStatus, ClosedBy, Outbound, Transport};
use stompbox_closecode::codes;
use stompbox_sockjs as sockjs;
use tokio::sync::mpsc;

use crate::AppState;
use crate::endpoint::{Endpoint, Kind};
use crate::pump::{self, now};

/// Subprotocols in order of preference: the best version the client offers wins. Clients that
/// offer none are accepted too (the response then names none).
pub(crate) const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How long a server-initiated close waits for the peer's Close reply.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// At most this many queued items go into one flush (one write syscall when they fit).
const MAX_BATCH: usize = 256;

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

/// Completes a WebSocket upgrade and serves the connection.
pub(crate) fn accept(
    ws: WebSocketUpgrade,
    app: Arc<AppState>,
    remote: SocketAddr,
    framing: Framing,
    kind: Kind,
    session_id: Option<String>,
) -> Response {
    let limits = &app.config.limits;
    let max_message = (limits.max_frame_size * 2).max(64 * 1024);
    let ws = match (framing, &kind) {
        (Framing::Raw, Kind::Stomp(_)) => ws.protocols(SUBPROTOCOLS),
        _ => ws,
    };
    ws.read_buffer_size(limits.ws_read_buffer)
        .write_buffer_size(64 * 1024)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| {
            let tracker = app.tracker.clone();
            tracker.track_future(serve(socket, kind, remote, framing, session_id))
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

struct Conn<'a> {
    session: &'a mut dyn Endpoint,
    sink: Sink,
    stream: Stream,
    rx: mpsc::UnboundedReceiver<Outbound>,
    framing: Framing,
    last_write: Instant,
}

async fn serve(
    socket: WebSocket,
    kind: Kind,
    remote: SocketAddr,
    framing: Framing,
    session_id: Option<String>,
) {
    let transport = match framing {
        Framing::Raw => Transport::WebSocket,
        Framing::SockJs { .. } => Transport::SockJs,
    };
    // Kind::Close closes at once; Kind::Echo and Kind::Stomp wait for the peer.
    // SockJS's websocket transport keeps the session id of its URL (as the HTTP transports do).
    let (mut session, rx) = pump::open(&kind, session_id.as_deref(), transport, remote);
    let (sink, stream) = socket.split();
    let mut conn = Conn {
        session: session.as_mut(),
        sink,
        stream,
        rx,
        framing,
        last_write: now(),
    };
    let status = conn.run().await;
    session.close(status, now());
}

impl Conn<'_> {
    /// When the SockJS `h` is due: after `heartbeat` of silence, unless STOMP heart-beats do the
    /// job (as Spring does).
    fn sockjs_heartbeat_due(&self) -> Option<Instant> {
        match self.framing {
            Framing::SockJs { heartbeat } if !self.session.has_own_heartbeats() => {
                Some(self.last_write + heartbeat)
            }
            _ => None,
        }
    }

    async fn run(&mut self) -> CloseStatus {
        if let Framing::SockJs { .. } = self.framing {
            if self.sink.send(Message::text(sockjs::OPEN)).await.is_err() {
                return CloseStatus::abnormal();
            }
        }
        loop {
            let heartbeat = self.sockjs_heartbeat_due();
            let deadline = match (self.session.poll_timeout(), heartbeat) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                biased;
                item = self.rx.recv() => {
                    // The session holds a sender, so the channel cannot close while we run.
                    let Some(item) = item else { return CloseStatus::abnormal() };
                    match self.write_batch(item).await {
                        Ok(None) => {}
                        Ok(Some(status)) => {
                            self.close_handshake(&status).await;
                            return status;
                        }
                        Err(_) => return CloseStatus::abnormal(),
                    }
                }
                message = self.stream.next() => {
                    if let Some(status) = self.receive(message).await {
                        return status;
                    }
                }
                () = pump::sleep_until(deadline) => {
                    let now = now();
                    if heartbeat.is_some_and(|h| now >= h) {
                        if self.sink.send(Message::text(sockjs::HEARTBEAT)).await.is_err() {
                            return CloseStatus::abnormal();
                        }
                        self.last_write = now;
                        // Server traffic all the same (idle-time analytics).
                        self.session.handle_sent(now);
                    }
                    self.session.handle_timeout(now);
                }
            }
        }
    }

    /// Handles one read; `Some(status)` ends the connection.
    async fn receive(
        &mut self,
        message: Option<Result<Message, axum::Error>>,
    ) -> Option<CloseStatus> {
        let now = now();
        let data = match message {
            Some(Ok(Message::Text(text))) => Utf8OrBinary::Text(text),
            Some(Ok(Message::Binary(data))) => Utf8OrBinary::Binary(data),
            // Pings prove the peer is alive; tungstenite answers them itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                self.session.handle_activity(now);
                return None;
            }
            Some(Ok(Message::Close(frame))) => {
                // Let tungstenite send the Close reply.
                let _ = self.sink.close().await;
                return Some(match frame {
                    Some(f) => CloseStatus::new(f.code, f.reason.as_str(), ClosedBy::Client),
                    None => CloseStatus::new(codes::NO_STATUS, "", ClosedBy::Client),
                });
            }
            Some(Err(error)) => {
                let status = classify(error);
                if status.closed_by == ClosedBy::Server {
                    self.close_handshake(&status).await;
                }
                return Some(status);
            }
            None => return Some(CloseStatus::abnormal()),
        };
        match self.framing {
            Framing::Raw => self.session.handle_data(data.as_bytes(), now),
            Framing::SockJs { .. } => {
                let text = String::from_utf8_lossy(data.as_bytes());
                match sockjs::parse_websocket_message(&text) {
                    Ok(messages) => {
                        self.session.handle_activity(now);
                        for m in messages {
                            self.session.handle_data(m.as_bytes(), now);
                        }
                    }
                    Err(error) => {
                        // The SockJS protocol wants the connection dropped at once, without
                        // a close frame; the event still says who did it and why.
                        return Some(
                            CloseStatus::new(
                                codes::PROTOCOL_ERROR,
                                error.to_string(),
                                ClosedBy::Server,
                            )
                            .with_cause("broken JSON from the client: connection dropped"),
                        );
                    }
                }
            }
        }
        None
    }

    /// Writes `first` and whatever else is queued, then flushes once. Returns the close status
    /// if a close was queued (items after it are dropped: the session is closing).
    async fn write_batch(&mut self, first: Outbound) -> Result<Option<CloseStatus>, axum::Error> {
        let mut next = Some(first);
        let mut written = 0;
        let mut sockjs_batch: Vec<String> = Vec::new();
        let mut close = None;
        while let Some(item) = next.take() {
            match item {
                Outbound::Close(status) => {
                    close = Some(status);
                    break;
                }
                other => match self.framing {
                    Framing::Raw => {
                        if let Some(message) = to_message(&other) {
                            self.sink.feed(message).await?;
                        }
                    }
                    Framing::SockJs { .. } => sockjs_batch.push(to_text(&other)),
                },
            }
            written += 1;
            if written < MAX_BATCH {
                next = self.rx.try_recv().ok();
            }
        }
        if !sockjs_batch.is_empty() {
            self.sink
                .feed(Message::text(sockjs::message_frame(&sockjs_batch)))
                .await?;
        }
        self.sink.flush().await?;
        if written > 0 {
            let now = now();
            self.last_write = now;
            self.session.handle_sent(now);
        }
        Ok(close)
    }

    /// Sends our Close (after SockJS's `c[…]` frame) and waits (bounded) for the peer's reply.
    async fn close_handshake(&mut self, status: &CloseStatus) {
        if let Framing::SockJs { .. } = self.framing {
            let frame = sockjs::close_frame(status.code, status.wire_reason());
            let _ = self.sink.send(Message::text(frame)).await;
        }
        let frame = CloseFrame {
            code: status.code,
            reason: Utf8Bytes::from(status.wire_reason()),
        };
        if self.sink.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
            while let Some(Ok(message)) = self.stream.next().await {
                if let Message::Close(_) = message {
                    break;
                }
            }
        })
        .await;
    }
}

enum Utf8OrBinary {
    Text(Utf8Bytes),
    Binary(bytes::Bytes),
}

impl Utf8OrBinary {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Utf8OrBinary::Text(t) => t.as_bytes(),
            Utf8OrBinary::Binary(b) => b,
        }
    }
}

/// A frame goes as a text message when it is UTF-8 (what browsers' STOMP clients expect) and
/// as a binary message otherwise.
fn to_message(item: &Outbound) -> Option<Message> {
    let bytes = item.to_contiguous()?;
    Some(match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    })
}

/// A frame as SockJS message text (SockJS carries strings only; non-UTF-8 bytes are replaced).
pub(crate) fn to_text(item: &Outbound) -> String {
    item.to_contiguous()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// What a WebSocket-level read error means for the session.
fn classify(error: axum::Error) -> CloseStatus {
    use tungstenite::Error as E;
    use tungstenite::error::ProtocolError as P;
    let Ok(error) = error.into_inner().downcast::<E>() else {
        return CloseStatus::abnormal();
    };
    match *error {
        E::Utf8(_) => CloseStatus::new(
            codes::INVALID_PAYLOAD,
            "invalid UTF-8 in a text message",
            ClosedBy::Server,
        ),
        E::Capacity(e) => CloseStatus::new(codes::MESSAGE_TOO_BIG, e.to_string(), ClosedBy::Server),
        E::Protocol(P::ResetWithoutClosingHandshake) => CloseStatus::abnormal(),
        E::Protocol(e) => CloseStatus::new(codes::PROTOCOL_ERROR, e.to_string(), ClosedBy::Server),
        _ => CloseStatus::abnormal(),
    }
}
