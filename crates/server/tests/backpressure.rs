//! Back-pressure end to end: a subscriber that does not read makes the server stop reading the
//! publisher (its outbox stays near `limits.outbox_high_water`), and once the subscriber reads,
//! every message arrives, in order.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::time::Duration;

use stompbox_stomp::Command;
use support::{Client, TestServer, WAIT, send, subscribe};
use tokio::io::AsyncWriteExt;

const MESSAGES: usize = 2000;
const BODY: usize = 1000;

async fn small_outboxes() -> TestServer {
    TestServer::start_with(|c| {
        c.limits.outbox_high_water = 16 * 1024;
        c.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// A subscriber that has not read anything yet.
async fn idle_subscriber(server: &TestServer) -> Client {
    let (mut s, _) = Client::connect(server, "slow").await;
    s.send_frame(&subscribe("1", "/topic/bp").with_header("receipt", "r"))
        .await;
    assert_eq!(s.frame().await.header("receipt-id"), Some("r"));
    s
}

/// Runs `publish` against a subscriber that reads nothing until the broker has paused the
/// publisher; then reads every message, checking their order, and returns what `publish` did.
async fn delivered_in_order<T: Send + 'static>(
    server: &TestServer,
    subscriber: &mut Client,
    publish: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let publishing = tokio::spawn(publish);
    tokio::time::timeout(WAIT, async {
        while server.broker.stats().backpressure_pauses == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the publisher is paused");
    for i in 0..MESSAGES {
        let m = subscriber.frame().await;
        assert_eq!(m.command, Command::Message);
        assert_eq!(
            &m.body[..8],
            format!("{i:08}").as_bytes(),
            "message {i} in order"
        );
    }
    tokio::time::timeout(WAIT, publishing)
        .await
        .expect("the publisher finishes")
        .unwrap()
}

/// SEND frames with the messages' bodies, in order.
fn sends() -> impl Iterator<Item = String> {
    (0..MESSAGES).map(|i| format!("SEND\ndestination:/topic/bp\n\n{}\0", body(i)))
}

fn body(i: usize) -> String {
    format!("{i:08}{}", "x".repeat(BODY - 8))
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_pauses_a_websocket_publisher_and_nothing_is_lost() {
    let server = small_outboxes().await;
    let mut subscriber = idle_subscriber(&server).await;
    let (mut publisher, _) = Client::connect(&server, "fast").await;
    let mut publisher = delivered_in_order(&server, &mut subscriber, async move {
        for frame in sends() {
            publisher.send_text(&frame).await;
        }
        publisher
    })
    .await;
    publisher
        .send_frame(&send("/topic/other", "").with_header("receipt", "done"))
        .await;
    assert_eq!(publisher.frame().await.header("receipt-id"), Some("done"));
    assert_eq!(server.broker.stats().messages_delivered, MESSAGES as u64);
}

#[tokio::test]
async fn a_tcp_publisher_is_paused_too() {
    let server = small_outboxes().await;
    let mut subscriber = idle_subscriber(&server).await;
    let mut publisher = tokio::net::TcpStream::connect(server.tcp_addr.unwrap())
        .await
        .unwrap();
    delivered_in_order(&server, &mut subscriber, async move {
        publisher
            .write_all(b"CONNECT\naccept-version:1.2\nhost:h\n\n\0")
            .await
            .unwrap();
        for frame in sends() {
            publisher.write_all(frame.as_bytes()).await.unwrap();
        }
        publisher
    })
    .await;
}

#[tokio::test]
async fn what_a_paused_publisher_sent_before_its_close_frame_is_still_delivered() {
    let server = small_outboxes().await;
    let mut subscriber = idle_subscriber(&server).await;
    let (mut publisher, _) = Client::connect(&server, "fast").await;
    delivered_in_order(&server, &mut subscriber, async move {
        for frame in sends() {
            publisher.send_text(&frame).await;
        }
        // Close right behind the last SEND, without waiting for anything.
        publisher.ws.close(None).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_sockjs_xhr_publisher_is_answered_only_once_the_subscribers_drained() {
    let server = small_outboxes().await;
    let mut subscriber = idle_subscriber(&server).await;
    let id = sockjs::sid();
    sockjs::xhr_connect(server.addr, &id).await;
    let addr = server.addr;
    delivered_in_order(&server, &mut subscriber, async move {
        let frames: Vec<String> = sends().collect();
        for chunk in frames.chunks(50) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            sockjs::xhr_send(addr, &id, &chunk).await;
        }
    })
    .await;
}
