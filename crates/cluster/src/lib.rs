//! Several stompbox nodes joined through Redis: a topic message sent on one node reaches the
//! topic's subscribers on every node, a `/user/{name}/…` message that user's sessions on every
//! node.
//!
//! The sans-IO part — the [`envelope`] a message travels in, node ids and the rule that drops a
//! node's own messages ([`node`]), the reconnect [`Backoff`] — is plain functions. The tokio
//! adapter ([`Cluster`]) installs a [`stompbox_broker::MessageObserver`] that encodes each topic
//! or user message once and publishes it on the cluster's Redis channel, and a subscriber that hands
//! other nodes' messages to [`stompbox_broker::Broker::deliver_remote`].
//!
//! Each node also writes its close analytics to Redis and reads the others' ([`share`],
//! [`StatsShare`]), so any node's `/api/stats` shows the cluster's close codes.
//!
//! Queues are shared through Redis streams with a consumer group (see [`ledger`]): each queue
//! message reaches one consumer on some node, acknowledged end to end, and what a dead node
//! left unacknowledged is claimed by another (at-least-once). Topic pub/sub is at-most-once: messages published while Redis is unreachable
//! are counted and logged, not replayed.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod adapter;
pub mod envelope;
mod gate;
pub mod ledger;
pub mod node;
mod queues;
pub mod share;
mod share_redis;

pub use adapter::{Cluster, ClusterStats};
pub use envelope::{Envelope, EnvelopeError};
pub use node::{Backoff, Inbound, NodeId};
pub use share::{ClusterReport, NodeStats};
pub use share_redis::StatsShare;

use std::time::Duration;

/// How a node joins its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The Redis server, `redis://host:port[/db]`, or `rediss://…` for TLS.
    pub redis_url: String,
    /// For `rediss://`: a PEM file with the certificate(s) to trust for the Redis server (a
    /// private CA, or the server's self-signed certificate) instead of the system's roots.
    pub redis_ca: Option<std::path::PathBuf>,
    /// Nodes with the same name share topics, user destinations and queues (Redis keys
    /// `stompbox:<name>:…`).
    /// Default: `default`.
    pub name: String,
    /// How long to wait for Redis at start before giving up. Default: 5 s.
    pub connect_timeout: Duration,
    /// How long after a node stops refreshing its liveness key (it died, or lost Redis) the
    /// other nodes take over its unacknowledged queue messages. Default: 10 s.
    pub node_timeout: Duration,
}

impl ClusterConfig {
    /// The default name and timeout for this URL.
    pub fn new(redis_url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            redis_url: redis_url.into(),
            redis_ca: None,
            name: "default".to_string(),
            connect_timeout: Duration::from_secs(5),
            node_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a node could not join its cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The URL is not a Redis URL (bad input: the binary exits 2).
    #[error("cluster.redis_url `{url}` is not a Redis URL: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What the Redis client said.
        reason: String,
    },
    /// The CA file for `rediss://` cannot be used (bad input: the binary exits 2).
    #[error("cluster.redis_ca `{path}`: {reason}")]
    InvalidCa {
        /// The file.
        path: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The cluster name cannot be part of a channel name (bad input: the binary exits 2).
    #[error("cluster.name `{name}` {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Redis did not answer at start.
    #[error("cannot reach Redis at {url} ({what}): {reason}")]
    Unreachable {
        /// The URL, password redacted.
        url: String,
        /// Which connection failed: `publish` or `subscribe`.
        what: &'static str,
        /// The connection error, or a timeout.
        reason: String,
    },
    /// The broker already has a topic observer (the node joined a cluster already).
    #[error("this broker already forwards its topics (joined a cluster twice?)")]
    AlreadyJoined,
}

impl ClusterError {
    /// Whether the error comes from bad configuration rather than the environment.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ClusterError::InvalidUrl { .. }
                | ClusterError::InvalidName { .. }
                | ClusterError::InvalidCa { .. }
        )
    }
}
