//! Counters for metrics and the list of open sessions, fed by the broker's own events.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;
use stompbox_stomp::Version;

use crate::router::State;
use crate::{ClosedBy, EventKind, SessionEvent, Transport};

/// One open session, for listings such as `/api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Session id.
    pub id: Arc<str>,
    /// User, if authenticated.
    pub user: Option<Arc<str>>,
    /// Transport.
    pub transport: Transport,
    /// Peer address.
    pub remote: Option<SocketAddr>,
    /// When the connection opened.
    pub opened_at: SystemTime,
    /// Negotiated version, once CONNECTED.
    pub version: Option<Version>,
    /// Subscriptions held now.
    pub subscriptions: usize,
}

/// How many sessions closed with one code, by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCount {
    /// The close code.
    pub code: u16,
    /// Who closed.
    pub closed_by: ClosedBy,
    /// How many sessions.
    pub count: u64,
}

/// A snapshot of the broker's counters and table sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Sessions open now (connected or not).
    pub sessions_open: u64,
    /// Sessions opened since start.
    pub sessions_opened: u64,
    /// Sessions in the routing tables (opened and not yet closed).
    pub routed_sessions: usize,
    /// Subscriptions across all sessions.
    pub subscriptions: usize,
    /// Topic and user-destination keys with at least one subscriber.
    pub topics: usize,
    /// Queues that have consumers or pending messages.
    pub queues: usize,
    /// Queue messages waiting for a consumer.
    pub pending_messages: usize,
    /// Deliveries waiting for ACK/NACK.
    pub unacked_messages: usize,
    /// Messages published (SEND and Rust `publish`).
    pub messages_published: u64,
    /// MESSAGE frames handed to outboxes.
    pub messages_delivered: u64,
    /// Frames received from clients.
    pub frames_received: u64,
    /// ERROR frames sent.
    pub errors_sent: u64,
    /// Times a session stopped being read because what it sent left outboxes above their
    /// high-water marks (back-pressure).
    pub backpressure_pauses: u64,
    /// Sessions closed at once with 1013 because `max_sessions` were open.
    pub sessions_refused: u64,
    /// Closed sessions by code and closer.
    pub closes: Vec<CloseCount>,
}

#[derive(Default)]
pub(crate) struct Counters {
    opened: AtomicU64,
    closed: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    frames: AtomicU64,
    errors: AtomicU64,
    pauses: AtomicU64,
    refused: AtomicU64,
    closes: Mutex<BTreeMap<(u16, u8), u64>>,
    live: Mutex<HashMap<Arc<str>, SessionSummary>>,
}

fn closer_index(by: ClosedBy) -> u8 {
    match by {
        ClosedBy::Client => 0,
        ClosedBy::Server => 1,
        ClosedBy::Nobody => 2,
    }
}

impl Counters {
    pub(crate) fn opened(&self, summary: SessionSummary) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.live.lock().insert(summary.id.clone(), summary);
    }

    pub(crate) fn published(&self, n: u64) {
        self.published.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn frame_received(&self) {
        self.frames.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn paused(&self) {
        self.pauses.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Sessions opened and not yet closed: two atomic loads, no lock.
    pub(crate) fn open_now(&self) -> u64 {
        let opened = self.opened.load(Ordering::Relaxed);
        opened.saturating_sub(self.closed.load(Ordering::Relaxed))
    }

    pub(crate) fn error_sent(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the live-session list in step with the events.
    pub(crate) fn observe(&self, event: &SessionEvent) {
        match &event.kind {
            EventKind::Connected { version, .. } => {
                if let Some(s) = self.live.lock().get_mut(&event.session_id) {
                    s.version = Some(*version);
                    s.user = event.user.clone();
                }
            }
            EventKind::Subscribe { .. } => {
                if let Some(s) = self.live.lock().get_mut(&event.session_id) {
                    s.subscriptions += 1;
                }
            }
            EventKind::Unsubscribe { .. } => {
                if let Some(s) = self.live.lock().get_mut(&event.session_id) {
                    s.subscriptions = s.subscriptions.saturating_sub(1);
                }
            }
            EventKind::Disconnect { status, .. } => {
                self.live.lock().remove(&event.session_id);
                self.closed.fetch_add(1, Ordering::Relaxed);
                *self
                    .closes
                    .lock()
                    .entry((status.code, closer_index(status.closed_by)))
                    .or_default() += 1;
            }
            _ => {}
        }
    }

    pub(crate) fn sessions(&self) -> Vec<SessionSummary> {
        let mut list: Vec<_> = self.live.lock().values().cloned().collect();
        list.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
        list
    }

    pub(crate) fn snapshot(&self, state: &State) -> BrokerStats {
        let opened = self.opened.load(Ordering::Relaxed);
        let closed = self.closed.load(Ordering::Relaxed);
        const CLOSERS: [ClosedBy; 3] = [ClosedBy::Client, ClosedBy::Server, ClosedBy::Nobody];
        BrokerStats {
            sessions_open: opened.saturating_sub(closed),
            sessions_opened: opened,
            routed_sessions: state.sessions.len(),
            subscriptions: state.sessions.values().map(|s| s.subs.len()).sum(),
            topics: state.topics.len(),
            queues: state.queues.len(),
            pending_messages: state.queues.values().map(|q| q.pending.len()).sum(),
            unacked_messages: state.sessions.values().map(|s| s.unacked.len()).sum(),
            messages_published: self.published.load(Ordering::Relaxed),
            messages_delivered: self.delivered.load(Ordering::Relaxed) + state.queue_deliveries,
            frames_received: self.frames.load(Ordering::Relaxed),
            errors_sent: self.errors.load(Ordering::Relaxed),
            backpressure_pauses: self.pauses.load(Ordering::Relaxed),
            sessions_refused: self.refused.load(Ordering::Relaxed),
            closes: self
                .closes
                .lock()
                .iter()
                .map(|(&(code, by), &count)| CloseCount {
                    code,
                    closed_by: CLOSERS[usize::from(by)],
                    count,
                })
                .collect(),
        }
    }
}
