//! `/user/{name}/…` messages reach that user's sessions on whichever nodes hold them, and
//! nobody else's, through a real redis-server.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_stomp::Command;
use support::{Client, Node, Redis};

const QUIET: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_message_reaches_that_users_sessions_on_every_node_once() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "u").await;
    let b = Node::start(&redis.url(), "u").await;

    // Alice has a session on each node, Bob one on B.
    let mut alice_a = Client::connect_as(a.tcp, Some("alice")).await;
    let mut alice_b = Client::connect_as(b.tcp, Some("alice")).await;
    let mut bob_b = Client::connect_as(b.tcp, Some("bob")).await;
    for c in [&mut alice_a, &mut alice_b, &mut bob_b] {
        c.subscribe("r", "/user/queue/reply").await;
    }

    // Sent on A (where Bob has no session) to Alice and to Bob.
    let mut sender = Client::connect(a.tcp).await;
    sender
        .publish("/user/alice/queue/reply", &[("x-n", "1")], "for alice")
        .await;
    sender
        .publish("/user/bob/queue/reply", &[], "for bob")
        .await;

    for c in [&mut alice_a, &mut alice_b] {
        let frame = c.recv().await;
        assert_eq!(frame.command, Command::Message, "{frame:?}");
        assert_eq!(frame.header("destination"), Some("/user/queue/reply"));
        assert_eq!(frame.header("x-n"), Some("1"));
        assert_eq!(&frame.body[..], b"for alice");
        assert!(c.try_recv(QUIET).await.is_none(), "delivered twice");
    }
    let frame = bob_b.recv().await;
    assert_eq!(&frame.body[..], b"for bob");
    assert!(
        bob_b.try_recv(QUIET).await.is_none(),
        "Alice's message leaked"
    );

    // Another node's path tricks are refused like a local SEND's: nothing is delivered.
    let mut trick = Client::connect(b.tcp).await;
    trick
        .send(
            stompbox_stomp::Frame::new(Command::Send)
                .with_header("destination", "/user/../alice/queue/reply")
                .with_body("x"),
        )
        .await;
    assert_eq!(trick.recv().await.command, Command::Error);
    assert!(alice_a.try_recv(QUIET).await.is_none());
    assert_eq!(a.cluster.stats().published, 2);
    assert_eq!(b.cluster.stats().received, 2);
    a.stop().await;
    b.stop().await;
}
