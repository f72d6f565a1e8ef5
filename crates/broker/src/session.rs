//! One STOMP session as a deterministic state machine: bytes and time in, [`Outbound`] items out.
//!
//! Call order for a transport: [`Session::handle_data`] for every received chunk,
//! [`Session::handle_sent`] after writing to the peer, [`Session::poll_timeout`] /
//! [`Session::handle_timeout`] for heart-beats and deadlines, and [`Session::close`] exactly once
//! when the connection is gone, with the status it ended with. Implements STOMP 1.2 §"Client
//! Frames", "Server Frames", "Heart-beating" and the 1.0/1.1 differences.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use stompbox_closecode::codes;
use stompbox_stomp::{Command, Decoder, Frame, HeartBeat, Item, Version, negotiate_version};

use crate::error::clip;
use crate::outbox::{Outbound, Outbox};
use crate::router::{self, AckMode, RouteKey, SessionEntry, SubRecord, Subscriber};
use crate::stats::SessionSummary;
use crate::{
    Broker, BrokerError, CloseStatus, ClosedBy, ConnectRequest, Destination, EventKind,
    SessionEvent, Transport, Use,
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
}

impl SessionOptions {
    /// Options with a generated id.
    pub fn new(transport: Transport, remote: Option<SocketAddr>) -> SessionOptions {
        SessionOptions {
            id: None,
            transport,
            remote,
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
        }
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

    /// Feeds bytes received from the peer (any chunking).
    pub fn handle_data(&mut self, data: &[u8], now: Instant) {
        if self.is_closing() {
            return;
        }
        self.last_received = now;
        self.inbound.extend_from_slice(data);
        while !self.is_closing() {
            match self.decoder.decode(&mut self.inbound) {
                Ok(None) => break,
                Ok(Some(Item::HeartBeat)) => {}
                Ok(Some(Item::Frame(frame))) => {
                    self.broker.inner.stats.frame_received();
                    let receipt = frame.header("receipt").map(str::to_string);
                    if let Err(error) = self.handle_frame(frame, receipt.as_deref(), now) {
                        self.fail(&error, receipt.as_deref());
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
        self.emit(EventKind::Disconnect { duration, status });
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
    }

    /// Sends an ERROR frame for `error`, then closes with its code.
    fn fail(&mut self, error: &BrokerError, receipt: Option<&str>) {
        self.broker.inner.stats.error_sent();
        let text = error.to_string();
        tracing::debug!(target: "stompbox::session", sessionId = %self.id, "ERROR: {text}");
        let mut frame = Frame::new(Command::Error)
            .with_header("message", clip(&text))
            .with_header("content-type", "text/plain");
        if let Some(r) = receipt {
            frame.push_header("receipt-id", r);
        }
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
        frame.body = format!("{text}\n").into();
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
                    self.push_frame(&Frame::new(Command::Receipt).with_header("receipt-id", r));
                }
                self.close_with(codes::NORMAL, "DISCONNECT".to_string(), ClosedBy::Client);
                return Ok(());
            }
            (_, Command::Send) => self.on_send(frame)?,
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
                            Command::Send => self.send_now(f)?,
                            _ => self.ack_now(&f)?,
                        }
                    }
                }
            }
        }
        if let Some(r) = receipt {
            self.push_frame(&Frame::new(Command::Receipt).with_header("receipt-id", r));
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
            })
            .map_err(BrokerError::AuthFailed)?;
        self.user = user.map(Arc::from);
        let negotiated = config.heart_beat.negotiate(client_beat);
        self.send_interval = negotiated.send;
        self.receive_interval = negotiated.receive;
        self.last_received = now;
        self.last_sent = now;
        self.decoder.set_version(version);
        self.broker.inner.state.lock().sessions.insert(
            self.id.clone(),
            SessionEntry {
                outbox: self.outbox.clone(),
                subs: HashMap::new(),
                unacked: Default::default(),
                next_ack: 1,
            },
        );
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

    /// The name that keys this session's user destinations: the user, else the session id.
    fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or(&self.id)
    }

    fn buffer_in_transaction(&mut self, frame: Frame) -> Result<Option<Frame>, BrokerError> {
        let Some(id) = frame.header("transaction") else {
            return Ok(Some(frame));
        };
        let Some(buffered) = self.transactions.get_mut(id) else {
            return Err(BrokerError::UnknownTransaction {
                command: frame.command,
                id: clip(id),
            });
        };
        buffered.push(frame);
        Ok(None)
    }

    fn on_send(&mut self, frame: Frame) -> Result<(), BrokerError> {
        required(&frame, "destination")?;
        match self.buffer_in_transaction(frame)? {
            Some(frame) => self.send_now(frame),
            None => Ok(()),
        }
    }

    fn send_now(&mut self, frame: Frame) -> Result<(), BrokerError> {
        let destination = required(&frame, "destination")?.to_string();
        let headers: Vec<_> = frame
            .headers
            .into_iter()
            .filter(|(n, _)| {
                !matches!(
                    n.as_str(),
                    "destination" | "transaction" | "receipt" | "content-length"
                )
            })
            .collect();
        if let Destination::App(path) = Destination::parse(&destination, Use::Send)? {
            return self.on_app(path, &headers, &frame.body);
        }
        self.broker
            .route_send(&destination, headers, frame.body, None)
    }

    fn on_app(
        &mut self,
        path: &str,
        headers: &[stompbox_stomp::Header],
        body: &bytes::Bytes,
    ) -> Result<(), BrokerError> {
        let handler = self.broker.inner.apps.read().get(path).cloned();
        let handler =
            handler.ok_or_else(|| BrokerError::NoAppHandler(clip(&format!("/app{path}"))))?;
        let mut reply = crate::AppReply::default();
        handler
            .handle(
                &crate::AppRequest {
                    path,
                    headers,
                    body,
                    session_id: &self.id,
                    user: self.user.as_deref(),
                },
                &mut reply,
            )
            .map_err(BrokerError::App)?;
        for action in reply.actions {
            match action {
                crate::app::AppAction::Publish {
                    destination,
                    headers,
                    body,
                } => self.broker.route_send(&destination, headers, body, None)?,
                crate::app::AppAction::Reply {
                    destination,
                    headers,
                    body,
                } => {
                    let own = format!("/user{destination}");
                    let Destination::UserSelf(rest) = Destination::parse(&own, Use::Subscribe)?
                    else {
                        return Err(BrokerError::App(format!(
                            "reply destination `{}` must look like /queue/name",
                            clip(&destination)
                        )));
                    };
                    let target = format!("/user/{}{rest}", self.user_name());
                    self.broker
                        .route_send(&target, headers, body, Some(&self.id))?;
                }
            }
        }
        Ok(())
    }

    fn on_subscribe(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let destination = required(frame, "destination")?;
        let id = match (self.version, frame.header("id")) {
            (_, Some(id)) => id,
            (Version::V1_0, None) => destination,
            (_, None) => {
                return Err(BrokerError::MissingHeader {
                    command: Command::Subscribe,
                    header: "id",
                });
            }
        };
        let ack =
            AckMode::parse(frame.header("ack")).ok_or_else(|| BrokerError::InvalidHeader {
                header: "ack",
                value: clip(frame.header("ack").unwrap_or_default()),
                why: "expected auto, client or client-individual",
            })?;
        let key = match Destination::parse(destination, Use::Subscribe)? {
            Destination::Topic(d) => RouteKey::Fanout(d.to_string()),
            Destination::Queue(d) => RouteKey::Queue(d.to_string()),
            Destination::UserSelf(rest) => {
                RouteKey::Fanout(router::user_key(self.user_name(), rest))
            }
            Destination::App(_) | Destination::UserOf { .. } => {
                return Err(BrokerError::InvalidDestination {
                    destination: clip(destination),
                    why: "only /topic/, /queue/ and /user/ destinations can be subscribed to",
                });
            }
        };
        let id: Arc<str> = Arc::from(id);
        let max = self.broker.config().max_subscriptions;
        {
            let mut state = self.broker.inner.state.lock();
            let state = &mut *state;
            let Some(entry) = state.sessions.get_mut(&self.id) else {
                return Err(BrokerError::NotConnected(Command::Subscribe));
            };
            if entry.subs.contains_key(&id) {
                return Err(BrokerError::DuplicateSubscription(clip(&id)));
            }
            if entry.subs.len() >= max {
                return Err(BrokerError::TooManySubscriptions(max));
            }
            entry.subs.insert(
                id.clone(),
                SubRecord {
                    destination: destination.to_string(),
                    key: key.clone(),
                    ack,
                },
            );
            let sub = Subscriber {
                session: self.id.clone(),
                id: id.clone(),
                ack,
                version: self.version,
                outbox: self.outbox.clone(),
            };
            match &key {
                RouteKey::Fanout(k) => {
                    Arc::make_mut(state.topics.entry(k.clone()).or_default()).push(sub);
                }
                RouteKey::Queue(q) => {
                    state
                        .queues
                        .entry(q.clone())
                        .or_default()
                        .consumers
                        .push(sub);
                    state.drain_pending(q);
                }
            }
        }
        self.emit(EventKind::Subscribe {
            id: id.to_string(),
            destination: destination.to_string(),
        });
        Ok(())
    }

    fn on_unsubscribe(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let mut state = self.broker.inner.state.lock();
        let id: String = match (frame.header("id"), frame.header("destination")) {
            (Some(id), _) => id.to_string(),
            // STOMP 1.0 allows unsubscribing by destination.
            (None, Some(d)) if self.version == Version::V1_0 => state
                .sessions
                .get(&self.id)
                .and_then(|e| e.subs.iter().find(|(_, r)| r.destination == d))
                .map(|(id, _)| id.to_string())
                .ok_or_else(|| BrokerError::UnknownSubscription(clip(d)))?,
            _ => {
                return Err(BrokerError::MissingHeader {
                    command: Command::Unsubscribe,
                    header: "id",
                });
            }
        };
        let record = state
            .remove_subscription(&self.id, &id)
            .ok_or_else(|| BrokerError::UnknownSubscription(clip(&id)))?;
        drop(state);
        self.emit(EventKind::Unsubscribe {
            id,
            destination: record.destination,
        });
        Ok(())
    }

    fn on_ack(&mut self, frame: Frame) -> Result<(), BrokerError> {
        // Validate the id now, so a bad ACK fails at once even inside a transaction.
        self.ack_id(&frame)?;
        match self.buffer_in_transaction(frame)? {
            Some(frame) => self.ack_now(&frame),
            None => Ok(()),
        }
    }

    /// The header that identifies the delivery: `id` in 1.2, `message-id` before.
    fn ack_id<'f>(&self, frame: &'f Frame) -> Result<&'f str, BrokerError> {
        let header = if self.version == Version::V1_2 {
            "id"
        } else {
            "message-id"
        };
        frame.header(header).ok_or(BrokerError::MissingHeader {
            command: frame.command,
            header,
        })
    }

    fn ack_now(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let command = frame.command;
        let id = self.ack_id(frame)?;
        let unknown = || BrokerError::UnknownAck {
            command,
            id: clip(id),
        };
        let mut state = self.broker.inner.state.lock();
        let state = &mut *state;
        let entry = state.sessions.get_mut(&self.id).ok_or_else(unknown)?;
        let n = if self.version == Version::V1_2 {
            id.parse::<u64>()
                .ok()
                .filter(|n| entry.unacked.contains_key(n))
        } else {
            let subscription = frame.header("subscription");
            entry
                .unacked
                .iter()
                .find(|(_, u)| &*u.message_id == id && subscription.is_none_or(|s| &*u.sub_id == s))
                .map(|(n, _)| *n)
        }
        .ok_or_else(unknown)?;
        let sub_id = entry.unacked[&n].sub_id.clone();
        let cumulative = entry
            .subs
            .get(&sub_id)
            .is_some_and(|r| r.ack == AckMode::Client);
        let settled: Vec<u64> = if cumulative {
            entry
                .unacked
                .range(..=n)
                .filter(|(_, u)| u.sub_id == sub_id)
                .map(|(k, _)| *k)
                .collect()
        } else {
            vec![n]
        };
        let mut requeue = Vec::new();
        for k in settled {
            if let Some(u) = entry.unacked.remove(&k) {
                if command == Command::Nack {
                    requeue.extend(u.requeue);
                }
            }
        }
        for (queue, message) in requeue {
            state.requeue(&queue, &message);
        }
        Ok(())
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
