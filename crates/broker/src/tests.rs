//! Deterministic tests of sessions and routing: in-memory outboxes, a simulated clock, no runtime.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};

use crate::*;

/// A fake client: one session, its outbox, and a decoder for what the broker sent.
struct Client {
    session: Session,
    outbox: MemoryOutbox,
}

#[derive(Debug)]
enum Got {
    Frame(Frame),
    HeartBeat,
    Close(CloseStatus),
}

impl Client {
    fn open(broker: &Broker, now: Instant) -> Client {
        let outbox = MemoryOutbox::new();
        let session = broker.open_session(
            SessionOptions::new(Transport::InMemory, None),
            Arc::new(outbox.clone()),
            now,
        );
        Client { session, outbox }
    }

    /// Opens and connects with STOMP 1.2 and no heart-beats, as `login`.
    fn connect(broker: &Broker, login: &str, now: Instant) -> Client {
        let mut c = Client::open(broker, now);
        c.send(
            &format!("CONNECT\naccept-version:1.2\nhost:x\nlogin:{login}\nheart-beat:0,0\n\n\0"),
            now,
        );
        let got = c.frame();
        assert_eq!(got.command, Command::Connected, "{got:?}");
        c
    }

    fn send(&mut self, text: &str, now: Instant) {
        self.session.handle_data(text.as_bytes(), now);
    }

    fn take(&mut self) -> Vec<Got> {
        let mut out = Vec::new();
        let mut decoder = Decoder::new(Limits::default());
        for item in self.outbox.take() {
            match item {
                Outbound::Close(s) => out.push(Got::Close(s)),
                Outbound::HeartBeat => out.push(Got::HeartBeat),
                other => {
                    let bytes = other.to_contiguous().unwrap();
                    let mut buf = BytesMut::from(&bytes[..]);
                    match decoder.decode(&mut buf).unwrap() {
                        Some(Item::Frame(f)) => out.push(Got::Frame(f)),
                        other => panic!("not a frame: {other:?}"),
                    }
                    assert!(buf.is_empty(), "one item is one frame");
                }
            }
        }
        out
    }

    /// Exactly one frame was sent; returns it.
    fn frame(&mut self) -> Frame {
        match &mut self.take()[..] {
            [Got::Frame(f)] => f.clone(),
            other => panic!("expected one frame, got {other:?}"),
        }
    }

    fn frames(&mut self) -> Vec<Frame> {
        self.take()
            .into_iter()
            .map(|g| match g {
                Got::Frame(f) => f,
                other => panic!("expected frames only, got {other:?}"),
            })
            .collect()
    }

    /// An ERROR frame followed by a close with `code`; returns the ERROR frame.
    fn error_then_close(&mut self, code: u16) -> Frame {
        match &mut self.take()[..] {
            [Got::Frame(f), Got::Close(s)] if f.command == Command::Error => {
                assert_eq!(s.code, code, "{s:?} after {f:?}");
                assert_eq!(s.closed_by, ClosedBy::Server);
                assert!(f.header("message").is_some());
                f.clone()
            }
            other => panic!("expected ERROR then close {code}, got {other:?}"),
        }
    }
}

fn broker() -> Broker {
    let b = Broker::new(BrokerConfig::default());
    b.route("/hello", hello_handler);
    b
}

#[test]
fn connect_negotiates_the_best_version_and_heart_beats() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    c.send(
        "CONNECT\naccept-version:1.0,1.1,1.2\nhost:h\nheart-beat:5000,20000\n\n\0",
        t0,
    );
    let f = c.frame();
    assert_eq!(f.command, Command::Connected);
    assert_eq!(f.header("version"), Some("1.2"));
    assert_eq!(f.header("heart-beat"), Some("20000,10000"));
    assert_eq!(f.header("session"), Some(c.session.id()));
    assert!(f.header("server").unwrap().starts_with("stompbox/"));
}

#[test]
fn stomp_1_0_clients_get_no_heart_beats_and_no_version_header() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    c.send("CONNECT\nheart-beat:1000,1000\n\n\0", t0);
    let f = c.frame();
    assert_eq!(f.header("version"), None);
    assert_eq!(f.header("heart-beat"), None);
    assert_eq!(c.session.poll_timeout(), None);
}

#[test]
fn unsupported_version_gets_error_listing_versions_and_1002() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    c.send("CONNECT\naccept-version:2.0\n\n\0", t0);
    let e = c.error_then_close(1002);
    assert_eq!(e.header("version"), Some("1.0,1.1,1.2"));
    assert!(c.session.is_closing());
}

#[test]
fn frames_before_connect_and_second_connect_are_errors() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    c.send("SEND\ndestination:/topic/a\nreceipt:r1\n\nx\0", t0);
    let e = c.error_then_close(1002);
    assert_eq!(e.header("receipt-id"), Some("r1"));

    let mut c = Client::connect(&b, "a", t0);
    c.send("STOMP\naccept-version:1.2\n\n\0", t0);
    c.error_then_close(1002);
}

#[test]
fn missing_headers_are_named_in_the_error() {
    let b = broker();
    let t0 = Instant::now();
    for (frame, header) in [
        ("SEND\n\nx\0", "destination"),
        ("SUBSCRIBE\ndestination:/topic/a\n\n\0", "id"),
        ("SUBSCRIBE\nid:1\n\n\0", "destination"),
        ("UNSUBSCRIBE\n\n\0", "id"),
        ("ACK\n\n\0", "id"),
        ("BEGIN\n\n\0", "transaction"),
    ] {
        let mut c = Client::connect(&b, "a", t0);
        c.send(frame, t0);
        let e = c.error_then_close(1002);
        assert!(
            e.header("message").unwrap().contains(header),
            "{frame:?}: {e:?}"
        );
    }
}

#[test]
fn topic_fans_out_to_every_subscriber_with_its_own_subscription_id() {
    let b = broker();
    let t0 = Instant::now();
    let mut a = Client::connect(&b, "a", t0);
    let mut c = Client::connect(&b, "c", t0);
    a.send("SUBSCRIBE\nid:sa\ndestination:/topic/greetings\n\n\0", t0);
    c.send(
        "SUBSCRIBE\nid:sc\ndestination:/topic/greetings\nreceipt:r\n\n\0",
        t0,
    );
    assert_eq!(c.frame().header("receipt-id"), Some("r"));
    let mut p = Client::connect(&b, "p", t0);
    p.send(
        "SEND\ndestination:/topic/greetings\ncontent-type:text/plain\nx-custom:1\nreceipt:s\n\nhi\0",
        t0,
    );
    assert_eq!(p.frame().command, Command::Receipt);
    let ma = a.frame();
    let mc = c.frame();
    assert_eq!(ma.header("subscription"), Some("sa"));
    assert_eq!(mc.header("subscription"), Some("sc"));
    for m in [&ma, &mc] {
        assert_eq!(m.command, Command::Message);
        assert_eq!(m.header("destination"), Some("/topic/greetings"));
        assert_eq!(m.header("content-type"), Some("text/plain"));
        assert_eq!(m.header("x-custom"), Some("1"));
        assert_eq!(m.header("receipt"), None);
        assert_eq!(&m.body[..], b"hi");
    }
    assert_eq!(ma.header("message-id"), mc.header("message-id"));
}

#[test]
fn unsubscribe_stops_delivery_and_unknown_ids_are_errors() {
    let b = broker();
    let t0 = Instant::now();
    let mut a = Client::connect(&b, "a", t0);
    a.send("SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    a.send("UNSUBSCRIBE\nid:1\n\n\0", t0);
    b.publish("/topic/t", vec![], "x").unwrap();
    assert!(a.take().is_empty());
    a.send("UNSUBSCRIBE\nid:1\n\n\0", t0);
    a.error_then_close(1002);
}

#[test]
fn duplicate_subscription_ids_are_refused() {
    let b = broker();
    let t0 = Instant::now();
    let mut a = Client::connect(&b, "a", t0);
    a.send("SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    a.send("SUBSCRIBE\nid:1\ndestination:/topic/u\n\n\0", t0);
    a.error_then_close(1002);
}

#[test]
fn queue_messages_wait_for_a_consumer_then_go_round_robin() {
    let b = broker();
    let t0 = Instant::now();
    for i in 0..4 {
        b.publish("/queue/jobs", vec![], format!("m{i}")).unwrap();
    }
    assert_eq!(b.stats().pending_messages, 4);
    let mut x = Client::connect(&b, "x", t0);
    x.send("SUBSCRIBE\nid:1\ndestination:/queue/jobs\n\n\0", t0);
    let bodies: Vec<_> = x.frames().iter().map(|f| f.body.clone()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2", "m3"]);
    let mut y = Client::connect(&b, "y", t0);
    y.send("SUBSCRIBE\nid:1\ndestination:/queue/jobs\n\n\0", t0);
    for i in 0..4 {
        b.publish("/queue/jobs", vec![], format!("n{i}")).unwrap();
    }
    assert_eq!(x.frames().len(), 2);
    assert_eq!(y.frames().len(), 2);
}

#[test]
fn nack_redelivers_a_queue_message_marked_redelivered() {
    let b = broker();
    let t0 = Instant::now();
    let mut x = Client::connect(&b, "x", t0);
    x.send(
        "SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client-individual\n\n\0",
        t0,
    );
    b.publish("/queue/q", vec![], "job").unwrap();
    let m = x.frame();
    let ack = m.header("ack").unwrap().to_string();
    assert_eq!(m.header("redelivered"), None);
    x.send(&format!("NACK\nid:{ack}\n\n\0"), t0);
    let again = x.frame();
    assert_eq!(again.header("redelivered"), Some("true"));
    assert_eq!(&again.body[..], b"job");
    let ack2 = again.header("ack").unwrap().to_string();
    x.send(&format!("ACK\nid:{ack2}\nreceipt:r\n\n\0"), t0);
    assert_eq!(x.frame().command, Command::Receipt);
    assert_eq!(b.stats().unacked_messages, 0);
    x.send(&format!("ACK\nid:{ack2}\n\n\0"), t0);
    x.error_then_close(1002);
}

#[test]
fn client_ack_is_cumulative() {
    let b = broker();
    let t0 = Instant::now();
    let mut x = Client::connect(&b, "x", t0);
    x.send(
        "SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client\n\n\0",
        t0,
    );
    for i in 0..3 {
        b.publish("/queue/q", vec![], format!("{i}")).unwrap();
    }
    let acks: Vec<String> = x
        .frames()
        .iter()
        .map(|f| f.header("ack").unwrap().to_string())
        .collect();
    assert_eq!(b.stats().unacked_messages, 3);
    x.send(&format!("ACK\nid:{}\n\n\0", acks[1]), t0);
    assert_eq!(b.stats().unacked_messages, 1);
}

#[test]
fn a_consumer_that_vanishes_has_its_unacked_messages_redelivered() {
    let b = broker();
    let t0 = Instant::now();
    let mut x = Client::connect(&b, "x", t0);
    x.send(
        "SUBSCRIBE\nid:1\ndestination:/queue/q\nack:client-individual\n\n\0",
        t0,
    );
    b.publish("/queue/q", vec![], "precious").unwrap();
    assert_eq!(x.frames().len(), 1);
    x.session.close(CloseStatus::abnormal(), t0);
    assert_eq!(b.stats().pending_messages, 1);
    let mut y = Client::connect(&b, "y", t0);
    y.send("SUBSCRIBE\nid:1\ndestination:/queue/q\n\n\0", t0);
    let m = y.frame();
    assert_eq!(&m.body[..], b"precious");
    assert_eq!(m.header("redelivered"), Some("true"));
}

#[test]
fn stomp_1_1_acks_by_message_id_and_subscription() {
    let b = broker();
    let t0 = Instant::now();
    let mut x = Client::open(&b, t0);
    x.send("CONNECT\naccept-version:1.1\nhost:h\n\n\0", t0);
    assert_eq!(x.frame().header("version"), Some("1.1"));
    x.send(
        "SUBSCRIBE\nid:s\ndestination:/queue/q\nack:client\n\n\0",
        t0,
    );
    b.publish("/queue/q", vec![], "a").unwrap();
    let m = x.frame();
    assert_eq!(m.header("ack"), None, "1.1 has no ack header");
    let id = m.header("message-id").unwrap();
    x.send(&format!("ACK\nsubscription:s\nmessage-id:{id}\n\n\0"), t0);
    assert_eq!(b.stats().unacked_messages, 0);
}

#[test]
fn transactions_hold_sends_until_commit_and_drop_them_on_abort() {
    let b = broker();
    let t0 = Instant::now();
    let mut sub = Client::connect(&b, "s", t0);
    sub.send("SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    let mut p = Client::connect(&b, "p", t0);
    p.send("BEGIN\ntransaction:tx1\n\n\0", t0);
    p.send("SEND\ndestination:/topic/t\ntransaction:tx1\n\none\0", t0);
    assert!(sub.take().is_empty());
    p.send("COMMIT\ntransaction:tx1\nreceipt:c\n\n\0", t0);
    assert_eq!(p.frame().header("receipt-id"), Some("c"));
    let m = sub.frame();
    assert_eq!(&m.body[..], b"one");
    assert_eq!(m.header("transaction"), None);
    p.send("BEGIN\ntransaction:tx2\n\n\0", t0);
    p.send("SEND\ndestination:/topic/t\ntransaction:tx2\n\ntwo\0", t0);
    p.send("ABORT\ntransaction:tx2\n\n\0", t0);
    assert!(sub.take().is_empty());
    p.send("COMMIT\ntransaction:nope\n\n\0", t0);
    p.error_then_close(1002);
}

#[test]
fn user_destinations_reach_only_the_named_users_sessions() {
    let b = broker();
    let t0 = Instant::now();
    let mut alice1 = Client::connect(&b, "alice", t0);
    let mut alice2 = Client::connect(&b, "alice", t0);
    let mut bob = Client::connect(&b, "bob", t0);
    for c in [&mut alice1, &mut alice2, &mut bob] {
        c.send("SUBSCRIBE\nid:u\ndestination:/user/queue/inbox\n\n\0", t0);
    }
    let mut sender = Client::connect(&b, "carol", t0);
    sender.send(
        "SEND\ndestination:/user/alice/queue/inbox\n\nfor alice\0",
        t0,
    );
    for c in [&mut alice1, &mut alice2] {
        let m = c.frame();
        assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
        assert_eq!(&m.body[..], b"for alice");
    }
    assert!(bob.take().is_empty());
    sender.send(
        "SEND\ndestination:/user/../alice/queue/inbox\n\nsneaky\0",
        t0,
    );
    sender.error_then_close(1002);
    assert!(alice1.take().is_empty());
}

#[test]
fn app_handlers_publish_and_unknown_app_paths_are_errors() {
    let b = broker();
    b.route("/echo", |req: &AppRequest<'_>, reply: &mut AppReply| {
        reply.reply("/queue/echo", req.body.clone());
        Ok(())
    });
    let t0 = Instant::now();
    let mut a = Client::connect(&b, "a", t0);
    a.send("SUBSCRIBE\nid:g\ndestination:/topic/greetings\n\n\0", t0);
    a.send("SUBSCRIBE\nid:e\ndestination:/user/queue/echo\n\n\0", t0);
    let mut other = Client::connect(&b, "a", t0);
    other.send("SUBSCRIBE\nid:e\ndestination:/user/queue/echo\n\n\0", t0);
    a.send("SEND\ndestination:/app/hello\n\n{\"name\":\"Ada\"}\0", t0);
    assert_eq!(&a.frame().body[..], b"{\"content\":\"Hello, Ada!\"}");
    a.send("SEND\ndestination:/app/echo\n\nping\0", t0);
    let m = a.frame();
    assert_eq!(m.header("subscription"), Some("e"));
    assert_eq!(&m.body[..], b"ping");
    assert!(
        other.take().is_empty(),
        "reply goes to the sending session only"
    );
    a.send("SEND\ndestination:/app/nothing\n\n\0", t0);
    a.error_then_close(1002);
}

#[test]
fn server_heart_beats_when_idle_and_closes_a_silent_client_with_4408() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    c.send(
        "CONNECT\naccept-version:1.2\nheart-beat:1000,1000\n\n\0",
        t0,
    );
    assert_eq!(c.frame().header("heart-beat"), Some("10000,10000"));
    let t1 = c.session.poll_timeout().unwrap();
    assert_eq!(t1, t0 + Duration::from_secs(10));
    c.session.handle_timeout(t1);
    assert!(matches!(&c.take()[..], [Got::HeartBeat]));
    // A heart-beat from the client postpones the receive deadline.
    c.send("\n", t0 + Duration::from_secs(15));
    c.session.handle_timeout(t0 + Duration::from_secs(34));
    assert!(!c.session.is_closing());
    c.take();
    let deadline = t0 + Duration::from_secs(35);
    c.session.handle_timeout(deadline);
    match &c.take()[..] {
        [Got::Close(s)] => {
            assert_eq!(s.code, 4408);
            assert_eq!(s.closed_by, ClosedBy::Server);
            assert!(s.reason.contains("heart-beat"), "{s:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_connection_that_never_sends_connect_is_closed_after_the_connect_timeout() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    assert_eq!(c.session.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    c.session.handle_timeout(t0 + Duration::from_secs(60));
    assert!(matches!(&c.take()[..], [Got::Close(s)] if s.code == 4408));
}

#[test]
fn disconnect_sends_the_receipt_then_closes_normally_as_the_clients_doing() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::connect(&b, "a", t0);
    c.send("DISCONNECT\nreceipt:bye\n\n\0", t0);
    match &c.take()[..] {
        [Got::Frame(r), Got::Close(s)] => {
            assert_eq!(r.header("receipt-id"), Some("bye"));
            assert_eq!((s.code, s.closed_by), (1000, ClosedBy::Client));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_and_oversized_frames_close_with_1002_and_1009() {
    let b = Broker::new(BrokerConfig {
        limits: Limits {
            max_frame_size: 1024,
            ..Limits::default()
        },
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut c = Client::connect(&b, "a", t0);
    c.send("FOO\n\n\0", t0);
    c.error_then_close(1002);
    let mut c = Client::connect(&b, "a", t0);
    c.send(
        &format!("SEND\ndestination:/topic/a\n\n{}\0", "x".repeat(2000)),
        t0,
    );
    c.error_then_close(1009);
    let mut c = Client::connect(&b, "a", t0);
    c.send("MESSAGE\n\n\0", t0);
    c.error_then_close(1002);
}

#[test]
fn closing_leaves_no_state_and_reports_the_status() {
    let b = broker();
    let mut events = b.events();
    let t0 = Instant::now();
    {
        let mut a = Client::connect(&b, "a", t0);
        a.send("SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
        a.send(
            "SUBSCRIBE\nid:2\ndestination:/queue/q\nack:client\n\n\0",
            t0,
        );
        a.send("SUBSCRIBE\nid:3\ndestination:/user/queue/x\n\n\0", t0);
        a.send("BEGIN\ntransaction:t\n\n\0", t0);
        assert_eq!(b.stats().subscriptions, 3);
        assert_eq!(b.sessions().len(), 1);
        a.session.close(
            CloseStatus::new(1000, "bye", ClosedBy::Client),
            t0 + Duration::from_millis(1500),
        );
        // Dropping a closed session does not report it twice.
    }
    {
        // Dropped without close: reported as 1006, cleaned up all the same.
        let mut d = Client::connect(&b, "d", t0);
        d.send("SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    }
    let s = b.stats();
    assert_eq!(
        (
            s.sessions_open,
            s.routed_sessions,
            s.subscriptions,
            s.topics,
            s.queues,
            s.unacked_messages
        ),
        (0, 0, 0, 0, 0, 0)
    );
    assert!(b.sessions().is_empty());
    let kinds: Vec<EventKind> = std::iter::from_fn(|| events.try_recv())
        .map(|e| e.kind)
        .collect();
    let disconnects: Vec<&CloseStatus> = kinds
        .iter()
        .filter_map(|k| match k {
            EventKind::Disconnect { status, .. } => Some(status),
            _ => None,
        })
        .collect();
    assert_eq!(disconnects.len(), 2);
    assert_eq!(
        (disconnects[0].code, disconnects[0].closed_by),
        (1000, ClosedBy::Client)
    );
    assert_eq!(
        (disconnects[1].code, disconnects[1].closed_by),
        (1006, ClosedBy::Nobody)
    );
    assert!(kinds.iter().any(
        |k| matches!(k, EventKind::Subscribe { destination, .. } if destination == "/queue/q")
    ));
    assert!(matches!(kinds[0], EventKind::Connect));
    assert!(matches!(kinds[1], EventKind::Connected { .. }));
    let closes = b.stats().closes;
    assert_eq!(closes.len(), 2);
}

#[test]
fn frames_split_across_reads_and_batched_in_one_read_both_work() {
    let b = broker();
    let t0 = Instant::now();
    let mut c = Client::open(&b, t0);
    let text =
        "CONNECT\naccept-version:1.2\n\n\0\nSUBSCRIBE\nid:1\ndestination:/topic/t\nreceipt:r\n\n\0";
    for byte in text.as_bytes() {
        c.session.handle_data(std::slice::from_ref(byte), t0);
    }
    let frames = c.frames();
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].header("receipt-id"), Some("r"));
}

#[test]
fn a_transport_chosen_id_already_in_use_is_replaced_so_sessions_never_share_state() {
    let b = broker();
    let t0 = Instant::now();
    let open = |id: &str| {
        b.open_session(
            SessionOptions {
                id: Some(id.to_string()),
                transport: Transport::SockJs,
                remote: None,
                handshake_authorization: None,
            },
            Arc::new(MemoryOutbox::new()),
            t0,
        )
    };
    let first = open("same");
    let second = open("same");
    assert_eq!(first.id(), "same");
    assert_ne!(second.id(), "same");
    drop(first);
    assert_eq!(b.stats().routed_sessions, 1, "closing one leaves the other");
}
