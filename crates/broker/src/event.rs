//! Session lifecycle events (connect, connected, subscribe, unsubscribe, disconnect) and the
//! close status they carry.
//!
//! The broker emits every event synchronously to its listeners; [`EventStream`] turns them into an
//! async stream for Rust code, and [`log_event`] is the default listener that logs them like
//! Spring's `SessionDisconnectEvent` listener in the seed write-up.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use stompbox_stomp::Version;
use tokio::sync::mpsc;

/// Which transport carries a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// STOMP over a plain WebSocket.
    WebSocket,
    /// STOMP over SockJS (any SockJS transport).
    SockJs,
    /// STOMP over a raw TCP connection.
    Tcp,
    /// An in-process session (tests, embedding).
    InMemory,
}

impl Transport {
    /// The lower-case name used in logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::SockJs => "sockjs",
            Transport::Tcp => "tcp",
            Transport::InMemory => "in-memory",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedBy {
    /// The client sent a Close frame (or a STOMP DISCONNECT).
    Client,
    /// The server closed it (error, heart-beat timeout, shutdown, limit).
    Server,
    /// Nobody closed it: the connection vanished without a Close frame (1006).
    Nobody,
}

impl ClosedBy {
    /// The word used in the `closedBy=` field of the log line.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::Nobody => "none(abnormal)",
        }
    }
}

impl ClosedBy {
    /// The short machine label used in metrics and JSON: `client`, `server`, `none`.
    pub const fn label(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::Nobody => "none",
        }
    }
}

impl fmt::Display for ClosedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WebSocket-style close status: code and reason, and who closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    /// The close code (see the `stompbox-closecode` registry).
    pub code: u16,
    /// The reason text (at most 123 bytes when it travels in a Close frame).
    pub reason: String,
    /// Who closed.
    pub closed_by: ClosedBy,
    /// What really ended the session when the code alone hides it, e.g. `receiver-lost after
    /// 5.0 s` for a SockJS session closed with 3000 because its HTTP receiver vanished.
    pub cause: Option<String>,
}

impl CloseStatus {
    /// A status.
    pub fn new(code: u16, reason: impl Into<String>, closed_by: ClosedBy) -> CloseStatus {
        CloseStatus {
            code,
            reason: reason.into(),
            closed_by,
            cause: None,
        }
    }

    /// The status with a cause (builder style).
    pub fn with_cause(mut self, cause: impl Into<String>) -> CloseStatus {
        self.cause = Some(cause.into());
        self
    }

    /// 1006: the connection vanished without a Close frame.
    pub fn abnormal() -> CloseStatus {
        CloseStatus::new(stompbox_closecode::codes::ABNORMAL, "", ClosedBy::Nobody)
    }

    /// The reason cut to fit a Close frame (123 bytes, on a character boundary).
    pub fn wire_reason(&self) -> &str {
        let mut end = self.reason.len().min(123);
        while !self.reason.is_char_boundary(end) {
            end -= 1;
        }
        &self.reason[..end]
    }
}

/// What happened to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A CONNECT (or STOMP) frame arrived.
    Connect,
    /// The server answered CONNECTED.
    Connected {
        /// The negotiated STOMP version.
        version: Version,
        /// Server heart-beat interval (0 = none).
        send_heartbeat: Duration,
        /// Expected client heart-beat interval (0 = none).
        receive_heartbeat: Duration,
    },
    /// A subscription was added.
    Subscribe {
        /// The subscription id.
        id: String,
        /// The destination.
        destination: String,
    },
    /// A subscription was removed by UNSUBSCRIBE.
    Unsubscribe {
        /// The subscription id.
        id: String,
        /// The destination.
        destination: String,
    },
    /// The session ended.
    Disconnect {
        /// How long the session lived.
        duration: Duration,
        /// How long the server had sent the peer nothing when it ended (what an idle timeout
        /// like nginx's `proxy_read_timeout` measures).
        server_idle: Duration,
        /// How long the peer had sent nothing when it ended.
        client_idle: Duration,
        /// Code, reason, and who closed.
        status: CloseStatus,
    },
}

/// One session event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The session id.
    pub session_id: Arc<str>,
    /// The authenticated user, if any.
    pub user: Option<Arc<str>>,
    /// The transport.
    pub transport: Transport,
    /// The peer's address, if known.
    pub remote: Option<SocketAddr>,
    /// When it happened.
    pub time: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for SessionEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            EventKind::Connect => "session connect",
            EventKind::Connected { .. } => "session connected",
            EventKind::Subscribe { .. } => "session subscribe",
            EventKind::Unsubscribe { .. } => "session unsubscribe",
            EventKind::Disconnect { .. } => "session closed",
        };
        write!(
            f,
            "{what}: sessionId={} user={} transport={}",
            self.session_id,
            self.user.as_deref().unwrap_or("-"),
            self.transport
        )?;
        if let Some(remote) = self.remote {
            write!(f, " remote={remote}")?;
        }
        match &self.kind {
            EventKind::Connect => Ok(()),
            EventKind::Connected {
                version,
                send_heartbeat,
                receive_heartbeat,
            } => write!(
                f,
                " version={version} heartBeat={},{}",
                send_heartbeat.as_millis(),
                receive_heartbeat.as_millis()
            ),
            EventKind::Subscribe { id, destination }
            | EventKind::Unsubscribe { id, destination } => {
                write!(f, " id={id} destination={destination}")
            }
            EventKind::Disconnect {
                duration,
                status,
                server_idle,
                client_idle,
            } => {
                write!(
                    f,
                    " duration={:.2}s code={} reason={:?} closedBy={} serverIdle={:.2}s clientIdle={:.2}s",
                    duration.as_secs_f64(),
                    status.code,
                    status.reason,
                    status.closed_by,
                    server_idle.as_secs_f64(),
                    client_idle.as_secs_f64()
                )?;
                match &status.cause {
                    Some(cause) => write!(f, " cause={cause:?}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// The default listener: logs disconnects at INFO and the other events at DEBUG, on the
/// `stompbox::session` target.
pub fn log_event(event: &SessionEvent) {
    match event.kind {
        EventKind::Disconnect { .. } => tracing::info!(target: "stompbox::session", "{event}"),
        _ => tracing::debug!(target: "stompbox::session", "{event}"),
    }
}

/// An event listener: called synchronously, must not block.
pub type Listener = Arc<dyn Fn(&SessionEvent) + Send + Sync>;

/// Session events as an async stream (see [`crate::Broker::events`]).
///
/// Unbounded: a stream that is never polled keeps every event; drop it to stop receiving.
#[derive(Debug)]
pub struct EventStream {
    pub(crate) rx: mpsc::UnboundedReceiver<SessionEvent>,
}

impl EventStream {
    /// The next event, or `None` when the broker is gone.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        self.rx.recv().await
    }

    /// An event if one is ready.
    pub fn try_recv(&mut self) -> Option<SessionEvent> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for EventStream {
    type Item = SessionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_line_reads_like_the_seed_listener() {
        let event = SessionEvent {
            session_id: Arc::from("3f2a"),
            user: None,
            transport: Transport::WebSocket,
            remote: None,
            time: SystemTime::UNIX_EPOCH,
            kind: EventKind::Disconnect {
                duration: Duration::from_millis(10_020),
                server_idle: Duration::from_millis(10_010),
                client_idle: Duration::from_millis(10_020),
                status: CloseStatus::abnormal(),
            },
        };
        assert_eq!(
            event.to_string(),
            "session closed: sessionId=3f2a user=- transport=websocket duration=10.02s code=1006 reason=\"\" closedBy=none(abnormal) serverIdle=10.01s clientIdle=10.02s"
        );
    }

    #[test]
    fn wire_reason_is_cut_on_a_char_boundary() {
        let status = CloseStatus::new(1000, "é".repeat(100), ClosedBy::Server);
        assert!(status.wire_reason().len() <= 123);
        assert!(status.wire_reason().chars().all(|c| c == 'é'));
    }
}
