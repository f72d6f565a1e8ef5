//! Protocol violations get an ERROR frame naming the problem, then a close with 1002; other
//! sessions are untouched.
#![allow(clippy::unwrap_used)]

mod support;

use stompbox_stomp::{Command, Frame};
use support::{Client, TestServer, send, subscribe};

async fn bystander(server: &TestServer) -> Client {
    let (mut b, _) = Client::connect(server, "bystander").await;
    b.send_frame(&subscribe("1", "/topic/still-here").with_header("receipt", "r"))
        .await;
    b.frame().await;
    b
}

async fn assert_bystander_fine(server: &TestServer, b: &mut Client) {
    server
        .broker
        .publish("/topic/still-here", vec![], "ok")
        .unwrap();
    assert_eq!(&b.frame().await.body[..], b"ok");
}

async fn expect_error(server: &TestServer, frames: &[&str], needle: &str) {
    let mut b = bystander(server).await;
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    for f in frames {
        c.send_text(f).await;
    }
    let mut e = c.frame().await;
    if e.command == Command::Connected || e.command == Command::Message {
        e = c.frame().await;
    }
    assert_eq!(e.command, Command::Error, "{e:?}");
    let message = e.header("message").unwrap();
    assert!(
        message.contains(needle),
        "`{message}` should mention `{needle}`"
    );
    assert_eq!(c.closed().await.0, 1002);
    assert_bystander_fine(server, &mut b).await;
}

const CONNECT: &str = "CONNECT\naccept-version:1.2\n\n\0";

#[tokio::test]
async fn send_before_connect() {
    let server = TestServer::start().await;
    expect_error(
        &server,
        &["SEND\ndestination:/topic/a\n\nx\0"],
        "before CONNECT",
    )
    .await;
}

#[tokio::test]
async fn a_second_connect() {
    let server = TestServer::start().await;
    expect_error(&server, &[CONNECT, CONNECT], "already connected").await;
}

#[tokio::test]
async fn an_unknown_command() {
    let server = TestServer::start().await;
    expect_error(&server, &[CONNECT, "PUBLISH\n\n\0"], "PUBLISH").await;
}

#[tokio::test]
async fn a_missing_required_header() {
    let server = TestServer::start().await;
    expect_error(&server, &[CONNECT, "SUBSCRIBE\nid:1\n\n\0"], "destination").await;
}

#[tokio::test]
async fn ack_of_an_unknown_id() {
    let server = TestServer::start().await;
    expect_error(&server, &[CONNECT, "ACK\nid:12345\n\n\0"], "12345").await;
}

#[tokio::test]
async fn commit_of_an_unknown_transaction() {
    let server = TestServer::start().await;
    expect_error(
        &server,
        &[CONNECT, "COMMIT\ntransaction:nope\n\n\0"],
        "nope",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_destination_prefix() {
    let server = TestServer::start().await;
    expect_error(
        &server,
        &[CONNECT, "SEND\ndestination:/exchange/x\n\n\0"],
        "/exchange/x",
    )
    .await;
}

#[tokio::test]
async fn an_error_carries_the_receipt_id_of_the_offending_frame() {
    let server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_frame(
        &Frame::new(Command::Ack)
            .with_header("id", "9")
            .with_header("receipt", "r-9"),
    )
    .await;
    let e = c.error_then_close(1002).await;
    assert_eq!(e.header("receipt-id"), Some("r-9"));
}

#[tokio::test]
async fn an_unsupported_version_lists_the_supported_ones() {
    let server = TestServer::start().await;
    let mut c = Client::open(&server.url(), &[]).await;
    c.send_text("CONNECT\naccept-version:3.0\n\n\0").await;
    let e = c.error_then_close(1002).await;
    assert_eq!(e.header("version"), Some("1.0,1.1,1.2"));
    let _ = send;
}
