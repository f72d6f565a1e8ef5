//! STOMP over WebSocket: the upgrade (with `v1x.stomp` subprotocol negotiation) and a thin pump
//! between the socket and a broker [`Session`]. All protocol logic lives in the broker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use stompbox_broker::{CloseStatus, ClosedBy, Outbound, Session, Transport};
use stompbox_closecode::codes;
use tokio::sync::mpsc;

use crate::AppState;
use crate::pump::{self, now};

/// Subprotocols in order of preference: the best version the client offers wins. Clients that
/// offer none are accepted too (the response then names none).
pub(crate) const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How long a server-initiated close waits for the peer's Close reply.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// At most this many queued items go into one flush (one write syscall when they fit).
const MAX_BATCH: usize = 256;

pub(crate) async fn upgrade(
    State(app): State<Arc<AppState>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let limits = &app.config.limits;
    let max_message = (limits.max_frame_size * 2).max(64 * 1024);
    ws.protocols(SUBPROTOCOLS)
        .read_buffer_size(limits.ws_read_buffer)
        .write_buffer_size(64 * 1024)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| {
            let tracker = app.tracker.clone();
            tracker.track_future(serve(socket, app, remote))
        })
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

async fn serve(socket: WebSocket, app: Arc<AppState>, remote: SocketAddr) {
    let (mut session, mut rx) = pump::open_session(&app.broker, Transport::WebSocket, remote);
    let (mut sink, mut stream) = socket.split();
    let status = run(&mut session, &mut sink, &mut stream, &mut rx).await;
    session.close(status, now());
}

async fn run(
    session: &mut Session,
    sink: &mut Sink,
    stream: &mut Stream,
    rx: &mut mpsc::UnboundedReceiver<Outbound>,
) -> CloseStatus {
    loop {
        let deadline = session.poll_timeout();
        tokio::select! {
            biased;
            item = rx.recv() => {
                // The session holds a sender, so the channel cannot close while we run.
                let Some(item) = item else { return CloseStatus::abnormal() };
                match write_batch(sink, rx, item).await {
                    Ok(None) => session.handle_sent(now()),
                    Ok(Some(status)) => {
                        close_handshake(sink, stream, &status).await;
                        return status;
                    }
                    Err(_) => return CloseStatus::abnormal(),
                }
            }
            message = stream.next() => {
                let now = now();
                match message {
                    Some(Ok(Message::Text(text))) => session.handle_data(text.as_bytes(), now),
                    Some(Ok(Message::Binary(data))) => session.handle_data(&data, now),
                    // Pings prove the peer is alive; tungstenite answers them itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => session.handle_data(&[], now),
                    Some(Ok(Message::Close(frame))) => {
                        // Let tungstenite send the Close reply.
                        let _ = sink.close().await;
                        return match frame {
                            Some(f) => CloseStatus::new(f.code, f.reason.as_str(), ClosedBy::Client),
                            None => CloseStatus::new(codes::NO_STATUS, "", ClosedBy::Client),
                        };
                    }
                    Some(Err(error)) => {
                        let status = classify(error);
                        if status.closed_by == ClosedBy::Server {
                            close_handshake(sink, stream, &status).await;
                        }
                        return status;
                    }
                    None => return CloseStatus::abnormal(),
                }
            }
            () = pump::sleep_until(deadline) => session.handle_timeout(now()),
        }
    }
}

/// Writes `first` and whatever else is queued, then flushes once. Returns the close status if
/// a close was queued (items after it are dropped: the session is closing).
async fn write_batch(
    sink: &mut Sink,
    rx: &mut mpsc::UnboundedReceiver<Outbound>,
    first: Outbound,
) -> Result<Option<CloseStatus>, axum::Error> {
    let mut next = Some(first);
    let mut written = 0;
    while let Some(item) = next.take() {
        match item {
            Outbound::Close(status) => {
                sink.flush().await?;
                return Ok(Some(status));
            }
            other => {
                if let Some(message) = to_message(&other) {
                    sink.feed(message).await?;
                }
                written += 1;
            }
        }
        if written < MAX_BATCH {
            next = rx.try_recv().ok();
        }
    }
    sink.flush().await?;
    Ok(None)
}

/// A frame goes as a text message when it is UTF-8 (what browsers' STOMP clients expect) and
/// as a binary message otherwise.
fn to_message(item: &Outbound) -> Option<Message> {
    let bytes: Bytes = item.to_contiguous()?;
    Some(match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    })
}

/// Sends our Close frame and waits (bounded) for the peer's reply.
async fn close_handshake(sink: &mut Sink, stream: &mut Stream, status: &CloseStatus) {
    let frame = CloseFrame {
        code: status.code,
        reason: Utf8Bytes::from(status.wire_reason()),
    };
    if sink.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Close(_) = message {
                break;
            }
        }
    })
    .await;
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
