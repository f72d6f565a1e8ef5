//! The one hook through which a node learns that a topic or user-destination message was
//! routed here, so that a cluster adapter (crates/cluster) can forward it to other nodes.
//!
//! It owns no I/O and must not block: the observer is called on the sending session's path,
//! after the message is parsed and before it fans out. With no observer installed the cost is
//! one atomic load per message.

use std::sync::Arc;

use bytes::Bytes;
use stompbox_stomp::Header;

use crate::Outbox;

/// Told about every message routed to a `/topic/…` or `/user/{name}/…` destination on this
/// node: a client's SEND, an application handler's publish or [`crate::Broker::publish`] — not
/// application replies to one session, not queue messages and
/// not messages delivered with [`crate::Broker::deliver_remote`] (they came from another node;
/// telling the observer would loop).
pub trait MessageObserver: Send + Sync + 'static {
    /// One message: its destination as sent (`/topic/…` or `/user/{name}/…`), the user headers as delivered (no
    /// `destination`, `transaction`, `receipt` or `content-length`) and the body. Called once
    /// per message whatever the number of subscribers; must return quickly.
    ///
    /// `Some(outbox)` when the observer is behind (say, Redis slower than the senders): the
    /// sending session stops reading until that outbox is drained, as for a congested
    /// subscriber (nothing is pushed to it).
    fn on_message(
        &self,
        destination: &str,
        headers: &[Header],
        body: &Bytes,
    ) -> Option<Arc<dyn Outbox>>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use parking_lot::Mutex;
    use stompbox_stomp::{Header, Str};

    use crate::{Broker, MessageObserver};

    type Seen = Arc<Mutex<Vec<(String, Vec<Header>, Bytes)>>>;

    struct Recorder(Seen);

    impl MessageObserver for Recorder {
        fn on_message(
            &self,
            destination: &str,
            headers: &[Header],
            body: &Bytes,
        ) -> Option<Arc<dyn crate::Outbox>> {
            self.0
                .lock()
                .push((destination.to_string(), headers.to_vec(), body.clone()));
            None
        }
    }

    fn observed() -> (Broker, Seen) {
        let broker = Broker::default();
        let seen = Seen::default();
        assert!(broker.observe_messages(Recorder(seen.clone())));
        (broker, seen)
    }

    #[test]
    fn a_topic_publish_is_observed_once_with_its_headers_and_body() {
        let (broker, seen) = observed();
        let headers = vec![(Str::from("x-k"), Str::from("v"))];
        broker
            .publish("/topic/a", headers.clone(), "hi")
            .expect("publish");
        let seen = seen.lock();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "/topic/a");
        assert_eq!(seen[0].1, headers);
        assert_eq!(seen[0].2, Bytes::from_static(b"hi"));
    }

    #[test]
    fn a_user_message_is_observed_with_the_destination_as_sent() {
        let (broker, seen) = observed();
        broker
            .publish("/user/bob/queue/x", Vec::new(), "u")
            .expect("user");
        let seen = seen.lock();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "/user/bob/queue/x");
    }

    #[test]
    fn queue_and_remote_messages_are_not_observed() {
        let (broker, seen) = observed();
        broker.publish("/queue/q", Vec::new(), "q").expect("queue");
        broker
            .deliver_remote("/topic/a", Vec::new(), Bytes::from_static(b"r"))
            .expect("remote");
        broker
            .deliver_remote("/user/bob/queue/x", Vec::new(), Bytes::from_static(b"r"))
            .expect("remote user");
        assert!(seen.lock().is_empty());
    }

    #[test]
    fn only_one_observer_can_be_installed() {
        let (broker, _) = observed();
        assert!(!broker.observe_messages(Recorder(Seen::default())));
    }

    #[test]
    fn deliver_remote_refuses_queues() {
        let broker = Broker::default();
        let err = broker.deliver_remote("/queue/q", Vec::new(), Bytes::new());
        assert!(matches!(
            err,
            Err(crate::BrokerError::InvalidDestination { .. })
        ));
    }
}
