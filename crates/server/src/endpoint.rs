//! What runs behind a connection: the STOMP broker session, or (for SockJS conformance test
//! suites) an echo or an immediate close. Transports drive an [`Endpoint`] and never know which.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use stompbox_broker::{
    Broker, CloseStatus, ClosedBy, Outbound, Outbox, Session, SessionOptions, Transport,
};
use stompbox_closecode::codes;

/// The application side of a connection, as a transport drives it.
pub(crate) trait Endpoint: Send + 'static {
    /// Bytes (one message) from the peer.
    fn handle_data(&mut self, data: &[u8], now: Instant);
    /// The peer showed it is alive without sending data (a ping, an empty SockJS send).
    fn handle_activity(&mut self, now: Instant);
    /// The transport wrote to the peer.
    fn handle_sent(&mut self, now: Instant);
    /// When [`Endpoint::handle_timeout`] is due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// A deadline passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The connection ended with `status`.
    fn close(&mut self, status: CloseStatus, now: Instant);
    /// Whether the endpoint sends its own heart-beats (SockJS then skips `h`, as Spring does).
    fn has_own_heartbeats(&self) -> bool;
    /// Outboxes the last input left congested: the transport stops reading until they have
    /// drained, then calls [`Endpoint::resume`]. Empty when there is nothing to wait for.
    fn take_backpressure(&mut self) -> Vec<Arc<dyn Outbox>> {
        Vec::new()
    }
    /// The congested outboxes have drained: go on with buffered input.
    fn resume(&mut self, now: Instant) {
        let _ = now;
    }
}

impl Endpoint for Session {
    fn handle_data(&mut self, data: &[u8], now: Instant) {
        Session::handle_data(self, data, now);
    }
    fn handle_activity(&mut self, now: Instant) {
        Session::handle_data(self, &[], now);
    }
    fn handle_sent(&mut self, now: Instant) {
        Session::handle_sent(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Session::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Session::handle_timeout(self, now);
    }
    fn close(&mut self, status: CloseStatus, now: Instant) {
        Session::close(self, status, now);
    }
    fn has_own_heartbeats(&self) -> bool {
        self.heartbeat_intervals().0.is_some()
    }
    fn take_backpressure(&mut self) -> Vec<Arc<dyn Outbox>> {
        Session::take_backpressure(self)
    }
    fn resume(&mut self, now: Instant) {
        Session::resume(self, now);
    }
}

/// Sends every message back (the SockJS test suites' `/echo`).
struct Echo {
    outbox: Arc<dyn Outbox>,
}

impl Endpoint for Echo {
    fn handle_data(&mut self, data: &[u8], _now: Instant) {
        self.outbox
            .push(Outbound::Frame(Bytes::copy_from_slice(data)));
    }
    fn handle_activity(&mut self, _now: Instant) {}
    fn handle_sent(&mut self, _now: Instant) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn close(&mut self, _status: CloseStatus, _now: Instant) {}
    fn has_own_heartbeats(&self) -> bool {
        false
    }
}

/// What a mount serves.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// STOMP sessions of this broker.
    Stomp(Broker),
    /// Echo every message (conformance testing).
    Echo,
    /// Close every new session at once with 3000 "Go away!" (conformance testing).
    Close,
}

impl Kind {
    /// Opens an endpoint whose output goes to `outbox`. `id` is the SockJS session id, if any;
    /// `authorization` the opening HTTP request's `Authorization` header.
    pub(crate) fn open(
        &self,
        id: Option<&str>,
        authorization: Option<String>,
        transport: Transport,
        remote: SocketAddr,
        outbox: Arc<dyn Outbox>,
        now: Instant,
    ) -> Box<dyn Endpoint> {
        match self {
            Kind::Stomp(broker) => Box::new(broker.open_session(
                SessionOptions {
                    id: id.map(str::to_string),
                    transport,
                    remote: Some(remote),
                    handshake_authorization: authorization,
                },
                outbox,
                now,
            )),
            Kind::Echo => Box::new(Echo { outbox }),
            Kind::Close => {
                outbox.push(Outbound::Close(CloseStatus::new(
                    codes::SOCKJS_GO_AWAY,
                    "Go away!",
                    ClosedBy::Server,
                )));
                Box::new(Echo { outbox })
            }
        }
    }
}
