//! Routing state shared by all sessions: topic and user-destination subscribers, queues with
//! their consumers and pending messages (see [`crate::queue`]), and each session's
//! unacknowledged deliveries.
//!
//! All of it sits behind one mutex, held only to read or change the tables; a topic fan-out
//! copies the subscriber list's `Arc` under the lock and pushes to outboxes outside it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use stompbox_stomp::{Command, Header, MessageTemplate, Str, Version};

use crate::CloseStatus;
use crate::outbox::{Outbound, Outbox, Tail};
use crate::queue::{Queue, Requeue};

/// How a subscription acknowledges messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// No ACK needed.
    Auto,
    /// ACK is cumulative: it acknowledges every earlier message of the subscription.
    Client,
    /// ACK acknowledges one message.
    ClientIndividual,
}

impl AckMode {
    pub(crate) fn parse(value: Option<&str>) -> Option<AckMode> {
        match value {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A message as the broker keeps it: id, user headers and body.
#[derive(Debug, Clone)]
pub(crate) struct StoredMessage {
    pub(crate) id: Arc<str>,
    pub(crate) destination: Arc<str>,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Bytes,
    pub(crate) redelivered: bool,
    /// The shared store's entry id, for a queue message another node may also hold (see
    /// [`crate::SharedQueues`]).
    pub(crate) shared: Option<Arc<str>>,
}

impl StoredMessage {
    fn shared_headers(&self) -> Vec<Header> {
        let mut h = Vec::with_capacity(self.headers.len() + 3);
        h.push((Str::from_static("message-id"), Str::from(&self.id)));
        h.push((
            Str::from_static("destination"),
            Str::from(&self.destination),
        ));
        if self.redelivered {
            h.push((Str::from_static("redelivered"), Str::from_static("true")));
        }
        h.extend(self.headers.iter().cloned());
        h
    }
}

/// One subscription as the routing tables see it.
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub(crate) session: Arc<str>,
    pub(crate) id: Arc<str>,
    pub(crate) ack: AckMode,
    pub(crate) version: Version,
    pub(crate) outbox: Arc<dyn Outbox>,
    /// `MESSAGE` and `subscription` lines, encoded once at SUBSCRIBE and shared by every
    /// delivery that has no `ack` header.
    pub(crate) head: Bytes,
}

impl Subscriber {
    /// A subscription's routing entry.
    pub(crate) fn new(
        session: Arc<str>,
        id: Arc<str>,
        ack: AckMode,
        version: Version,
        outbox: Arc<dyn Outbox>,
    ) -> Subscriber {
        let mut head = BytesMut::new();
        MessageTemplate::write_head(&mut head, version, &id, None);
        Subscriber {
            session,
            id,
            ack,
            version,
            outbox,
            head: head.freeze(),
        }
    }
}

/// Where a subscription is filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteKey {
    /// Topic or user destination: a key of `State::topics`.
    Fanout(String),
    /// A queue name.
    Queue(String),
}

/// The routing key of a user destination: control characters cannot occur in a real
/// destination, so this never collides with a topic.
pub(crate) fn user_key(user: &str, rest: &str) -> String {
    format!("\u{1}user\u{1}{user}\u{1}{rest}")
}

/// The routing key of an anonymous session's user destination. Kept apart from users' keys, so
/// that no session id can receive a user's messages. A session id the broker chose is reachable
/// by a SEND to `/user/{id}/…`; one the client chose (a SockJS URL's) is not — a client could
/// pick another user's name — and only the session's own application replies reach it.
pub(crate) fn anonymous_key(session_id: &str, addressable: bool, rest: &str) -> String {
    let space = if addressable { "anon" } else { "private" };
    format!("\u{1}{space}\u{1}{session_id}\u{1}{rest}")
}

/// Where a topic or user-destination message fans out on this node: its routing key, the
/// anonymous session's key a `/user/{id}/…` may also mean, and the destination delivered.
pub(crate) struct FanoutRoute {
    pub(crate) key: String,
    pub(crate) anonymous: Option<String>,
    pub(crate) delivered_as: String,
}

impl FanoutRoute {
    /// A `/topic/…`: delivered as sent.
    pub(crate) fn topic(destination: &str) -> FanoutRoute {
        FanoutRoute {
            key: destination.to_string(),
            anonymous: None,
            delivered_as: destination.to_string(),
        }
    }

    /// `/user/{user}{rest}`: the user's sessions, or the anonymous session with this
    /// (broker-chosen) id; delivered as `/user{rest}`.
    pub(crate) fn user(user: &str, rest: &str) -> FanoutRoute {
        FanoutRoute {
            key: user_key(user, rest),
            anonymous: Some(anonymous_key(user, true, rest)),
            delivered_as: format!("/user{rest}"),
        }
    }
}

/// A RECEIPT for `receipt_id`.
pub(crate) fn receipt_frame(receipt_id: &str) -> stompbox_stomp::Frame {
    stompbox_stomp::Frame::new(Command::Receipt).with_header("receipt-id", receipt_id)
}

/// An ERROR saying `text` (the `message` header cut to 200 characters, the whole text as the
/// body), naming the receipt of the frame that caused it, if any.
pub(crate) fn error_frame(text: &str, receipt_id: Option<&str>) -> stompbox_stomp::Frame {
    let mut frame = stompbox_stomp::Frame::new(Command::Error)
        .with_header("message", crate::error::clip(text))
        .with_header("content-type", "text/plain")
        .with_body(format!("{text}\n"));
    if let Some(r) = receipt_id {
        frame.push_header("receipt-id", r);
    }
    frame
}

pub(crate) struct SubRecord {
    pub(crate) destination: String,
    pub(crate) key: RouteKey,
    pub(crate) ack: AckMode,
}

pub(crate) struct Unacked {
    pub(crate) sub_id: Arc<str>,
    pub(crate) message_id: Arc<str>,
    /// For queue deliveries: the message to redeliver on NACK or when the consumer leaves.
    pub(crate) requeue: Option<(String, Arc<StoredMessage>)>,
}

pub(crate) struct SessionEntry {
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) subs: HashMap<Arc<str>, SubRecord>,
    pub(crate) unacked: BTreeMap<u64, Unacked>,
    pub(crate) next_ack: u64,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) sessions: HashMap<Arc<str>, SessionEntry>,
    pub(crate) topics: HashMap<String, Arc<Vec<Subscriber>>>,
    pub(crate) queues: HashMap<String, Queue>,
    /// Queue deliveries so far (fan-out deliveries are counted outside the lock).
    pub(crate) queue_deliveries: u64,
    /// Sessions with an ERROR or a Close on its way: queues skip their consumers.
    pub(crate) closing: HashSet<Arc<str>>,
    /// Set by `Broker::shut_down`: sessions opened from then on are closed at once with it.
    pub(crate) shutdown: Option<CloseStatus>,
    /// The cluster's queue store, when queues are shared (told of consumers and settlements).
    pub(crate) shared: Option<Arc<dyn crate::SharedQueues>>,
}

/// Pushes one delivery: the subscription's shared head, or (for a 1.2 delivery that needs an
/// `ack` header) a head of its own, then the shared tail.
pub(crate) fn push_message(sub: &Subscriber, ack: Option<u64>, tail: &Tail) {
    match (ack, sub.version) {
        (Some(n), Version::V1_2) => {
            let mut head = BytesMut::with_capacity(32 + sub.id.len());
            MessageTemplate::write_head(&mut head, sub.version, &sub.id, Some(&n.to_string()));
            sub.outbox.push_message(&head.freeze(), tail);
        }
        // No ack, or 1.0/1.1 clients, which acknowledge by `message-id` (in the shared tail).
        _ => sub.outbox.push_message(&sub.head, tail),
    }
}

/// A fan-out's subscriber snapshot and, per subscriber, the ack number registered for it
/// (empty when none needs one).
pub(crate) type FanoutTargets = (Arc<Vec<Subscriber>>, Vec<Option<u64>>);

/// Shared encodings of one message, one per protocol version, made on first use.
pub(crate) struct Encodings<'a> {
    message: &'a StoredMessage,
    headers: Option<Vec<Header>>,
    tails: [Option<Tail>; 3],
}

impl<'a> Encodings<'a> {
    pub(crate) fn new(message: &'a StoredMessage) -> Self {
        Encodings {
            message,
            headers: None,
            tails: [None, None, None],
        }
    }

    pub(crate) fn tail(&mut self, version: Version) -> &Tail {
        let headers = &mut self.headers;
        let message = self.message;
        self.tails[version as usize].get_or_insert_with(|| {
            let headers = headers.get_or_insert_with(|| message.shared_headers());
            Tail::new(
                MessageTemplate::new(headers, &message.body, version)
                    .tail()
                    .clone(),
            )
        })
    }
}

impl State {
    /// Registers an unacknowledged delivery and returns its ack number.
    pub(crate) fn register_unacked(
        &mut self,
        sub: &Subscriber,
        message: &Arc<StoredMessage>,
        requeue: Option<&str>,
    ) -> Option<u64> {
        let entry = self.sessions.get_mut(&sub.session)?;
        let n = entry.next_ack;
        entry.next_ack += 1;
        entry.unacked.insert(
            n,
            Unacked {
                sub_id: sub.id.clone(),
                message_id: message.id.clone(),
                requeue: requeue.map(|q| (q.to_string(), message.clone())),
            },
        );
        Some(n)
    }

    /// Snapshot of a fan-out's subscribers, with ack numbers registered for those that need
    /// them. `only` restricts delivery to one session (replies).
    pub(crate) fn fanout_targets(
        &mut self,
        key: &str,
        message: &Arc<StoredMessage>,
        only: Option<&str>,
    ) -> Option<FanoutTargets> {
        let subs = self.topics.get(key)?.clone();
        let needs_acks = subs
            .iter()
            .any(|s| s.ack != AckMode::Auto && only.is_none_or(|o| &*s.session == o));
        let acks = if needs_acks {
            subs.iter()
                .map(|s| {
                    let wanted = s.ack != AckMode::Auto && only.is_none_or(|o| &*s.session == o);
                    wanted
                        .then(|| self.register_unacked(s, message, None))
                        .flatten()
                })
                .collect()
        } else {
            Vec::new()
        };
        Some((subs, acks))
    }

    /// Removes one subscription from the routing tables; returns its record. Queue messages the
    /// subscription had not acknowledged are redelivered to other consumers.
    pub(crate) fn remove_subscription(&mut self, session: &str, id: &str) -> Option<SubRecord> {
        let (record, requeue) = self.detach_subscription(session, id)?;
        self.requeue_all(requeue);
        if let RouteKey::Queue(name) = &record.key {
            self.forget_queue_if_idle(name);
        }
        Some(record)
    }

    /// Takes a subscription out of the tables; returns its record and its unacknowledged queue
    /// deliveries, oldest first, for the caller to put back.
    fn detach_subscription(
        &mut self,
        session: &str,
        id: &str,
    ) -> Option<(SubRecord, Vec<Requeue>)> {
        let entry = self.sessions.get_mut(session)?;
        let record = entry.subs.remove(id)?;
        let settled: Vec<u64> = entry
            .unacked
            .iter()
            .filter(|(_, u)| &*u.sub_id == id)
            .map(|(n, _)| *n)
            .collect();
        let requeue = settled
            .into_iter()
            .filter_map(|n| entry.unacked.remove(&n).and_then(|u| u.requeue))
            .collect();
        match &record.key {
            RouteKey::Fanout(key) => {
                if let Some(list) = self.topics.get_mut(key) {
                    Arc::make_mut(list).retain(|s| !(&*s.session == session && &*s.id == id));
                    if list.is_empty() {
                        self.topics.remove(key);
                    }
                }
            }
            RouteKey::Queue(name) => {
                if let Some(q) = self.queues.get_mut(name) {
                    q.consumers
                        .retain(|s| !(&*s.session == session && &*s.id == id));
                }
            }
        }
        Some((record, requeue))
    }
}

/// Pushes a fan-out to its targets (outside the lock); adds the outboxes it left congested to
/// `congested`.
pub(crate) fn push_fanout(
    subs: &[Subscriber],
    acks: &[Option<u64>],
    message: &StoredMessage,
    only: Option<&str>,
    congested: &mut Vec<Arc<dyn Outbox>>,
) -> usize {
    let mut encodings = Encodings::new(message);
    let mut delivered = 0;
    for (i, sub) in subs.iter().enumerate() {
        if only.is_some_and(|o| &*sub.session != o) {
            continue;
        }
        let ack = acks.get(i).copied().flatten();
        push_message(sub, ack, encodings.tail(sub.version));
        if sub.outbox.is_congested() {
            congested.push(sub.outbox.clone());
        }
        delivered += 1;
    }
    delivered
}

/// Encodes a whole frame for one session.
pub(crate) fn frame_item(frame: &stompbox_stomp::Frame, version: Version) -> Outbound {
    debug_assert!(
        frame.command != Command::Message,
        "messages go through Encodings"
    );
    Outbound::Frame(stompbox_stomp::encode(frame, version))
}

impl State {
    /// Removes a session from every table; its unacknowledged queue messages go to other
    /// consumers (never to its own other subscriptions), in the order they were delivered.
    pub(crate) fn remove_session(&mut self, session: &str) {
        let Some(entry) = self.sessions.get_mut(session) else {
            return;
        };
        let mut requeue: Vec<Requeue> = std::mem::take(&mut entry.unacked)
            .into_values()
            .filter_map(|u| u.requeue)
            .collect();
        let ids: Vec<Arc<str>> = entry.subs.keys().cloned().collect();
        let mut queues = Vec::new();
        for id in ids {
            if let Some((record, more)) = self.detach_subscription(session, &id) {
                requeue.extend(more);
                if let RouteKey::Queue(name) = record.key {
                    queues.push(name);
                }
            }
        }
        self.sessions.remove(session);
        self.closing.remove(session);
        self.requeue_all(requeue);
        for name in queues {
            self.forget_queue_if_idle(&name);
        }
    }
}
