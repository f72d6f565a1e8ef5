//! Everything a client can do wrong, and what each does on the wire: an ERROR frame whose
//! `message` header is the error's text, then a close with [`BrokerError::close_code`].

use stompbox_closecode::codes;
use stompbox_stomp::{Command, DecodeError};

/// A protocol, routing or policy error that ends a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The bytes were not a valid STOMP frame.
    #[error("malformed frame: {0}")]
    Decode(#[from] DecodeError),
    /// A frame other than CONNECT/STOMP arrived before CONNECT.
    #[error("{0} before CONNECT: the first frame must be CONNECT or STOMP")]
    NotConnected(Command),
    /// CONNECT on a connected session.
    #[error("already connected: a second {0} frame is not allowed")]
    AlreadyConnected(Command),
    /// A client sent a server frame (CONNECTED, MESSAGE, RECEIPT, ERROR).
    #[error("{0} is a server frame; clients may not send it")]
    ServerFrame(Command),
    /// A required header is missing.
    #[error("{command} frame is missing the required `{header}` header")]
    MissingHeader {
        /// The frame's command.
        command: Command,
        /// The missing header.
        header: &'static str,
    },
    /// A header has a value the broker cannot use.
    #[error("invalid `{header}` header `{value}`: {why}")]
    InvalidHeader {
        /// The header.
        header: &'static str,
        /// Its value (cut to 200 characters).
        value: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// No protocol version in common.
    #[error("unsupported protocol version `{offered}`: supported versions are 1.0, 1.1 and 1.2")]
    UnsupportedVersion {
        /// The client's `accept-version`.
        offered: String,
    },
    /// The authenticator refused the CONNECT.
    #[error("access refused: {0}")]
    AuthFailed(String),
    /// The destination is malformed or names no known kind.
    #[error("invalid destination `{destination}`: {why}")]
    InvalidDestination {
        /// The destination (cut to 200 characters).
        destination: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// SEND to an `/app/…` destination no handler serves.
    #[error("no application handler for `{0}`")]
    NoAppHandler(String),
    /// An application handler refused the message.
    #[error("application error: {0}")]
    App(String),
    /// SUBSCRIBE reused an id that is active on this session.
    #[error("subscription id `{0}` is already in use on this session")]
    DuplicateSubscription(String),
    /// UNSUBSCRIBE of an id that is not subscribed.
    #[error("no subscription with id `{0}`")]
    UnknownSubscription(String),
    /// ACK/NACK of a message that is not waiting for one.
    #[error(
        "{command} of unknown message `{id}`: it was never delivered with client acknowledgement, or was already acknowledged"
    )]
    UnknownAck {
        /// ACK or NACK.
        command: Command,
        /// The id the client sent.
        id: String,
    },
    /// BEGIN of a transaction that is already open.
    #[error("transaction `{0}` is already open")]
    DuplicateTransaction(String),
    /// COMMIT/ABORT (or a transactional frame) naming no open transaction.
    #[error("{command} names unknown transaction `{id}`")]
    UnknownTransaction {
        /// The frame's command.
        command: Command,
        /// The transaction id.
        id: String,
    },
    /// Too many subscriptions on one session.
    #[error("subscription limit reached: at most {0} subscriptions per session")]
    TooManySubscriptions(usize),
    /// The session sent frames faster than `max_inbound_rate` allows.
    #[error("inbound rate limit exceeded: more than {rate} frames/s (burst {burst})")]
    InboundRateExceeded {
        /// Frames per second allowed on average.
        rate: u32,
        /// Frames allowed at once.
        burst: u32,
    },
    /// The session was opened while `max_sessions` sessions were open.
    #[error("too many connections: the server holds at most {0} sessions; try again later")]
    TooManySessions(usize),
    /// The authorizer refused a SUBSCRIBE or SEND.
    #[error("{command} to `{destination}` refused by the ACL: {why}")]
    AccessDenied {
        /// `SUBSCRIBE` or `SEND`.
        command: &'static str,
        /// The destination (cut to 200 characters).
        destination: String,
        /// The authorizer's reason.
        why: String,
    },
    /// SEND to a queue that already keeps its most messages waiting for a consumer.
    #[error(
        "queue `{queue}` is full: {limit} messages are waiting for a consumer (limits.max_queue_depth); this message was not accepted"
    )]
    QueueFull {
        /// The queue (cut to 200 characters).
        queue: String,
        /// The limit.
        limit: usize,
    },
    /// The cluster's queue store refused the message (see [`crate::SharedQueues`]).
    #[error("queue `{queue}`: the message was not accepted: {why}")]
    QueueUnavailable {
        /// The queue (cut to 200 characters).
        queue: String,
        /// What the store said.
        why: String,
    },
}

impl BrokerError {
    /// The WebSocket close code that follows the ERROR frame. The one place where this mapping
    /// lives: 1009 for size limits, 1008 for refused access, 1013 for a full queue, 1002 for
    /// every other violation.
    pub fn close_code(&self) -> u16 {
        match self {
            BrokerError::Decode(e) => e.close_code(),
            BrokerError::AuthFailed(_) => codes::POLICY_VIOLATION,
            BrokerError::TooManySubscriptions(_) => codes::POLICY_VIOLATION,
            BrokerError::InboundRateExceeded { .. } => codes::POLICY_VIOLATION,
            BrokerError::TooManySessions(_) => codes::TRY_AGAIN_LATER,
            BrokerError::AccessDenied { .. } => codes::POLICY_VIOLATION,
            // Capacity, not the client's fault: try again once consumers have caught up.
            BrokerError::QueueFull { .. } | BrokerError::QueueUnavailable { .. } => {
                codes::TRY_AGAIN_LATER
            }
            _ => codes::PROTOCOL_ERROR,
        }
    }
}

pub(crate) fn clip(value: &str) -> String {
    value.chars().take(200).collect()
}
