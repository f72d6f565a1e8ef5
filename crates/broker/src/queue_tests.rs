//! Queues lose nothing: the depth limit refuses with an ERROR, redeliveries keep their order and
//! never go back to a session that is closing. In-memory outboxes, no runtime.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};

use crate::*;

struct Peer {
    session: Session,
    outbox: MemoryOutbox,
}

impl Peer {
    fn connect(broker: &Broker) -> Peer {
        let outbox = MemoryOutbox::new();
        let session = broker.open_session(
            SessionOptions::new(Transport::InMemory, None),
            Arc::new(outbox.clone()),
            Instant::now(),
        );
        let mut p = Peer { session, outbox };
        p.send("CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
        assert_eq!(p.frames()[0].command, Command::Connected);
        p
    }

    fn send(&mut self, text: &str) {
        self.session.handle_data(text.as_bytes(), Instant::now());
    }

    /// Frames taken so far, and the close if one was queued.
    fn take(&mut self) -> (Vec<Frame>, Option<CloseStatus>) {
        let mut decoder = Decoder::new(Limits::default());
        let mut frames = Vec::new();
        let mut close = None;
        for item in self.outbox.take() {
            match item {
                Outbound::Close(s) => close = Some(s),
                Outbound::HeartBeat => {}
                other => {
                    let mut buf = BytesMut::from(&other.to_contiguous().unwrap()[..]);
                    match decoder.decode(&mut buf).unwrap() {
                        Some(Item::Frame(f)) => frames.push(f),
                        other => panic!("not a frame: {other:?}"),
                    }
                }
            }
        }
        (frames, close)
    }

    fn frames(&mut self) -> Vec<Frame> {
        let (frames, close) = self.take();
        assert_eq!(close, None, "{frames:?}");
        frames
    }
}

fn bodies(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(&f.body).into_owned())
        .collect()
}

fn redelivered(frames: &[Frame]) -> Vec<bool> {
    frames
        .iter()
        .map(|f| f.header("redelivered") == Some("true"))
        .collect()
}

fn broker_with_depth(max_queue_depth: usize) -> Broker {
    Broker::new(BrokerConfig {
        max_queue_depth,
        ..BrokerConfig::default()
    })
}

#[test]
fn a_full_queue_refuses_the_send_with_an_error_naming_the_limit_and_1013() {
    let b = broker_with_depth(2);
    b.publish("/queue/q", vec![], "a").unwrap();
    b.publish("/queue/q", vec![], "b").unwrap();
    assert!(matches!(
        b.publish("/queue/q", vec![], "c"),
        Err(BrokerError::QueueFull { limit: 2, .. })
    ));
    let mut p = Peer::connect(&b);
    p.send("SEND\ndestination:/queue/q\nreceipt:r1\n\nd\0");
    let (frames, close) = p.take();
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].command, Command::Error);
    assert_eq!(frames[0].header("receipt-id"), Some("r1"));
    let message = frames[0].header("message").unwrap();
    assert!(
        message.contains("limits.max_queue_depth") && message.contains("/queue/q"),
        "{message}"
    );
    assert_eq!(close.unwrap().code, 1013);
    // Nothing was dropped to make room, and nothing over the limit was kept.
    assert_eq!(b.stats().pending_messages, 2);
    let mut c = Peer::connect(&b);
    c.send("SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0");
    assert_eq!(bodies(&c.frames()), ["a", "b"]);
    // Other queues are not affected.
    b.publish("/queue/other", vec![], "x").unwrap();
}

#[test]
fn unacked_messages_of_a_vanished_consumer_come_back_in_order_ahead_of_newer_ones() {
    let b = broker_with_depth(100);
    let mut x = Peer::connect(&b);
    x.send("SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client-individual\n\n\0");
    for i in 0..3 {
        b.publish("/queue/q", vec![], format!("m{i}")).unwrap();
    }
    assert_eq!(x.frames().len(), 3);
    x.session.close(CloseStatus::abnormal(), Instant::now());
    b.publish("/queue/q", vec![], "new").unwrap();
    let mut y = Peer::connect(&b);
    y.send("SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0");
    let got = y.frames();
    assert_eq!(bodies(&got), ["m0", "m1", "m2", "new"]);
    assert_eq!(redelivered(&got), [true, true, true, false]);
}

#[test]
fn a_cumulative_nack_puts_messages_back_in_order() {
    let b = broker_with_depth(100);
    let mut x = Peer::connect(&b);
    x.send("SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client\n\n\0");
    for i in 0..3 {
        b.publish("/queue/q", vec![], format!("m{i}")).unwrap();
    }
    let acks: Vec<String> = x
        .frames()
        .iter()
        .map(|f| f.header("ack").unwrap().to_string())
        .collect();
    let mut y = Peer::connect(&b);
    y.send("SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client\n\n\0");
    // The NACK of the last settles all three: they go round-robin, starting with y.
    x.send(&format!("NACK\nid:{}\n\n\0", acks[2]));
    let (gx, gy) = (x.frames(), y.frames());
    assert_eq!(bodies(&gy), ["m0", "m2"]);
    assert_eq!(bodies(&gx), ["m1"]);
    assert!(
        redelivered(&gx)
            .into_iter()
            .chain(redelivered(&gy))
            .all(|r| r)
    );
}

#[test]
fn a_dying_session_does_not_get_its_own_redeliveries_on_another_subscription() {
    let b = broker_with_depth(100);
    let mut x = Peer::connect(&b);
    x.send("SUBSCRIBE\nid:c\ndestination:/queue/q\nack:client-individual\n\n\0");
    b.publish("/queue/q", vec![], "m0").unwrap();
    x.send("SUBSCRIBE\nid:a\ndestination:/queue/q\n\n\0");
    assert_eq!(bodies(&x.frames()), ["m0"]);
    x.session.close(CloseStatus::abnormal(), Instant::now());
    // Not handed to x's auto-ack subscription (whose connection is gone): kept.
    assert_eq!(b.stats().pending_messages, 1);
    assert!(x.outbox.take().is_empty());
}

#[test]
fn a_closing_session_gets_no_more_queue_messages() {
    let b = broker_with_depth(100);
    let mut x = Peer::connect(&b);
    x.send("SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0");
    let mut y = Peer::connect(&b);
    y.send("SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0");
    // x breaks the protocol: ERROR and a Close are queued; its transport has not closed it yet.
    x.send("BOGUS\n\n\0");
    let (frames, close) = x.take();
    assert_eq!(frames[0].command, Command::Error);
    assert!(close.is_some());
    for i in 0..4 {
        b.publish("/queue/q", vec![], format!("m{i}")).unwrap();
    }
    assert!(x.outbox.take().is_empty());
    assert_eq!(bodies(&y.frames()), ["m0", "m1", "m2", "m3"]);
    // With no consumer left that can take them, messages wait.
    y.send("DISCONNECT\n\n\0");
    b.publish("/queue/q", vec![], "later").unwrap();
    assert_eq!(b.stats().pending_messages, 1);
}

#[test]
fn shut_down_closes_sessions_opened_afterwards_too_and_stops_queue_deliveries() {
    let b = broker_with_depth(100);
    let mut x = Peer::connect(&b);
    x.send("SUBSCRIBE\nid:1\ndestination:/queue/q\nreceipt:r\n\n\0");
    assert_eq!(b.shut_down(1001, "server shutting down"), 1);
    let (frames, close) = x.take();
    assert_eq!(frames[0].header("receipt-id"), Some("r"));
    assert_eq!(close.unwrap().code, 1001);
    b.publish("/queue/q", vec![], "kept").unwrap();
    assert_eq!(b.stats().pending_messages, 1);
    let late = MemoryOutbox::new();
    let _session = b.open_session(
        SessionOptions::new(Transport::InMemory, None),
        Arc::new(late.clone()),
        Instant::now(),
    );
    match &late.take()[..] {
        [Outbound::Close(s)] => assert_eq!((s.code, s.closed_by), (1001, ClosedBy::Server)),
        other => panic!("{other:?}"),
    }
}

/// What a cluster's queue store was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Enqueue(String, String),
    Consumers(String, usize),
    Settled(String, String),
    Release(String, Vec<(String, bool)>),
}

#[derive(Clone, Default)]
struct Store {
    told: Arc<parking_lot::Mutex<Vec<Told>>>,
    tickets: Arc<parking_lot::Mutex<Vec<StoreTicket>>>,
    refuse: bool,
}

impl SharedQueues for Store {
    fn enqueue(
        &self,
        queue: &str,
        _headers: &[stompbox_stomp::Header],
        body: &bytes::Bytes,
        ticket: Option<StoreTicket>,
    ) -> Result<Option<Arc<dyn Outbox>>, String> {
        if self.refuse {
            return Err("Redis is unreachable".to_string());
        }
        let body = String::from_utf8_lossy(body).into_owned();
        self.told
            .lock()
            .push(Told::Enqueue(queue.to_string(), body));
        self.tickets.lock().extend(ticket);
        Ok(None)
    }
    fn consumers(&self, queue: &str, count: usize) {
        self.told
            .lock()
            .push(Told::Consumers(queue.to_string(), count));
    }
    fn settled(&self, queue: &str, entry: &str) {
        self.told
            .lock()
            .push(Told::Settled(queue.to_string(), entry.to_string()));
    }
    fn release(&self, queue: &str, messages: Vec<SharedMessage>) {
        let messages = messages
            .into_iter()
            .map(|m| (m.entry.to_string(), m.redelivered))
            .collect();
        self.told
            .lock()
            .push(Told::Release(queue.to_string(), messages));
    }
}

impl Store {
    fn take(&self) -> Vec<Told> {
        std::mem::take(&mut *self.told.lock())
    }
}

fn shared_broker(store: &Store) -> Broker {
    let b = Broker::default();
    assert!(b.share_queues(store.clone()));
    assert!(!b.share_queues(Store::default()), "installed twice");
    b
}

fn from_store(entry: &str, body: &str) -> SharedMessage {
    SharedMessage {
        entry: Arc::from(entry),
        headers: vec![],
        body: bytes::Bytes::from(body.to_string()),
        redelivered: false,
    }
}

#[test]
fn a_shared_queue_send_is_stored_not_delivered_and_its_receipt_waits_for_the_store() {
    let store = Store::default();
    let b = shared_broker(&store);
    let mut consumer = Peer::connect(&b);
    consumer.send("SUBSCRIBE\nid:s\ndestination:/queue/q\n\n\0");
    let mut sender = Peer::connect(&b);
    sender.send("SEND\ndestination:/queue/q\nreceipt:r1\n\nhello\0");
    assert!(
        sender.frames().is_empty(),
        "receipt before the store has it"
    );
    assert!(consumer.frames().is_empty(), "delivered without the store");
    assert_eq!(
        store.take(),
        [
            Told::Consumers("/queue/q".into(), 1),
            Told::Enqueue("/queue/q".into(), "hello".into())
        ]
    );
    store.tickets.lock().pop().unwrap().stored();
    let frames = sender.frames();
    assert_eq!(frames[0].command, Command::Receipt);
    assert_eq!(frames[0].header("receipt-id"), Some("r1"));
}

#[test]
fn a_store_that_fails_or_refuses_gives_the_sender_an_error_and_1013() {
    let store = Store::default();
    let b = shared_broker(&store);
    let mut sender = Peer::connect(&b);
    sender.send("SEND\ndestination:/queue/q\nreceipt:r1\n\nhello\0");
    store
        .tickets
        .lock()
        .pop()
        .unwrap()
        .failed("Redis is unreachable");
    let (frames, close) = sender.take();
    assert_eq!(frames[0].command, Command::Error);
    assert_eq!(frames[0].header("receipt-id"), Some("r1"));
    assert!(
        frames[0]
            .header("message")
            .unwrap()
            .contains("Redis is unreachable")
    );
    assert_eq!(close.unwrap().code, 1013);

    let refusing = Store {
        refuse: true,
        ..Store::default()
    };
    let b = shared_broker(&refusing);
    let mut sender = Peer::connect(&b);
    sender.send("SEND\ndestination:/queue/q\nreceipt:r2\n\nhello\0");
    let (frames, close) = sender.take();
    assert_eq!(frames[0].command, Command::Error);
    assert!(
        frames[0]
            .header("message")
            .unwrap()
            .contains("not accepted")
    );
    assert_eq!(close.unwrap().code, 1013);
}

#[test]
fn shared_messages_are_settled_on_ack_or_auto_and_released_when_no_consumer_is_left() {
    let store = Store::default();
    let b = shared_broker(&store);
    assert!(
        b.deliver_shared("/queue/q", from_store("1-0", "early"))
            .is_err(),
        "no consumer here: given back"
    );
    let mut auto = Peer::connect(&b);
    auto.send("SUBSCRIBE\nid:a\ndestination:/queue/auto\n\n\0");
    b.deliver_shared("/queue/auto", from_store("2-0", "x"))
        .unwrap();
    assert_eq!(bodies(&auto.frames()), ["x"]);

    let mut c1 = Peer::connect(&b);
    c1.send("SUBSCRIBE\nid:s\ndestination:/queue/q\nack:client-individual\n\n\0");
    let mut c2 = Peer::connect(&b);
    c2.send("SUBSCRIBE\nid:s\ndestination:/queue/q\nack:client-individual\n\n\0");
    b.deliver_shared("/queue/q", from_store("3-0", "a"))
        .unwrap();
    b.deliver_shared("/queue/q", from_store("4-0", "b"))
        .unwrap();
    let (m1, m2) = (c1.frames(), c2.frames());
    assert_eq!(
        (bodies(&m1), bodies(&m2)),
        (vec!["a".into()], vec!["b".into()])
    );
    assert_eq!(
        store.take(),
        [
            Told::Consumers("/queue/auto".into(), 1),
            Told::Settled("/queue/auto".into(), "2-0".into()),
            Told::Consumers("/queue/q".into(), 1),
            Told::Consumers("/queue/q".into(), 2),
        ]
    );
    // c1 acknowledges: settled. c2 NACKs: redelivered to c1, not settled.
    let ack = m1[0].header("ack").unwrap().to_string();
    c1.send(&format!("ACK\nid:{ack}\n\n\0"));
    let nack = m2[0].header("ack").unwrap().to_string();
    c2.send(&format!("NACK\nid:{nack}\n\n\0"));
    let again = c1.frames();
    assert_eq!(
        (bodies(&again), redelivered(&again)),
        (vec!["b".into()], vec![true])
    );
    assert_eq!(
        store.take(),
        [Told::Settled("/queue/q".into(), "3-0".into())]
    );
    // c1 dies holding it; c2 unsubscribes: nobody here can take it, the store gets it back.
    c2.send("UNSUBSCRIBE\nid:s\n\n\0");
    c1.session.close(CloseStatus::abnormal(), Instant::now());
    assert_eq!(
        store.take(),
        [
            Told::Consumers("/queue/q".into(), 1),
            Told::Consumers("/queue/q".into(), 0),
            Told::Release("/queue/q".into(), vec![("4-0".into(), true)]),
        ]
    );
    assert_eq!(b.stats().queues, 1, "only /queue/auto is left");
}
