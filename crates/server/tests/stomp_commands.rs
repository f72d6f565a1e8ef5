//! Every STOMP client command end to end over a real WebSocket.
#![allow(clippy::unwrap_used)]

mod support;

use stompbox_stomp::{Command, Frame};
use support::{Client, TestServer, send, subscribe};

#[tokio::test]
async fn connect_subscribe_send_receive_on_a_topic() {
    let server = TestServer::start().await;
    let (mut a, connected) = Client::connect(&server, "alice").await;
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("user-name"), Some("alice"));
    assert!(connected.header("session").is_some());
    a.send_frame(&subscribe("sub-0", "/topic/greetings").with_header("receipt", "r1"))
        .await;
    assert_eq!(a.frame().await.header("receipt-id"), Some("r1"));
    let (mut b, _) = Client::connect(&server, "bob").await;
    b.send_frame(&send("/topic/greetings", "hello").with_header("content-type", "text/plain"))
        .await;
    let m = a.frame().await;
    assert_eq!(m.command, Command::Message);
    assert_eq!(m.header("subscription"), Some("sub-0"));
    assert_eq!(m.header("destination"), Some("/topic/greetings"));
    assert_eq!(m.header("content-type"), Some("text/plain"));
    assert!(m.header("message-id").is_some());
    assert_eq!(&m.body[..], b"hello");
}

#[tokio::test]
async fn app_hello_greets_on_topic_greetings_like_springs_guide() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::connect(&server, "alice").await;
    a.send_frame(&subscribe("g", "/topic/greetings")).await;
    a.send_frame(&send("/app/hello", "{\"name\":\"Ada\"}"))
        .await;
    let m = a.frame().await;
    assert_eq!(&m.body[..], b"{\"content\":\"Hello, Ada!\"}");
    assert_eq!(m.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let server = TestServer::start().await;
    let (mut a, _) = Client::connect(&server, "a").await;
    a.send_frame(&subscribe("1", "/topic/t")).await;
    a.send_frame(&Frame::new(Command::Unsubscribe).with_header("id", "1"))
        .await;
    a.send_frame(&send("/topic/t", "nobody hears this").with_header("receipt", "r"))
        .await;
    let r = a.frame().await;
    assert_eq!(
        r.command,
        Command::Receipt,
        "no MESSAGE before the receipt: {r:?}"
    );
}

#[tokio::test]
async fn queue_ack_and_nack_with_redelivery() {
    let server = TestServer::start().await;
    let (mut worker, _) = Client::connect(&server, "w").await;
    worker
        .send_frame(&subscribe("q", "/queue/jobs").with_header("ack", "client-individual"))
        .await;
    let (mut producer, _) = Client::connect(&server, "p").await;
    producer.send_frame(&send("/queue/jobs", "job-1")).await;
    let m = worker.frame().await;
    let ack = m.header("ack").unwrap().to_string();
    worker
        .send_frame(&Frame::new(Command::Nack).with_header("id", ack))
        .await;
    let again = worker.frame().await;
    assert_eq!(again.header("redelivered"), Some("true"));
    assert_eq!(&again.body[..], b"job-1");
    worker
        .send_frame(
            &Frame::new(Command::Ack)
                .with_header("id", again.header("ack").unwrap())
                .with_header("receipt", "acked"),
        )
        .await;
    assert_eq!(worker.frame().await.header("receipt-id"), Some("acked"));
    assert_eq!(server.broker.stats().unacked_messages, 0);
}

#[tokio::test]
async fn begin_commit_and_abort() {
    let server = TestServer::start().await;
    let (mut sub, _) = Client::connect(&server, "s").await;
    sub.send_frame(&subscribe("1", "/topic/tx")).await;
    let (mut p, _) = Client::connect(&server, "p").await;
    p.send_frame(&Frame::new(Command::Begin).with_header("transaction", "t1"))
        .await;
    p.send_frame(&send("/topic/tx", "dropped").with_header("transaction", "t1"))
        .await;
    p.send_frame(&Frame::new(Command::Abort).with_header("transaction", "t1"))
        .await;
    p.send_frame(&Frame::new(Command::Begin).with_header("transaction", "t2"))
        .await;
    p.send_frame(&send("/topic/tx", "kept").with_header("transaction", "t2"))
        .await;
    p.send_frame(
        &Frame::new(Command::Commit)
            .with_header("transaction", "t2")
            .with_header("receipt", "c"),
    )
    .await;
    assert_eq!(p.frame().await.header("receipt-id"), Some("c"));
    assert_eq!(&sub.frame().await.body[..], b"kept");
}

#[tokio::test]
async fn user_destinations_are_private_to_the_named_user() {
    let server = TestServer::start().await;
    let (mut alice, _) = Client::connect(&server, "alice").await;
    let (mut mallory, _) = Client::connect(&server, "mallory").await;
    alice
        .send_frame(&subscribe("1", "/user/queue/inbox").with_header("receipt", "a"))
        .await;
    alice.frame().await;
    mallory
        .send_frame(&subscribe("1", "/user/queue/inbox").with_header("receipt", "m"))
        .await;
    mallory.frame().await;
    let (mut bob, _) = Client::connect(&server, "bob").await;
    bob.send_frame(&send("/user/alice/queue/inbox", "psst"))
        .await;
    let m = alice.frame().await;
    assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
    assert_eq!(&m.body[..], b"psst");
    mallory
        .send_frame(&send("/topic/x", "").with_header("receipt", "probe"))
        .await;
    let r = mallory.frame().await;
    assert_eq!(
        r.command,
        Command::Receipt,
        "mallory got alice's message: {r:?}"
    );
}

#[tokio::test]
async fn disconnect_with_receipt_then_normal_close() {
    let mut server = TestServer::start().await;
    let (mut a, connected) = Client::connect(&server, "a").await;
    a.send_frame(&Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    assert_eq!(a.frame().await.header("receipt-id"), Some("bye"));
    assert_eq!(a.closed().await.0, 1000);
    let (id, status) = server.next_close().await;
    assert_eq!(Some(id.as_str()), connected.header("session"));
    assert_eq!(status.code, 1000);
    assert_eq!(status.closed_by, stompbox_broker::ClosedBy::Client);
}

#[tokio::test]
async fn a_large_body_split_over_several_websocket_messages_is_reassembled() {
    // stomp.js splits frames larger than 16 KiB over several WebSocket messages.
    let server = TestServer::start().await;
    let (mut a, _) = Client::connect(&server, "a").await;
    a.send_frame(&subscribe("1", "/topic/big")).await;
    let body = "x".repeat(40_000);
    let text = format!("SEND\ndestination:/topic/big\n\n{body}\0");
    for chunk in text.as_bytes().chunks(16 * 1024) {
        a.send_text(std::str::from_utf8(chunk).unwrap()).await;
    }
    assert_eq!(a.frame().await.body.len(), 40_000);
}

#[tokio::test]
async fn a_binary_websocket_message_holding_a_valid_frame_is_accepted() {
    use futures_util::SinkExt;
    let server = TestServer::start().await;
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    c.ws.send(tokio_tungstenite::tungstenite::Message::binary(
        b"CONNECT\naccept-version:1.2\n\n\0".to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(c.frame().await.command, Command::Connected);
}
