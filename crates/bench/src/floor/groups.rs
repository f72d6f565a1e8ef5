//! Who receives what: per destination, the subscriber groups keyed by subscription id, each a
//! list of connections' outgoing queues.
//!
//! Copy-on-write: a destination's groups are an `Arc<Vec<Group>>`; a publisher takes a snapshot
//! (one lock, one `Arc` clone per SEND) and delivers without any lock. Joining and leaving
//! mutate in place unless a snapshot is in flight ([`Arc::make_mut`]), so setting up N
//! subscribers costs O(N) copies, not O(N²). Must not do I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc::Sender;

/// The subscribers of one destination that share a subscription id, hence one MESSAGE frame.
#[derive(Debug, Clone)]
pub(super) struct Group {
    /// The subscription id (the MESSAGE frame's `subscription` header).
    pub(super) id: String,
    /// Each member's connection id and outgoing queue.
    pub(super) members: Vec<(u64, Sender<Bytes>)>,
}

/// All destinations' groups.
#[derive(Debug, Default)]
pub(super) struct Groups {
    destinations: Mutex<HashMap<String, Arc<Vec<Group>>>>,
}

impl Groups {
    /// Adds connection `conn` to the group (`destination`, `id`).
    pub(super) fn join(&self, destination: &str, id: &str, conn: u64, queue: Sender<Bytes>) {
        let mut destinations = self.lock();
        let groups = Arc::make_mut(destinations.entry(destination.to_owned()).or_default());
        match groups.iter_mut().find(|g| g.id == id) {
            Some(group) => group.members.push((conn, queue)),
            None => groups.push(Group {
                id: id.to_owned(),
                members: vec![(conn, queue)],
            }),
        }
    }

    /// Removes connection `conn` from the group (`destination`, `id`), and the group and the
    /// destination when they become empty.
    pub(super) fn leave(&self, destination: &str, id: &str, conn: u64) {
        let mut destinations = self.lock();
        let Some(entry) = destinations.get_mut(destination) else {
            return;
        };
        let groups = Arc::make_mut(entry);
        if let Some(at) = groups.iter().position(|g| g.id == id) {
            let members = &mut groups[at].members;
            if let Some(member) = members.iter().position(|(c, _)| *c == conn) {
                members.swap_remove(member);
            }
            if members.is_empty() {
                groups.swap_remove(at);
            }
        }
        if groups.is_empty() {
            destinations.remove(destination);
        }
    }

    /// The groups of `destination` as they are now.
    pub(super) fn snapshot(&self, destination: &str) -> Option<Arc<Vec<Group>>> {
        self.lock().get(destination).cloned()
    }

    /// How many destinations have subscribers.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Vec<Group>>>> {
        // Nothing panics while the lock is held, and the map stays consistent if it did.
        self.destinations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn queue() -> Sender<Bytes> {
        tokio::sync::mpsc::channel(1).0
    }

    fn members(groups: &Groups, destination: &str) -> Vec<(String, Vec<u64>)> {
        let snapshot = groups.snapshot(destination).unwrap_or_default();
        let ids = |g: &Group| g.members.iter().map(|(c, _)| *c).collect();
        snapshot.iter().map(|g| (g.id.clone(), ids(g))).collect()
    }

    #[test]
    fn members_sharing_a_subscription_id_form_one_group() {
        let groups = Groups::default();
        groups.join("/t", "0", 1, queue());
        groups.join("/t", "0", 2, queue());
        groups.join("/t", "x", 2, queue());
        groups.join("/u", "0", 3, queue());
        let t = members(&groups, "/t");
        assert_eq!(t, vec![("0".into(), vec![1, 2]), ("x".into(), vec![2])]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn leaving_removes_empty_groups_and_destinations() {
        let groups = Groups::default();
        groups.join("/t", "0", 1, queue());
        groups.join("/t", "0", 2, queue());
        groups.leave("/t", "0", 1);
        groups.leave("/t", "0", 1);
        groups.leave("/nowhere", "0", 1);
        assert_eq!(members(&groups, "/t"), vec![("0".into(), vec![2])]);
        groups.leave("/t", "0", 2);
        assert!(groups.snapshot("/t").is_none());
        assert_eq!(groups.len(), 0);
    }

    #[test]
    fn a_snapshot_is_not_changed_by_later_joins() {
        let groups = Groups::default();
        groups.join("/t", "0", 1, queue());
        let before = groups.snapshot("/t").unwrap();
        groups.join("/t", "0", 2, queue());
        groups.leave("/t", "0", 1);
        assert_eq!(before[0].members.len(), 1);
        assert_eq!(before[0].members[0].0, 1);
        assert_eq!(members(&groups, "/t"), vec![("0".into(), vec![2])]);
    }
}
