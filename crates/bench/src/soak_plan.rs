//! What a soak session is told to do ([`Plan`], [`Ending`]) and what the sessions of a run
//! record ([`Outcome`], [`Tally`]), shared on the driver's one thread ([`Shared`]).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::soak_wire::Framing;
use crate::stomp::ConnectParams;
use crate::target::Target;

/// How a session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Ending {
    /// DISCONNECT with a receipt, then WebSocket Close 1000.
    Disconnect,
    /// WebSocket Close 1000 without DISCONNECT.
    Close,
    /// The socket closed without a Close frame (FIN, or RST when unread data is left).
    Drop,
    /// SO_LINGER 0, then close: an RST.
    Reset,
    /// Nothing sent any more until the server's heart-beat timeout closes the session.
    Silent,
    /// The end-of-run queue drainer: DISCONNECT like `Disconnect`.
    Drain,
}

impl Ending {
    /// Every ending a run draws from, with its flag name.
    pub(crate) const DRAWN: [(Ending, &'static str); 5] = [
        (Ending::Disconnect, "disconnect"),
        (Ending::Close, "close"),
        (Ending::Drop, "drop"),
        (Ending::Reset, "reset"),
        (Ending::Silent, "silent"),
    ];

    /// The close code and `closedBy=` word the server must log for this ending.
    pub(crate) fn expected(self) -> (u16, &'static str) {
        match self {
            Ending::Disconnect | Ending::Close | Ending::Drain => (1000, "client"),
            Ending::Drop | Ending::Reset => (1006, "none(abnormal)"),
            Ending::Silent => (4408, "server"),
        }
    }
}

/// Where a SEND goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum To {
    Topic(u32),
    /// Queue SENDs always ask for a receipt: a receipted queue message must be delivered.
    Queue(u32),
}

/// What one session will do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) framing: Framing,
    pub(crate) ending: Ending,
    /// Offer heart-beats (and send them while active).
    pub(crate) heartbeat: bool,
    /// How long it stays active before its ending.
    pub(crate) life: Duration,
    pub(crate) topics: Vec<u32>,
    /// The queue it consumes from (client-individual ACKs; `auto` for a drainer).
    pub(crate) queue: Option<u32>,
    /// SENDs spread over its life, and whether topic ones ask for a receipt.
    pub(crate) sends: Vec<(To, bool)>,
}

/// How a session really ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum End {
    /// Still running (its task was stopped: the socket was dropped).
    Running,
    /// No STOMP session: the connection or upgrade failed.
    SetupFailed,
    /// As its plan said.
    Planned,
    /// The server closed it before its planned ending: the WebSocket Close code, if any.
    Server(Option<u16>),
    /// The client gave up (a time-out, a bad frame) and dropped the socket.
    Aborted,
}

/// One session's record.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) framing: Framing,
    pub(crate) ending: Ending,
    /// The CONNECTED frame's `session` header (or the SockJS URL's session id before it).
    pub(crate) id: Option<String>,
    pub(crate) end: End,
    pub(crate) problem: Option<String>,
}

/// Client-side counts of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Counts {
    pub(crate) topic_sends: u64,
    pub(crate) queue_sends: u64,
    pub(crate) receipts_asked: u64,
    pub(crate) receipts: u64,
    pub(crate) topic_messages: u64,
    pub(crate) queue_messages: u64,
    pub(crate) redelivered: u64,
    pub(crate) acks: u64,
    pub(crate) heartbeats_sent: u64,
    pub(crate) heartbeats_received: u64,
}

/// What the sessions of a run record.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) outcomes: Vec<Outcome>,
    /// Queue messages whose SEND receipt arrived.
    pub(crate) accepted: HashSet<u64>,
    /// Queue messages received, and how many times.
    pub(crate) delivered: HashMap<u64, u32>,
    pub(crate) counts: Counts,
}

/// What every session of a run shares (one thread).
pub(crate) struct Shared {
    pub(crate) target: Target,
    pub(crate) tcp: Option<SocketAddr>,
    pub(crate) sources: Vec<IpAddr>,
    pub(crate) connect: ConnectParams,
    pub(crate) tally: RefCell<Tally>,
    next_source: Cell<usize>,
    next_session: Cell<u64>,
}

impl Shared {
    pub(crate) fn new(
        target: Target,
        tcp: Option<SocketAddr>,
        sources: Vec<IpAddr>,
        connect: ConnectParams,
    ) -> Shared {
        Shared {
            target,
            tcp,
            sources,
            connect,
            tally: RefCell::default(),
            next_source: Cell::new(0),
            next_session: Cell::new(0),
        }
    }

    /// A new session number.
    pub(crate) fn next_session(&self) -> u64 {
        let k = self.next_session.get();
        self.next_session.set(k + 1);
        k
    }

    pub(crate) fn source(&self) -> Option<IpAddr> {
        let i = self.next_source.get();
        self.next_source.set(i.wrapping_add(1));
        self.sources.get(i % self.sources.len().max(1)).copied()
    }

    pub(crate) fn set(&self, idx: usize, f: impl FnOnce(&mut Outcome)) {
        if let Some(o) = self.tally.borrow_mut().outcomes.get_mut(idx) {
            f(o);
        }
    }
}

/// The key of a queue message: session number and SEND number.
pub(crate) fn queue_key(k: u64, i: usize) -> u64 {
    k * 64 + i as u64
}

/// The key in a queue message body `soak-q K I`.
pub(crate) fn parse_queue_body(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?.strip_prefix("soak-q ")?;
    let (k, i) = text.split_once(' ')?;
    Some(queue_key(k.parse().ok()?, i.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bodies_name_their_message() {
        assert_eq!(parse_queue_body(b"soak-q 7 3"), Some(queue_key(7, 3)));
        assert_eq!(parse_queue_body(b"soak-t 7 3"), None);
        assert_eq!(parse_queue_body(b"soak-q x 3"), None);
        assert_ne!(queue_key(1, 0), queue_key(0, 1));
    }

    #[test]
    fn endings_say_what_the_server_must_log() {
        assert_eq!(Ending::Drop.expected(), (1006, "none(abnormal)"));
        assert_eq!(Ending::Silent.expected().0, 4408);
        assert_eq!(Ending::Disconnect.expected(), (1000, "client"));
    }
}
