//! Queues shared by several nodes: the hook through which a cluster adapter (crates/cluster)
//! stores every `/queue/…` message outside this node and hands it back to exactly one
//! consumer on some node, acknowledged end to end.
//!
//! With a [`SharedQueues`] installed, a SEND to `/queue/…` is not delivered here: it goes to
//! [`SharedQueues::enqueue`], and its RECEIPT waits until the store says the message is kept
//! ([`StoreTicket::stored`]). Messages come back through [`crate::Broker::deliver_shared`] to this
//! node's consumers, as local queue messages do (round-robin, ack modes, redelivery to another
//! local consumer on NACK or a lost session), and the store is told when each one is done
//! ([`SharedQueues::settled`]) or when this node can no longer deliver it
//! ([`SharedQueues::release`]).
//!
//! All methods are called with the broker's routing lock held or on a session's path: they must
//! return quickly, never block, and never call back into the broker.

use std::sync::Arc;

use bytes::Bytes;
use stompbox_stomp::{Header, Version};

use crate::outbox::{Outbound, Outbox};
use crate::router::{error_frame, frame_item, receipt_frame};
use crate::{Broker, CloseStatus, ClosedBy};

/// A queue message as the cluster's store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMessage {
    /// The store's id for it (a Redis stream entry id), given back in [`SharedQueues::settled`].
    pub entry: Arc<str>,
    /// User headers, as delivered.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Bytes,
    /// Delivered before to a consumer that did not acknowledge it.
    pub redelivered: bool,
}

/// Stores queue messages for all nodes and tells this node's broker which to deliver.
pub trait SharedQueues: Send + Sync + 'static {
    /// A message SENT to `queue` on this node: store it. When a client sent it, `ticket` is
    /// there: complete it once the message is kept ([`StoreTicket::stored`], which sends the
    /// RECEIPT if one was asked for) or cannot be ([`StoreTicket::failed`], an ERROR). An `Err`
    /// refuses the message at once: the sender gets an ERROR with this text.
    ///
    /// `Ok(Some(gate))` when the store is behind: the sending session stops reading until the
    /// gate is drained ([`Outbox::is_congested`] / [`Outbox::poll_drained`]; nothing is pushed
    /// to it), as it does for a congested subscriber — a fast sender is slowed, not refused.
    fn enqueue(
        &self,
        queue: &str,
        headers: &[Header],
        body: &Bytes,
        ticket: Option<StoreTicket>,
    ) -> Result<Option<Arc<dyn Outbox>>, String>;

    /// This node's number of consumers of `queue` changed to `count` (0: the last one left).
    fn consumers(&self, queue: &str, count: usize);

    /// A message handed over by [`crate::Broker::deliver_shared`] is done: acknowledged, or
    /// delivered to an `ack:auto` subscription.
    fn settled(&self, queue: &str, entry: &str);

    /// Messages this node was given but can no longer deliver (no consumer of `queue` is left
    /// here): store them again for other nodes, as redelivered.
    fn release(&self, queue: &str, messages: Vec<SharedMessage>);
}

/// The RECEIPT a SEND to a shared queue is owed, sent once the store has the message.
pub struct StoreTicket {
    pub(crate) broker: Broker,
    pub(crate) session: Arc<str>,
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) version: Version,
    pub(crate) receipt: Option<String>,
}

impl std::fmt::Debug for StoreTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreTicket")
            .field("session", &self.session)
            .field("receipt", &self.receipt)
            .finish_non_exhaustive()
    }
}

impl StoreTicket {
    /// The message is kept: the sender gets its RECEIPT, if it asked for one.
    pub fn stored(self) {
        if let Some(receipt) = &self.receipt {
            self.outbox
                .push(frame_item(&receipt_frame(receipt), self.version));
        }
    }

    /// The message could not be kept: the sender gets an ERROR saying why (with the receipt
    /// id, if it asked for a receipt), and the session is closed with 1013 (Try Again Later), as
    /// for any STOMP ERROR.
    pub fn failed(self, why: &str) {
        let text = format!("the queue message was not stored: {why}");
        let frame = error_frame(&text, self.receipt.as_deref());
        self.broker.inner.stats.error_sent();
        self.outbox.push(frame_item(&frame, self.version));
        self.broker.inner.state.lock().mark_closing(&self.session);
        self.outbox.push(Outbound::Close(CloseStatus::new(
            stompbox_closecode::codes::TRY_AGAIN_LATER,
            text,
            ClosedBy::Server,
        )));
    }
}
