//! SUBSCRIBE, UNSUBSCRIBE, ACK and NACK: the session's side of the routing tables.

use std::sync::Arc;

use stompbox_stomp::{Command, Frame, Version};

use super::{Session, required};
use crate::acl::Action;
use crate::error::clip;
use crate::router::{AckMode, RouteKey, SubRecord, Subscriber};
use crate::{BrokerError, Destination, EventKind, Use};

impl Session {
    pub(super) fn on_subscribe(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let destination = required(frame, "destination")?;
        let id = match (self.version, frame.header("id")) {
            (_, Some(id)) => id,
            (Version::V1_0, None) => destination,
            (_, None) => {
                return Err(BrokerError::MissingHeader {
                    command: Command::Subscribe,
                    header: "id",
                });
            }
        };
        let ack =
            AckMode::parse(frame.header("ack")).ok_or_else(|| BrokerError::InvalidHeader {
                header: "ack",
                value: clip(frame.header("ack").unwrap_or_default()),
                why: "expected auto, client or client-individual",
            })?;
        let key = match Destination::parse(destination, Use::Subscribe)? {
            Destination::Topic(d) => RouteKey::Fanout(d.to_string()),
            Destination::Queue(d) => RouteKey::Queue(d.to_string()),
            Destination::UserSelf(rest) => RouteKey::Fanout(self.owner_key(rest)),
            Destination::App(_) | Destination::UserOf { .. } => {
                return Err(BrokerError::InvalidDestination {
                    destination: clip(destination),
                    why: "only /topic/, /queue/ and /user/ destinations can be subscribed to",
                });
            }
        };
        self.authorize(Action::Subscribe, destination)?;
        let id: Arc<str> = Arc::from(id);
        let max = self.broker.config().max_subscriptions;
        {
            let mut state = self.broker.inner.state.lock();
            let state = &mut *state;
            let Some(entry) = state.sessions.get_mut(&self.id) else {
                return Err(BrokerError::NotConnected(Command::Subscribe));
            };
            if entry.subs.contains_key(&id) {
                return Err(BrokerError::DuplicateSubscription(clip(&id)));
            }
            if entry.subs.len() >= max {
                return Err(BrokerError::TooManySubscriptions(max));
            }
            entry.subs.insert(
                id.clone(),
                SubRecord {
                    destination: destination.to_string(),
                    key: key.clone(),
                    ack,
                },
            );
            let sub = Subscriber::new(
                self.id.clone(),
                id.clone(),
                ack,
                self.version,
                self.outbox.clone(),
            );
            match &key {
                RouteKey::Fanout(k) => {
                    Arc::make_mut(state.topics.entry(k.clone()).or_default()).push(sub);
                }
                RouteKey::Queue(q) => {
                    state
                        .queues
                        .entry(q.clone())
                        .or_default()
                        .consumers
                        .push(sub);
                    if let Some(store) = &state.shared {
                        store.consumers(q, state.queues[q].consumers.len());
                    }
                    state.drain_pending(q);
                }
            }
        }
        self.emit(EventKind::Subscribe {
            id: id.to_string(),
            destination: destination.to_string(),
        });
        Ok(())
    }

    pub(super) fn on_unsubscribe(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let mut state = self.broker.inner.state.lock();
        let id: String = match (frame.header("id"), frame.header("destination")) {
            (Some(id), _) => id.to_string(),
            // STOMP 1.0 allows unsubscribing by destination.
            (None, Some(d)) if self.version == Version::V1_0 => state
                .sessions
                .get(&self.id)
                .and_then(|e| e.subs.iter().find(|(_, r)| r.destination == d))
                .map(|(id, _)| id.to_string())
                .ok_or_else(|| BrokerError::UnknownSubscription(clip(d)))?,
            _ => {
                return Err(BrokerError::MissingHeader {
                    command: Command::Unsubscribe,
                    header: "id",
                });
            }
        };
        let record = state
            .remove_subscription(&self.id, &id)
            .ok_or_else(|| BrokerError::UnknownSubscription(clip(&id)))?;
        drop(state);
        self.emit(EventKind::Unsubscribe {
            id,
            destination: record.destination,
        });
        Ok(())
    }

    pub(super) fn on_ack(&mut self, frame: Frame) -> Result<(), BrokerError> {
        // Validate the id now, so a bad ACK fails at once even inside a transaction.
        self.ack_id(&frame)?;
        match self.buffer_in_transaction(frame)? {
            Some(frame) => self.ack_now(&frame),
            None => Ok(()),
        }
    }

    /// The header that identifies the delivery: `id` in 1.2, `message-id` before.
    fn ack_id<'f>(&self, frame: &'f Frame) -> Result<&'f str, BrokerError> {
        let header = if self.version == Version::V1_2 {
            "id"
        } else {
            "message-id"
        };
        frame.header(header).ok_or(BrokerError::MissingHeader {
            command: frame.command,
            header,
        })
    }

    pub(super) fn ack_now(&mut self, frame: &Frame) -> Result<(), BrokerError> {
        let command = frame.command;
        let id = self.ack_id(frame)?;
        let unknown = || BrokerError::UnknownAck {
            command,
            id: clip(id),
        };
        let mut state = self.broker.inner.state.lock();
        let state = &mut *state;
        let entry = state.sessions.get_mut(&self.id).ok_or_else(unknown)?;
        let n = if self.version == Version::V1_2 {
            id.parse::<u64>()
                .ok()
                .filter(|n| entry.unacked.contains_key(n))
        } else {
            let subscription = frame.header("subscription");
            entry
                .unacked
                .iter()
                .find(|(_, u)| &*u.message_id == id && subscription.is_none_or(|s| &*u.sub_id == s))
                .map(|(n, _)| *n)
        }
        .ok_or_else(unknown)?;
        let sub_id = entry.unacked[&n].sub_id.clone();
        let cumulative = entry
            .subs
            .get(&sub_id)
            .is_some_and(|r| r.ack == AckMode::Client);
        let settled: Vec<u64> = if cumulative {
            entry
                .unacked
                .range(..=n)
                .filter(|(_, u)| u.sub_id == sub_id)
                .map(|(k, _)| *k)
                .collect()
        } else {
            vec![n]
        };
        // Queue deliveries: put back on NACK, done on ACK.
        let (nacked, acked): (Vec<_>, Vec<_>) = settled
            .into_iter()
            .filter_map(|k| entry.unacked.remove(&k)?.requeue)
            .partition(|_| command == Command::Nack);
        for (queue, message) in &acked {
            state.settle(queue, message);
        }
        state.requeue_all(nacked);
        Ok(())
    }
}
