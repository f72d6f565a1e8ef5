//! Node identity and the rules that keep a message from looping: each node stamps what it
//! publishes with its id and drops what comes back with that id. Also the Redis channel name,
//! the reconnect backoff schedule and URL redaction for logs. Pure functions, no I/O.

use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::envelope::Envelope;

/// One node's id: 16 random hex digits chosen at start (a restarted node is a new node).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> NodeId {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let h = RandomState::new().hash_one((nanos, std::process::id()));
        NodeId(format!("{h:016x}"))
    }

    /// A given id (tests).
    pub fn from_string(id: impl Into<String>) -> NodeId {
        NodeId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a node does with an envelope read from the cluster channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound {
    /// Another node's message: deliver it to this node's subscribers.
    Deliver,
    /// This node's own message coming back: already delivered here, drop it.
    OwnEcho,
}

/// Deliver another node's message; drop this node's own (Redis pub/sub sends a publisher its
/// own messages when it is also subscribed).
pub fn classify(envelope: &Envelope, local: &NodeId) -> Inbound {
    match envelope.origin == local.0 {
        true => Inbound::OwnEcho,
        false => Inbound::Deliver,
    }
}

/// The Redis channel topic messages of cluster `name` travel on.
pub fn topic_channel(name: &str) -> String {
    format!("stompbox:{name}:topic")
}

/// A cluster name is non-empty and has no whitespace, `:` or control characters (it is part
/// of a Redis channel name and of log lines).
pub fn check_cluster_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ':')
    {
        return Err("may not contain whitespace, control characters or `:`");
    }
    Ok(())
}

/// A Redis URL fit for logs and errors: a password (`redis://user:secret@host`) is replaced
/// by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{scheme}://{user}{}", &rest[at..])
}

/// Reconnect delays: 100 ms doubling up to 5 s; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    /// Starts at the first delay.
    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn from(origin: &str) -> Envelope {
        Envelope {
            origin: origin.into(),
            destination: "/topic/t".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn a_node_drops_its_own_echo_and_delivers_others() {
        let a = NodeId::from_string("a");
        assert_eq!(classify(&from("a"), &a), Inbound::OwnEcho);
        assert_eq!(classify(&from("b"), &a), Inbound::Deliver);
    }

    #[test]
    fn two_random_ids_differ() {
        assert_ne!(NodeId::random(), NodeId::random());
        assert_eq!(NodeId::random().as_str().len(), 16);
    }

    #[test]
    fn the_channel_names_the_cluster() {
        assert_eq!(topic_channel("prod"), "stompbox:prod:topic");
    }

    #[test]
    fn cluster_names_are_checked() {
        assert!(check_cluster_name("prod-1").is_ok());
        assert!(check_cluster_name("").is_err());
        assert!(check_cluster_name("a b").is_err());
        assert!(check_cluster_name("a:b").is_err());
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact_url("redis://:pw@host"), "redis://:***@host");
        assert_eq!(redact_url("redis://token@host"), "redis://***@host");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let mut b = Backoff::new();
        let delays: Vec<_> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 100);
    }
}
