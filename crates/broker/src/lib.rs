//! The stompbox broker core: STOMP sessions, destinations, subscriptions, acknowledgements,
//! transactions, user and application destinations, heart-beats and session events.
//!
//! No sockets and no clock live here. A transport opens a [`Session`] with an [`Outbox`] it
//! drains, feeds it received bytes with the time ([`Session::handle_data`]), asks it when to wake
//! ([`Session::poll_timeout`]) and tells it how the connection ended ([`Session::close`]). The
//! [`Broker`] is cheap to clone and shared by all sessions.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod acl;
mod analytics;
mod app;
mod auth;
mod config;
mod destination;
mod error;
mod event;
mod observer;
mod outbox;
mod queue;
mod router;
mod session;
mod shared;
mod stats;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

pub use acl::{AccessRequest, Acl, AclRule, Action, Authorizer, Pattern, Who};
pub use analytics::{CloseAnalytics, DETECTION_THRESHOLD, IDLE_BUCKETS, IdleTimeoutFinding};
pub use app::{AppHandler, AppReply, AppRequest, hello_handler};
pub use auth::{AllowAll, Authenticator, ConnectRequest, Principal};
pub use config::BrokerConfig;
pub use destination::{Destination, Use};
pub use error::BrokerError;
pub use event::{
    CloseStatus, ClosedBy, EventKind, EventStream, Listener, SessionEvent, Transport, log_event,
};
pub use observer::MessageObserver;
pub use outbox::{MemoryOutbox, Outbound, Outbox, Tail};
pub use router::AckMode;
pub use session::{Session, SessionOptions};
pub use shared::{SharedMessage, SharedQueues, StoreTicket};
pub use stats::{BrokerStats, CloseCount, SessionSummary};

use router::State;

/// The broker: shared routing state, handlers, listeners. Clones share everything.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    config: BrokerConfig,
    state: Mutex<State>,
    listeners: RwLock<Vec<Listener>>,
    apps: RwLock<HashMap<String, Arc<dyn AppHandler>>>,
    authenticator: RwLock<Arc<dyn Authenticator>>,
    /// `None`: everything is allowed.
    authorizer: RwLock<Option<Arc<dyn Authorizer>>>,
    /// Set at most once (a cluster adapter); read on every topic message.
    message_observer: OnceLock<Arc<dyn MessageObserver>>,
    /// Set at most once (a cluster adapter): where `/queue/…` messages are stored.
    shared_queues: OnceLock<Arc<dyn SharedQueues>>,
    stats: stats::Counters,
    next_id: AtomicU64,
    id_seed: RandomState,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Default for Broker {
    fn default() -> Self {
        Broker::new(BrokerConfig::default())
    }
}

impl Broker {
    /// A broker with no listeners, no application handlers and the allow-all authenticator.
    pub fn new(config: BrokerConfig) -> Broker {
        Broker {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                listeners: RwLock::new(Vec::new()),
                apps: RwLock::new(HashMap::new()),
                authenticator: RwLock::new(Arc::new(AllowAll)),
                authorizer: RwLock::new(None),
                message_observer: OnceLock::new(),
                shared_queues: OnceLock::new(),
                stats: stats::Counters::default(),
                next_id: AtomicU64::new(1),
                id_seed: RandomState::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Opens a session for a new connection. Every session must end with [`Session::close`]
    /// (dropping it closes it as 1006).
    pub fn open_session(
        &self,
        options: SessionOptions,
        outbox: Arc<dyn Outbox>,
        now: Instant,
    ) -> Session {
        let chosen_id = options.id.is_some();
        let handshake_authorization = options.handshake_authorization;
        let id: Arc<str> = match options.id {
            Some(id) => Arc::from(id),
            None => Arc::from(self.new_session_id()),
        };
        let mut session = Session::new(
            self.clone(),
            id,
            options.transport,
            options.remote,
            outbox.clone(),
            now,
        );
        session.set_opening(handshake_authorization, chosen_id);
        // Opened after `shut_down` (an upgrade that was under way): closed at once, the same way.
        let shutdown = {
            let mut state = self.inner.state.lock();
            let status = state.shutdown.clone();
            if status.is_some() {
                state.mark_closing(session.id());
            }
            status
        };
        if let Some(status) = shutdown {
            outbox.push(Outbound::Close(status));
        }
        // Over `max_sessions`: closed at once with 1013 (session/limits.rs).
        self.admit(session)
    }

    /// Registers a handler for SENDs to `/app{path}` (e.g. `path = "/hello"`), replacing any
    /// handler registered for that path.
    pub fn route(&self, path: impl Into<String>, handler: impl AppHandler) {
        self.inner
            .apps
            .write()
            .insert(path.into(), Arc::new(handler));
    }

    /// Replaces the authenticator.
    pub fn set_authenticator(&self, authenticator: impl Authenticator) {
        *self.inner.authenticator.write() = Arc::new(authenticator);
    }

    /// Installs an authorizer for SUBSCRIBE and SEND (none by default: everything is allowed).
    /// Sessions connected before keep the one they connected with.
    pub fn set_authorizer(&self, authorizer: impl Authorizer) {
        *self.inner.authorizer.write() = Some(Arc::new(authorizer));
    }

    /// Adds a synchronous event listener (it must not block).
    pub fn add_listener(&self, listener: impl Fn(&SessionEvent) + Send + Sync + 'static) {
        self.inner.listeners.write().push(Arc::new(listener));
    }

    /// Session events from now on, as an async stream.
    pub fn events(&self) -> EventStream {
        let (tx, rx) = mpsc::unbounded_channel();
        self.add_listener(move |event| {
            let _ = tx.send(event.clone());
        });
        EventStream { rx }
    }

    /// Publishes a message from Rust code, as if a client had sent it (`/topic/…`, `/queue/…`,
    /// `/user/{name}/…`; not `/app/…`). Never blocks: outboxes left congested are not waited
    /// for (a client's SEND is, through its transport).
    pub fn publish(
        &self,
        destination: &str,
        headers: Vec<stompbox_stomp::Header>,
        body: impl Into<bytes::Bytes>,
    ) -> Result<(), BrokerError> {
        let mut no_receipt = None;
        self.route_send(
            destination,
            headers,
            body.into(),
            None,
            &mut Vec::new(),
            &mut no_receipt,
        )
    }

    /// Installs the observer told about every topic message routed on this node (see
    /// [`MessageObserver`]). Only one can be installed: returns `false`, and drops `observer`,
    /// when one already is.
    pub fn observe_messages(&self, observer: impl MessageObserver) -> bool {
        self.inner.message_observer.set(Arc::new(observer)).is_ok()
    }

    /// Delivers a message that another node published (`/topic/…` or `/user/{name}/…`) to this
    /// node's subscribers, as [`Broker::publish`] does, without telling the [`MessageObserver`]
    /// (that would send it back where it came from). Queues are refused: a queue message must
    /// reach one consumer, not one per node.
    pub fn deliver_remote(
        &self,
        destination: &str,
        headers: Vec<stompbox_stomp::Header>,
        body: bytes::Bytes,
    ) -> Result<(), BrokerError> {
        let route = match Destination::parse(destination, Use::Send)? {
            Destination::Topic(d) => router::FanoutRoute::topic(d),
            Destination::UserOf { user, rest } => router::FanoutRoute::user(user, rest),
            _ => {
                return Err(BrokerError::InvalidDestination {
                    destination: error::clip(destination),
                    why: "only /topic/… and /user/… messages come from other nodes",
                });
            }
        };
        self.fan_out(route, headers, body, None, &mut Vec::new());
        Ok(())
    }

    /// Shares this node's queues through `store` (see [`SharedQueues`]): from now on every
    /// `/queue/…` message is handed to it instead of being delivered here. Install it before
    /// clients connect. Only one can be installed: returns `false`, and drops `store`, when one
    /// already is.
    pub fn share_queues(&self, store: impl SharedQueues) -> bool {
        let store: Arc<dyn SharedQueues> = Arc::new(store);
        if self.inner.shared_queues.set(store.clone()).is_err() {
            return false;
        }
        self.inner.state.lock().shared = Some(store);
        true
    }

    /// Hands a message from the shared store to one of this node's consumers of `queue`
    /// (`/queue/…`), as a local queue message is handed over. Gives it back when this node has
    /// no consumer of `queue` (the store should offer it to another node).
    pub fn deliver_shared(&self, queue: &str, message: SharedMessage) -> Result<(), SharedMessage> {
        let valid = matches!(
            Destination::parse(queue, Use::Send),
            Ok(Destination::Queue(_))
        );
        let mut state = self.inner.state.lock();
        let no_consumer = state
            .queues
            .get(queue)
            .is_none_or(|q| q.consumers.is_empty());
        if !valid || no_consumer {
            return Err(message);
        }
        let stored = Arc::new(router::StoredMessage {
            id: self.next_message_id(),
            destination: Arc::from(queue),
            headers: message.headers,
            body: message.body,
            redelivered: message.redelivered,
            shared: Some(message.entry),
        });
        // Kept here if every consumer is closing: released when they are gone.
        let _congested = state.publish_to_queue(queue, stored, usize::MAX);
        Ok(())
    }

    /// Asks every open session to close with this status. Each transport writes what is already
    /// queued for its peer (receipts included), then its Close, and ends its session. Queues stop
    /// delivering to these sessions. Returns how many sessions were asked.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        self.close_every_session(CloseStatus::new(code, reason, ClosedBy::Server), false)
    }

    /// [`Broker::close_all`] for a server that is stopping (1001, or 1012 for a restart): sessions
    /// opened from now on (an upgrade that was under way) are closed at once the same way.
    pub fn shut_down(&self, code: u16, reason: &str) -> usize {
        self.close_every_session(CloseStatus::new(code, reason, ClosedBy::Server), true)
    }

    fn close_every_session(&self, status: CloseStatus, for_good: bool) -> usize {
        let outboxes: Vec<_> = {
            let mut state = self.inner.state.lock();
            if for_good {
                state.shutdown = Some(status.clone());
            }
            let ids: Vec<Arc<str>> = state.sessions.keys().cloned().collect();
            state.closing.extend(ids);
            state.sessions.values().map(|s| s.outbox.clone()).collect()
        };
        for outbox in &outboxes {
            outbox.push(Outbound::Close(status.clone()));
        }
        outboxes.len()
    }

    /// Counters and table sizes, for metrics and leak checks.
    pub fn stats(&self) -> BrokerStats {
        let state = self.inner.state.lock();
        self.inner.stats.snapshot(&state)
    }

    /// The sessions that are open now.
    pub fn sessions(&self) -> Vec<SessionSummary> {
        self.inner.stats.sessions()
    }

    fn new_session_id(&self) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}", self.inner.id_seed.hash_one(n))
    }

    fn next_message_id(&self) -> Arc<str> {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        Arc::from(format!("m-{n}"))
    }

    fn emit(&self, event: SessionEvent) {
        self.inner.stats.observe(&event);
        let listeners = self.inner.listeners.read().clone();
        for listener in listeners.iter() {
            listener(&event);
        }
    }

    /// Routes a SEND (not `/app/…`). `only` limits a fan-out to one session (app replies).
    /// Outboxes the delivery left congested are added to `congested`.
    fn route_send(
        &self,
        destination: &str,
        headers: Vec<stompbox_stomp::Header>,
        body: bytes::Bytes,
        only: Option<&str>,
        congested: &mut Vec<Arc<dyn Outbox>>,
        ticket: &mut Option<StoreTicket>,
    ) -> Result<(), BrokerError> {
        let route = match Destination::parse(destination, Use::Send)? {
            Destination::Topic(d) => router::FanoutRoute::topic(d),
            Destination::UserOf { user, rest } => router::FanoutRoute::user(user, rest),
            Destination::Queue(d) => {
                if let Some(store) = self.inner.shared_queues.get() {
                    let behind =
                        store
                            .enqueue(d, &headers, &body, ticket.take())
                            .map_err(|why| BrokerError::QueueUnavailable {
                                queue: error::clip(d),
                                why,
                            })?;
                    congested.extend(behind);
                    self.inner.stats.published(1);
                    return Ok(());
                }
                let message = Arc::new(router::StoredMessage {
                    id: self.next_message_id(),
                    destination: Arc::from(d),
                    headers,
                    body,
                    redelivered: false,
                    shared: None,
                });
                let limit = self.inner.config.max_queue_depth;
                let consumer = self
                    .inner
                    .state
                    .lock()
                    .publish_to_queue(d, message, limit)
                    .map_err(|queue::QueueFull| BrokerError::QueueFull {
                        queue: error::clip(d),
                        limit,
                    })?;
                self.inner.stats.published(1);
                congested.extend(consumer);
                return Ok(());
            }
            Destination::App(path) => return Err(BrokerError::NoAppHandler(format!("/app{path}"))),
            // `Use::Send` never yields the subscribe-only form; refuse it rather than panic.
            Destination::UserSelf(_) => {
                return Err(BrokerError::InvalidDestination {
                    destination: error::clip(destination),
                    why: "a user destination is /user/{name}/{destination}",
                });
            }
        };
        // Only topic and user messages get here: other nodes deliver them too.
        if only.is_none() {
            if let Some(observer) = self.inner.message_observer.get() {
                congested.extend(observer.on_message(destination, &headers, &body));
            }
        }
        self.fan_out(route, headers, body, only, congested);
        Ok(())
    }

    /// Publishes one message to the subscribers of the route's keys.
    fn fan_out(
        &self,
        route: router::FanoutRoute,
        headers: Vec<stompbox_stomp::Header>,
        body: bytes::Bytes,
        only: Option<&str>,
        congested: &mut Vec<Arc<dyn Outbox>>,
    ) {
        let keys = [Some(route.key.as_str()), route.anonymous.as_deref()];
        let message = Arc::new(router::StoredMessage {
            id: self.next_message_id(),
            destination: Arc::from(route.delivered_as),
            headers,
            body,
            redelivered: false,
            shared: None,
        });
        self.inner.stats.published(1);
        for key in keys.iter().flatten() {
            let targets = self.inner.state.lock().fanout_targets(key, &message, only);
            if let Some((subs, acks)) = targets {
                let n = router::push_fanout(&subs, &acks, &message, only, congested);
                self.inner.stats.delivered(n as u64);
            }
        }
    }
}

#[cfg(test)]
mod backpressure_tests;
#[cfg(test)]
mod isolation_tests;
#[cfg(test)]
mod queue_tests;
#[cfg(test)]
mod tests;
