//! Sans-IO tests of who receives what: the authorizer on SUBSCRIBE/SEND, and `/user/…`
//! destinations that no session id or spelling can read for another user.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use crate::*;

struct Peer {
    session: Session,
    outbox: MemoryOutbox,
}

impl Peer {
    fn open(broker: &Broker, id: Option<&str>) -> Peer {
        let outbox = MemoryOutbox::new();
        let mut options = SessionOptions::new(Transport::InMemory, None);
        options.id = id.map(str::to_string);
        let session = broker.open_session(options, Arc::new(outbox.clone()), Instant::now());
        Peer { session, outbox }
    }

    /// Connected as `login` (anonymous when empty); the CONNECTED frame is consumed.
    fn connect(broker: &Broker, id: Option<&str>, login: &str) -> Peer {
        let mut p = Peer::open(broker, id);
        p.send(&format!("CONNECT\naccept-version:1.2\nlogin:{login}\n\n\0"));
        assert!(p.texts()[0].starts_with("CONNECTED"));
        p
    }

    fn send(&mut self, text: &str) {
        self.session.handle_data(text.as_bytes(), Instant::now());
    }

    /// What was queued: frames as text, a close as `close <code>`.
    fn texts(&mut self) -> Vec<String> {
        self.outbox
            .take()
            .into_iter()
            .map(|item| match item {
                Outbound::Close(status) => format!("close {}", status.code),
                other => String::from_utf8_lossy(&other.to_contiguous().unwrap()).into_owned(),
            })
            .collect()
    }
}

fn pattern(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}

#[test]
fn an_installed_authorizer_refuses_subscribe_and_send_with_error_then_1008() {
    let broker = Broker::default();
    broker.set_authorizer(Acl::new(vec![AclRule {
        who: Who::Everyone,
        subscribe: vec![pattern("/topic/ok")],
        send: vec![pattern("/topic/ok")],
    }]));
    let mut p = Peer::connect(&broker, None, "alice");
    p.send("SUBSCRIBE\nid:1\ndestination:/topic/ok\nreceipt:a\n\n\0");
    p.send("SEND\ndestination:/topic/ok\n\nhello\0");
    p.send("SUBSCRIBE\nid:2\ndestination:/topic/no\n\n\0");
    let out = p.texts();
    assert!(out[0].starts_with("RECEIPT"), "{out:?}");
    assert!(out[1].starts_with("MESSAGE"), "{out:?}");
    assert!(out[2].starts_with("ERROR"), "{out:?}");
    assert!(
        out[2].contains("SUBSCRIBE to `/topic/no` refused by the ACL"),
        "{out:?}"
    );
    assert_eq!(out[3], "close 1008");
    let mut q = Peer::connect(&broker, None, "bob");
    q.send("SEND\ndestination:/queue/no\n\nx\0");
    let out = q.texts();
    assert!(
        out[0].contains("SEND to `/queue/no` refused by the ACL"),
        "{out:?}"
    );
    assert_eq!(out[1], "close 1008");
    assert_eq!(broker.stats().pending_messages, 0, "nothing was queued");
}

#[test]
fn without_an_authorizer_everything_is_allowed() {
    let broker = Broker::default();
    let mut p = Peer::connect(&broker, None, "alice");
    p.send("SUBSCRIBE\nid:1\ndestination:/topic/any\nreceipt:a\n\n\0");
    assert!(p.texts()[0].starts_with("RECEIPT"));
}

#[test]
fn a_client_chosen_session_id_never_receives_a_users_messages() {
    let broker = Broker::default();
    let mut bob = Peer::connect(&broker, None, "bob");
    // Anonymous, with the id a SockJS client put in its URL.
    let mut fake = Peer::connect(&broker, Some("bob"), "");
    for p in [&mut bob, &mut fake] {
        p.send("SUBSCRIBE\nid:1\ndestination:/user/queue/in\n\n\0");
    }
    let mut sender = Peer::connect(&broker, None, "carol");
    sender.send("SEND\ndestination:/user/bob/queue/in\n\nfor bob\0");
    assert_eq!(bob.texts().len(), 1);
    assert!(
        fake.texts().is_empty(),
        "the anonymous `bob` got bob's message"
    );
    // Nor can it be reached by its chosen id.
    sender.send("SEND\ndestination:/user/bob/queue/in\nreceipt:r\n\nagain\0");
    assert!(fake.texts().is_empty());
    assert_eq!(bob.texts().len(), 1);
}

#[test]
fn an_anonymous_session_is_reachable_by_the_id_the_broker_gave_it_and_replies_reach_all() {
    let broker = Broker::default();
    broker.route("/echo", |req: &AppRequest<'_>, reply: &mut AppReply| {
        reply.reply("/queue/echo", req.body.clone());
        Ok(())
    });
    let mut anon = Peer::connect(&broker, None, "");
    let mut chosen = Peer::connect(&broker, Some("my-sockjs-id"), "");
    for p in [&mut anon, &mut chosen] {
        p.send("SUBSCRIBE\nid:1\ndestination:/user/queue/echo\n\n\0");
        p.send("SEND\ndestination:/app/echo\n\nping\0");
        let out = p.texts();
        assert!(
            out[0].starts_with("MESSAGE") && out[0].ends_with("ping\0"),
            "{out:?}"
        );
    }
    let mut sender = Peer::connect(&broker, None, "carol");
    let id = anon.session.id().to_string();
    sender.send(&format!("SEND\ndestination:/user/{id}/queue/echo\n\nhi\0"));
    assert_eq!(anon.texts().len(), 1);
    // A user named like a session id is a user: its key space is apart.
    let mut namesake = Peer::connect(&broker, None, &id);
    namesake.send("SUBSCRIBE\nid:1\ndestination:/user/queue/echo\n\n\0");
    sender.send(&format!(
        "SEND\ndestination:/user/{id}/queue/echo\n\nboth\0"
    ));
    assert_eq!(anon.texts().len(), 1);
    assert_eq!(namesake.texts().len(), 1);
}

#[test]
fn a_user_message_from_another_node_reaches_only_that_users_sessions() {
    let broker = Broker::default();
    let mut alice = Peer::connect(&broker, None, "alice");
    let mut bob = Peer::connect(&broker, None, "bob");
    for p in [&mut alice, &mut bob] {
        p.send("SUBSCRIBE\nid:1\ndestination:/user/queue/reply\n\n\0");
    }
    broker
        .deliver_remote(
            "/user/alice/queue/reply",
            Vec::new(),
            bytes::Bytes::from_static(b"for alice"),
        )
        .unwrap();
    let got = alice.texts();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("destination:/user/queue/reply"), "{got:?}");
    assert!(got[0].ends_with("for alice\0"), "{got:?}");
    assert!(bob.texts().is_empty());
    // Path tricks are refused as they are for a local SEND.
    assert!(
        broker
            .deliver_remote(
                "/user/../alice/queue/reply",
                Vec::new(),
                bytes::Bytes::new()
            )
            .is_err()
    );
    assert!(alice.texts().is_empty());
}
