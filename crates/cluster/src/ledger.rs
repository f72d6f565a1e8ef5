//! Shared queues, the sans-IO part: Redis key names, and the ledger that decides how many
//! messages this node may take from each queue's stream.
//!
//! Each `/queue/…` is a Redis stream (`stompbox:<cluster>:queue:<queue>`) read through one
//! consumer group, [`GROUP`]; each node reads as consumer `<node id>`. A node takes at most
//! [`PREFETCH`] unsettled messages per local consumer, so that the nodes with consumers share a
//! queue's messages rather than the first reader taking them all. A message is settled (XACK
//! and XDEL) when its consumer acknowledges it; a node that dies leaves its unsettled messages
//! in the group's pending list under its name, and another node claims them once the dead
//! node's liveness key (`stompbox:<cluster>:alive:<node id>`) has expired.

use std::collections::HashMap;

/// The consumer group every node reads a queue's stream through.
pub const GROUP: &str = "stompbox";

/// Unsettled messages a node takes per local consumer of a queue.
pub const PREFETCH: usize = 16;

/// The stream of `queue` (`/queue/…`) in cluster `name`.
pub fn queue_key(name: &str, queue: &str) -> String {
    format!("stompbox:{name}:queue:{queue}")
}

/// The liveness key of `node` in cluster `name` (set with an expiry, refreshed while it runs).
pub fn alive_key(name: &str, node: &str) -> String {
    format!("stompbox:{name}:alive:{node}")
}

/// This node's consumers and unsettled messages, per queue.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ledger {
    queues: HashMap<String, Entry>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Entry {
    consumers: usize,
    unsettled: usize,
}

impl Ledger {
    /// The number of local consumers of `queue` is now `count`.
    pub fn set_consumers(&mut self, queue: &str, count: usize) {
        self.queues.entry(queue.to_string()).or_default().consumers = count;
        self.forget_if_idle(queue);
    }

    /// `n` messages of `queue` were handed to local consumers.
    pub fn taken(&mut self, queue: &str, n: usize) {
        self.queues.entry(queue.to_string()).or_default().unsettled += n;
    }

    /// `n` messages of `queue` are settled or given back.
    pub fn done(&mut self, queue: &str, n: usize) {
        if let Some(e) = self.queues.get_mut(queue) {
            e.unsettled = e.unsettled.saturating_sub(n);
        }
        self.forget_if_idle(queue);
    }

    fn forget_if_idle(&mut self, queue: &str) {
        if self
            .queues
            .get(queue)
            .is_some_and(|e| e.consumers == 0 && e.unsettled == 0)
        {
            self.queues.remove(queue);
        }
    }

    /// How many more messages this node may take from `queue` now.
    pub fn demand(&self, queue: &str) -> usize {
        self.queues
            .get(queue)
            .map_or(0, |e| (e.consumers * PREFETCH).saturating_sub(e.unsettled))
    }

    /// The queues this node may take messages from now, with the demand of each (sorted by
    /// name, so a read names its streams in a stable order).
    pub fn wanted(&self) -> Vec<(String, usize)> {
        let mut v: Vec<_> = self
            .queues
            .keys()
            .map(|q| (q.clone(), self.demand(q)))
            .filter(|(_, demand)| *demand > 0)
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_cluster_queue_and_node() {
        assert_eq!(queue_key("c", "/queue/a"), "stompbox:c:queue:/queue/a");
        assert_eq!(alive_key("c", "00ff"), "stompbox:c:alive:00ff");
    }

    #[test]
    fn demand_is_prefetch_per_consumer_minus_what_is_unsettled() {
        let mut l = Ledger::default();
        assert_eq!(l.demand("/queue/q"), 0);
        l.set_consumers("/queue/q", 2);
        assert_eq!(l.demand("/queue/q"), 2 * PREFETCH);
        l.taken("/queue/q", 2 * PREFETCH + 3);
        assert_eq!(l.demand("/queue/q"), 0);
        l.done("/queue/q", 4);
        assert_eq!(l.demand("/queue/q"), 1);
        assert_eq!(l.wanted(), [("/queue/q".to_string(), 1)]);
    }

    #[test]
    fn a_queue_with_no_consumer_is_not_read_and_is_forgotten_once_settled() {
        let mut l = Ledger::default();
        l.set_consumers("/queue/q", 1);
        l.taken("/queue/q", 2);
        l.set_consumers("/queue/q", 0);
        assert!(l.wanted().is_empty());
        assert_eq!(l.demand("/queue/q"), 0);
        l.done("/queue/q", 5);
        assert_eq!(l, Ledger::default());
    }
}
