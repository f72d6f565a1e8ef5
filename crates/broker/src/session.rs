//! One STOMP session as a deterministic state machine: bytes and time in, [`Outbound`] items out.
//!
//! Call order for a transport: [`Session::handle_data`] for every received chunk,
//! [`Session::handle_sent`] after writing to the peer, [`Session::poll_timeout`] /
//! [`Session::handle_timeout`] for heart-beats and deadlines, and [`Session::close`] exactly once
//! when the connection is gone, with the status it ended with.
//!
//! Back-pressure: after feeding input, a transport whose outboxes count bytes calls
//! [`Session::take_backpressure`]. When it returns outboxes, the session has stopped decoding
//! (later input is only buffered); the transport stops reading from its peer, waits until each
//! outbox has drained ([`Outbox::poll_drained`]), then calls [`Session::resume`]. Implements STOMP 1.2 §"Client
//! Frames", "Server Frames", "Heart-beating" and the 1.0/1.1 differences.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use stompbox_closecode::codes;
use stompbox_stomp::{Command, Decoder, Frame, HeartBeat, Item, Version, negotiate_version};

use crate::acl::{Access, Action};
use crate::error::clip;
use crate::outbox::{Outbound, Outbox};
use crate::router::{self, SessionEntry};
use crate::stats::SessionSummary;
mod limits;
mod send;
mod subscriptions;

use crate::{
    Broker, BrokerError, CloseStatus, ClosedBy, ConnectRequest, EventKind, SessionEvent, Transport,
};

/// How a transport describes a new connection.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// A session id chosen by the transport (SockJS puts one in its URLs); `None` generates one.
    pub id: Option<String>,
    /// The transport.
    pub transport: Transport,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The `Authorization` header of the HTTP request that opened the connection, if any: the
    /// authenticator sees it at CONNECT ([`ConnectRequest::handshake_authorization`]).
    pub handshake_authorization: Option<String>,
}

impl SessionOptions {
    /// Options with a generated id.
    pub fn new(transport: Transport, remote: Option<SocketAddr>) -> SessionOptions {
        SessionOptions {
            id: None,
            transport,
            remote,
            handshake_authorization: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingConnect,
    Connected,
    /// A Close is queued; input is ignored until the transport calls `close`.
    Closing,
    Closed,
}

/// One client connection's STOMP session. See the module docs for the call order.
pub struct Session {
    broker: Broker,
    id: Arc<str>,
    transport: Transport,
    remote: Option<SocketAddr>,
    user: Option<Arc<str>>,
    outbox: Arc<dyn Outbox>,
    phase: Phase,
    version: Version,
    decoder: Decoder,
    inbound: BytesMut,
    opened: Instant,
    send_interval: Option<Duration>,
    receive_interval: Option<Duration>,
    last_received: Instant,
    last_sent: Instant,
    transactions: HashMap<String, Vec<Frame>>,
    /// Outboxes this session's input left congested, until the transport takes them.
    congested: Vec<Arc<dyn Outbox>>,
    /// Input is buffered, not decoded, until [`Session::resume`].
    paused: bool,
    /// The inbound frame rate limiter (`max_inbound_rate`).
    rate: limits::InboundRate,
    /// Until CONNECT: the handshake's `Authorization` header.
    handshake_authorization: Option<Box<str>>,
    /// The session id was chosen by the client (SockJS): see [`router::anonymous_key`].
    chosen_id: bool,
    /// After CONNECT, while an authorizer is installed: it and the user's roles.
    access: Option<Box<Access>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("transport", &self.transport)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// Inbound buffers larger than this are released once empty, so idle sessions stay small.
const KEEP_INBOUND_CAPACITY: usize = 4096;

impl Session {
    pub(crate) fn new(
        broker: Broker,
        id: Arc<str>,
        transport: Transport,
        remote: Option<SocketAddr>,
        outbox: Arc<dyn Outbox>,
        now: Instant,
    ) -> Session {
        // Registered from the start, so that `close_all` reaches sessions still before CONNECT.
        // An id already in use (a transport-chosen one, e.g. from a SockJS URL) is replaced:
        // two sessions must never share routing state.
        let id = {
            let mut state = broker.inner.state.lock();
            let id = if state.sessions.contains_key(&id) {
                Arc::from(broker.new_session_id())
            } else {
                id
            };
            state.sessions.insert(
                id.clone(),
                SessionEntry {
                    outbox: outbox.clone(),
                    subs: HashMap::new(),
                    unacked: Default::default(),
                    next_ack: 1,
                },
            );
            id
        };
        let opened_at = SystemTime::now();
        broker.inner.stats.opened(SessionSummary {
            id: id.clone(),
            user: None,
            transport,
            remote,
            opened_at,
            version: None,
            subscriptions: 0,
        });
        let decoder = Decoder::new(broker.config().limits);
        Session {
            broker,
            id,
            transport,
            remote,
            user: None,
            outbox,
            phase: Phase::AwaitingConnect,
            version: Version::V1_2,
            decoder,
            inbound: BytesMut::new(),
            opened: now,
            send_interval: None,
            receive_interval: None,
            last_received: now,
            last_sent: now,
            transactions: HashMap::new(),
            congested: Vec::new(),
            paused: false,
            rate: limits::InboundRate::default(),
            handshake_authorization: None,
            chosen_id: false,
            access: None,
        }
    }

    /// Records what the transport told about the connection (see [`SessionOptions`]).
    pub(crate) fn set_opening(&mut self, handshake_authorization: Option<String>, chosen_id: bool) {
        self.handshake_authorization = handshake_authorization.map(String::into_boxed_str);
        self.chosen_id = chosen_id;
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The authenticated user, once connected.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The negotiated version (1.2 until CONNECT).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Whether CONNECTED was sent and the session is not closing.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Whether a Close was queued or the session is closed: input is ignored from now on.
    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// The negotiated STOMP heart-beat intervals (server send, client receive); `None` each when
    /// not in use. SockJS skips its own heart-beat when the send interval is set.
    pub fn heartbeat_intervals(&self) -> (Option<Duration>, Option<Duration>) {
        (self.send_interval, self.receive_interval)
    }

    /// Feeds bytes received from the peer (any chunking). While paused by back-pressure they
    /// are only buffered.
    pub fn handle_data(&mut self, data: &[u8], now: Instant) {
        if self.is_closing() {
            return;
        }
        self.last_received = now;
        self.inbound.extend_from_slice(data);
        if !self.paused {
            self.decode_input(now);
        }
    }

    /// The outboxes that this session's input left above their high-water marks (empty when
    /// none). When not empty, the session is paused: see the module docs.
    pub fn take_backpressure(&mut self) -> Vec<Arc<dyn Outbox>> {
        std::mem::take(&mut self.congested)
    }

    /// Whether input is only buffered until [`Session::resume`].
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The congested outboxes have drained: decodes the input buffered meanwhile (which may
    /// pause the session again).
    pub fn resume(&mut self, now: Instant) {
        if !self.paused {
            return;
        }
        self.paused = false;
        if !self.is_closing() {
            self.decode_input(now);
        }
    }

    /// Decodes and handles buffered frames until input runs out or back-pressure pauses.
    fn decode_input(&mut self, now: Instant) {
        while !self.is_closing() {
            match self.decoder.decode(&mut self.inbound) {
                Ok(None) => break,
                Ok(Some(Item::HeartBeat)) => {}
                Ok(Some(Item::Frame(frame))) => {
                    self.broker.inner.stats.frame_received();
                    if !self.admit_frame(now) {
                        break;
                    }
                    let receipt = frame.header("receipt").map(str::to_string);
                    if let Err(error) = self.handle_frame(frame, receipt.as_deref(), now) {
                        self.fail(&error, receipt.as_deref());
                    }
                    if self.outbox.is_congested() {
                        // A peer that does not read what it asked for (receipts, its own
                        // subscriptions) is slowed down too.
                        self.congested.push(self.outbox.clone());
                    }
                    if !self.congested.is_empty() {
                        self.paused = true;
                        self.broker.inner.stats.paused();
                        break;
                    }
                }
                Err(error) => self.fail(&BrokerError::Decode(error), None),
            }
        }
        if self.inbound.is_empty() && self.inbound.capacity() > KEEP_INBOUND_CAPACITY {
            self.inbound = BytesMut::new();
        }
    }

    /// Records that the transport wrote to the peer (resets the server heart-beat timer).
    pub fn handle_sent(&mut self, now: Instant) {
        self.last_sent = now;
    }

    /// When [`Session::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitingConnect => Some(self.opened + self.broker.config().connect_timeout),
            Phase::Connected => {
                let send = self.send_interval.map(|i| self.last_sent + i);
                let receive = self.receive_deadline();
                match (send, receive) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Closing | Phase::Closed => None,
        }
    }

    fn receive_deadline(&self) -> Option<Instant> {
        let grace = self.broker.config().heartbeat_grace.max(1.0);
        self.receive_interval
            .map(|i| self.last_received + i.mul_f64(grace))
    }

    /// Sends a heart-beat or closes a silent peer, as the deadlines say.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::AwaitingConnect => {
                let limit = self.broker.config().connect_timeout;
                if now >= self.opened + limit {
                    let reason = format!("no CONNECT frame within {}s", limit.as_secs());
                    self.close_with(codes::HEARTBEAT_TIMEOUT, reason, ClosedBy::Server);
                }
            }
            Phase::Connected => {
                if self.receive_deadline().is_some_and(|d| now >= d) {
                    let silent = now.duration_since(self.last_received);
                    let interval = self.receive_interval.unwrap_or_default();
                    let reason = format!(
                        "heart-beat timeout: nothing received for {:.1}s (agreed interval {}ms)",
                        silent.as_secs_f64(),
                        interval.as_millis()
                    );
                    tracing::info!(target: "stompbox::session", sessionId = %self.id, "{reason}");
                    self.close_with(codes::HEARTBEAT_TIMEOUT, reason, ClosedBy::Server);
                    return;
                }
                if let Some(interval) = self.send_interval {
                    if now >= self.last_sent + interval {
                        self.outbox.push(Outbound::HeartBeat);
                        self.last_sent = now;
                    }
                }
            }
            Phase::Closing | Phase::Closed => {}
        }
    }

    /// Ends the session: removes its subscriptions, redelivers its unacknowledged queue messages,
    /// drops open transactions, and emits the disconnect event with `status`. Idempotent.
    pub fn close(&mut self, status: CloseStatus, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.transactions.clear();
        self.broker.inner.state.lock().remove_session(&self.id);
        let duration = now.saturating_duration_since(self.opened);
        self.emit(EventKind::Disconnect {
            duration,
            status,
            server_idle: now.saturating_duration_since(self.last_sent),
            client_idle: now.saturating_duration_since(self.last_received),
        });
    }

    fn emit(&self, kind: EventKind) {
        self.broker.emit(SessionEvent {
            session_id: self.id.clone(),
            user: self.user.clone(),
            transport: self.transport,
            remote: self.remote,
            time: SystemTime::now(),
            kind,
        });
    }

    fn push_frame(&self, frame: &Frame) {
        self.outbox.push(router::frame_item(frame, self.version));
    }

    fn close_with(&mut self, code: u16, reason: String, by: ClosedBy) {
        self.outbox
            .push(Outbound::Close(CloseStatus::new(code, reason, by)));
        self.phase = Phase::Closing;
        // Queue messages go to other consumers from now on.
        self.broker.inner.state.lock().mark_closing(&self.id);
    }

    /// Sends an ERROR frame for `error`, then closes with its code.
    fn fail(&mut self, error: &BrokerError, receipt: Option<&str>) {
        self.broker.inner.stats.error_sent();
        let text = error.to_string();
        tracing::debug!(target: "stompbox::session", sessionId = %self.id, "ERROR: {text}");
        let mut frame = router::error_frame(&text, receipt);
        if let BrokerError::UnsupportedVersion { .. } = error {
            let versions: Vec<&str> = self
                .broker
                .config()
                .versions
                .iter()
                .map(|v| v.as_str())
                .collect();
            frame.push_header("version", versions.join(","));
        }
        self.push_frame(&frame);
        self.close_with(error.close_code(), text, ClosedBy::Server);
    }

    fn handle_frame(
        &mut self,
        frame: Frame,
        receipt: Option<&str>,
        now: Instant,
    ) -> Result<(), BrokerError> {
        let command = frame.command;
        match (self.phase, command) {
            (_, Command::Connected | Command::Message | Command::Receipt | Command::Error) => {
                return Err(BrokerError::ServerFrame(command));
            }
            (Phase::AwaitingConnect, Command::Connect | Command::Stomp) => {
                return self.on_connect(&frame, now);
            }
            (Phase::AwaitingConnect, _) => return Err(BrokerError::NotConnected(command)),
            (_, Command::Connect | Command::Stomp) => {
                return Err(BrokerError::AlreadyConnected(command));
            }
            (_, Command::Disconnect) => {
                if let Some(r) = receipt {
                    self.push_frame(&router::receipt_frame(r));
                }
                self.close_with(codes::NORMAL, "DISCONNECT".to_string(), ClosedBy::Client);
                return Ok(());
            }
            (_, Command::Send) => {
                if self.on_send(frame, receipt)? {
                    // The RECEIPT is sent once the shared queue's store has the message.
                    return Ok(());
                }
            }
            (_, Command::Subscribe) => self.on_subscribe(&frame)?,
            (_, Command::Unsubscribe) => self.on_unsubscribe(&frame)?,
            (_, Command::Ack | Command::Nack) => self.on_ack(frame)?,
            (_, Command::Begin) => {
                let id = required(&frame, "transaction")?;
                if self.transactions.contains_key(id) {
                    return Err(BrokerError::DuplicateTransaction(clip(id)));
                }
                self.transactions.insert(id.to_string(), Vec::new());
            }
            (_, Command::Commit | Command::Abort) => {
                let id = required(&frame, "transaction")?;
                let Some(frames) = self.transactions.remove(id) else {
                    return Err(BrokerError::UnknownTransaction {
                        command,
                        id: clip(id),
                    });
                };
                if command == Command::Commit {
                    for f in frames {
                        match f.command {
                            Command::Send => self.send_now(f, &mut None)?,
                            _ => self.ack_now(&f)?,
                        }
                    }
                }
            }
        }
        if let Some(r) = receipt {
            self.push_frame(&router::receipt_frame(r));
        }
        Ok(())
    }

    fn on_connect(&mut self, frame: &Frame, now: Instant) -> Result<(), BrokerError> {
        self.emit(EventKind::Connect);
        let config = self.broker.config().clone();
        let offered = frame.header("accept-version");
        let version = negotiate_version(offered, &config.versions).ok_or_else(|| {
            BrokerError::UnsupportedVersion {
                offered: clip(offered.unwrap_or("1.0")),
            }
        })?;
        self.version = version;
        let client_beat = match (version, frame.header("heart-beat")) {
            (Version::V1_0, _) | (_, None) => HeartBeat::default(),
            (_, Some(v)) => HeartBeat::parse(v).map_err(|_| BrokerError::InvalidHeader {
                header: "heart-beat",
                value: clip(v),
                why: "expected two non-negative integers `cx,cy` in milliseconds",
            })?,
        };
        let authenticator = self.broker.inner.authenticator.read().clone();
        let user = authenticator
            .authenticate(&ConnectRequest {
                login: frame.header("login"),
                passcode: frame.header("passcode"),
                host: frame.header("host"),
                headers: &frame.headers,
                transport: self.transport,
                remote: self.remote,
                handshake_authorization: self.handshake_authorization.as_deref(),
            })
            .map_err(BrokerError::AuthFailed)?;
        self.handshake_authorization = None;
        let (user, roles) = match user {
            Some(p) => (Some(Arc::from(p.name)), p.roles),
            None => (None, Vec::new()),
        };
        self.user = user;
        let authorizer = self.broker.inner.authorizer.read().clone();
        self.access = authorizer.map(|a| Box::new(Access::new(a, roles)));
        let negotiated = config.heart_beat.negotiate(client_beat);
        self.send_interval = negotiated.send;
        self.receive_interval = negotiated.receive;
        self.last_received = now;
        self.last_sent = now;
        self.decoder.set_version(version);
        let mut connected = Frame::new(Command::Connected);
        if version != Version::V1_0 {
            connected.push_header("version", version.as_str());
            let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis());
            connected.push_header(
                "heart-beat",
                format!("{},{}", ms(negotiated.send), ms(negotiated.receive)),
            );
        }
        connected.push_header("session", self.id.to_string());
        connected.push_header("server", config.server_name.clone());
        if let Some(user) = &self.user {
            connected.push_header("user-name", user.to_string());
        }
        self.push_frame(&connected);
        self.phase = Phase::Connected;
        self.emit(EventKind::Connected {
            version,
            send_heartbeat: negotiated.send.unwrap_or_default(),
            receive_heartbeat: negotiated.receive.unwrap_or_default(),
        });
        Ok(())
    }

    /// The routing key of this session's user destination `/user{rest}`: by user name, or for
    /// an anonymous session by its id, in a space of its own.
    fn owner_key(&self, rest: &str) -> String {
        match &self.user {
            Some(user) => router::user_key(user, rest),
            None => router::anonymous_key(&self.id, !self.chosen_id, rest),
        }
    }

    /// Asks the authorizer, if one is installed, whether this session may do `action` there.
    fn authorize(&self, action: Action, destination: &str) -> Result<(), BrokerError> {
        match &self.access {
            Some(access) => access.check(self.user.as_deref(), action, destination),
            None => Ok(()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A transport that forgot to call `close` (or panicked) still leaves no state behind.
        if self.phase != Phase::Closed {
            self.close(CloseStatus::abnormal(), Instant::now());
        }
    }
}

fn required<'f>(frame: &'f Frame, header: &'static str) -> Result<&'f str, BrokerError> {
    frame.header(header).ok_or(BrokerError::MissingHeader {
        command: frame.command,
        header,
    })
}
