//! Queues (`/queue/…`): each message goes to one consumer, round-robin, or waits until one
//! subscribes — at most `max_queue_depth` waiting messages per queue; a SEND over that is refused
//! with an ERROR (nothing is dropped silently).
//!
//! What a queue promises (in memory only: a restart loses what it holds):
//! - a message the broker accepted (its RECEIPT is sent after acceptance) is handed to a consumer
//!   or kept until one subscribes;
//! - `ack:client` / `ack:client-individual`: a delivery stays registered with its session until
//!   ACK; NACK, UNSUBSCRIBE or the end of the session (however it ends) put it back, marked
//!   `redelivered:true`, to another consumer or at the front of the queue, ahead of newer
//!   messages and in its original order (at-least-once);
//! - `ack:auto`: a delivery counts as done once queued for the consumer's connection, as with
//!   RabbitMQ's automatic acknowledgement (at-most-once: it is lost if that connection dies first);
//! - a session that is closing (an ERROR or a Close is on its way) gets no more deliveries.
//!
//! In a cluster ([`crate::SharedQueues`]) the same rules hold for the messages the store hands to
//! this node; the store learns when each is done and gets back those no consumer here can take.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::outbox::Outbox;
use crate::router::{AckMode, Encodings, State, StoredMessage, Subscriber, push_message};

/// One queue: its consumers and the messages waiting for one.
#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) consumers: Vec<Subscriber>,
    /// Where the round-robin goes on.
    pub(crate) next: usize,
    /// Messages waiting for a consumer, oldest first. Not empty only while no consumer can take
    /// them (none subscribed, or all closing).
    pub(crate) pending: VecDeque<Arc<StoredMessage>>,
}

/// The queue already holds `max_queue_depth` messages waiting for a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

/// A delivery to put back: the queue's name and the message.
pub(crate) type Requeue = (String, Arc<StoredMessage>);

impl State {
    /// A new message for `queue`: handed to the next consumer, else kept — unless `max_depth`
    /// messages are kept already. Returns the consumer's outbox when that delivery left it
    /// congested.
    pub(crate) fn publish_to_queue(
        &mut self,
        queue: &str,
        message: Arc<StoredMessage>,
        max_depth: usize,
    ) -> Result<Option<Arc<dyn Outbox>>, QueueFull> {
        let waiting = match self.queues.get(queue) {
            Some(q) if q.pending.len() >= max_depth => return Err(QueueFull),
            Some(q) => !q.pending.is_empty(),
            None => false,
        };
        // Nothing overtakes a waiting message (and with messages waiting, no consumer can take
        // one anyway).
        let message = match waiting {
            false => match self.deliver(queue, message) {
                Ok(congested) => return Ok(congested),
                Err(message) => message,
            },
            true => message,
        };
        self.queues
            .entry(queue.to_string())
            .or_default()
            .pending
            .push_back(message);
        Ok(None)
    }

    /// Hands `message` to the next consumer of `queue` whose session is not closing; gives it
    /// back when there is none. Returns the consumer's outbox when left congested.
    fn deliver(
        &mut self,
        queue: &str,
        message: Arc<StoredMessage>,
    ) -> Result<Option<Arc<dyn Outbox>>, Arc<StoredMessage>> {
        let Some(q) = self.queues.get_mut(queue) else {
            return Err(message);
        };
        let n = q.consumers.len();
        let mut chosen = None;
        for _ in 0..n {
            let i = q.next % n;
            q.next = i + 1;
            let sub = &q.consumers[i];
            if self.closing.is_empty() || !self.closing.contains(&sub.session) {
                chosen = Some(sub.clone());
                break;
            }
        }
        let Some(sub) = chosen else {
            return Err(message);
        };
        let ack = match sub.ack {
            AckMode::Auto => {
                self.settle(queue, &message);
                None
            }
            AckMode::Client | AckMode::ClientIndividual => {
                self.register_unacked(&sub, &message, Some(queue))
            }
        };
        push_message(&sub, ack, Encodings::new(&message).tail(sub.version));
        self.queue_deliveries += 1;
        Ok(sub.outbox.is_congested().then_some(sub.outbox))
    }

    /// Gives waiting messages to the queue's consumers, round-robin, oldest first.
    pub(crate) fn drain_pending(&mut self, queue: &str) {
        while let Some(message) = self
            .queues
            .get_mut(queue)
            .and_then(|q| q.pending.pop_front())
        {
            if let Err(message) = self.deliver(queue, message) {
                if let Some(q) = self.queues.get_mut(queue) {
                    q.pending.push_front(message);
                }
                return;
            }
        }
    }

    /// Puts deliveries back, marked `redelivered`: each goes to another consumer at once, or to
    /// the front of its queue — in the order given, ahead of newer messages. Never refused by
    /// `max_queue_depth`: these messages were accepted already.
    pub(crate) fn requeue_all(&mut self, messages: Vec<Requeue>) {
        let mut kept = Vec::new();
        for (queue, message) in messages {
            let again = if message.redelivered {
                message
            } else {
                let mut copy = (*message).clone();
                copy.redelivered = true;
                Arc::new(copy)
            };
            let can_deliver = self
                .queues
                .get(&queue)
                .is_some_and(|q| q.pending.is_empty());
            let again = match can_deliver {
                true => match self.deliver(&queue, again) {
                    Ok(_) => continue,
                    Err(again) => again,
                },
                false => again,
            };
            kept.push((queue, again));
        }
        for (queue, message) in kept.into_iter().rev() {
            self.queues
                .entry(queue)
                .or_default()
                .pending
                .push_front(message);
        }
    }

    /// After a consumer left: tells the shared store how many are left, gives it back the shared
    /// messages nobody here can take any more, and drops a queue that has neither consumers nor
    /// waiting messages.
    pub(crate) fn forget_queue_if_idle(&mut self, name: &str) {
        let Some(q) = self.queues.get_mut(name) else {
            return;
        };
        if let Some(store) = &self.shared {
            store.consumers(name, q.consumers.len());
            if q.consumers.is_empty() {
                let mut released = Vec::new();
                q.pending.retain(|m| {
                    let Some(entry) = &m.shared else { return true };
                    released.push(crate::SharedMessage {
                        entry: entry.clone(),
                        headers: m.headers.clone(),
                        body: m.body.clone(),
                        redelivered: m.redelivered,
                    });
                    false
                });
                if !released.is_empty() {
                    store.release(name, released);
                }
            }
        }
        if q.consumers.is_empty() && q.pending.is_empty() {
            self.queues.remove(name);
        }
    }

    /// Tells the shared store (if any) that `message` of `queue`, if it came from the store, is
    /// done: acknowledged, or delivered to an `ack:auto` subscription.
    pub(crate) fn settle(&self, queue: &str, message: &StoredMessage) {
        if let (Some(store), Some(entry)) = (&self.shared, &message.shared) {
            store.settled(queue, entry);
        }
    }

    /// No more queue deliveries to `session`: an ERROR or a Close is on its way to it.
    pub(crate) fn mark_closing(&mut self, session: &str) {
        if let Some((id, _)) = self.sessions.get_key_value(session) {
            let id = id.clone();
            self.closing.insert(id);
        }
    }
}
