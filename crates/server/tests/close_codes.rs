//! Each close path, as the client sees it and as the session event reports it.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_broker::ClosedBy;
use stompbox_server::Shutdown;
use support::{Client, TestServer, send, subscribe};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

#[tokio::test]
async fn client_close_1000_is_reported_as_1000_by_the_client() {
    let mut server = TestServer::start().await;
    let (c, connected) = Client::connect(&server, "a").await;
    c.close(Some(1000)).await;
    let (id, status) = server.next_close().await;
    assert_eq!(Some(id.as_str()), connected.header("session"));
    assert_eq!((status.code, status.closed_by), (1000, ClosedBy::Client));
    assert_eq!(status.reason, "bye");
}

#[tokio::test]
async fn client_going_away_1001_is_reported_as_1001() {
    let mut server = TestServer::start().await;
    let (c, _) = Client::connect(&server, "a").await;
    c.close(Some(1001)).await;
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1001, ClosedBy::Client));
}

#[tokio::test]
async fn a_close_frame_without_a_code_is_reported_as_1005() {
    let mut server = TestServer::start().await;
    let (c, _) = Client::connect(&server, "a").await;
    c.close(None).await;
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1005, ClosedBy::Client));
}

#[tokio::test]
async fn a_dropped_socket_is_1006_and_leaves_nothing_behind() {
    let mut server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_frame(&subscribe("1", "/topic/t")).await;
    c.send_frame(&subscribe("2", "/queue/q").with_header("ack", "client"))
        .await;
    c.send_frame(&send("/queue/q", "unacked").with_header("receipt", "r"))
        .await;
    c.frame().await; // the queue message
    c.frame().await; // the receipt
    assert_eq!(server.broker.stats().unacked_messages, 1);
    c.drop_socket();
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1006, ClosedBy::Nobody));
    server.assert_empty();
    // The unacked queue message waits for the next consumer.
    assert_eq!(server.broker.stats().pending_messages, 1);
}

#[tokio::test]
async fn a_malformed_frame_gets_error_then_1002() {
    let mut server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_text("SEND\ndestination:/topic/a\nno-colon-here\n\n\0")
        .await;
    let e = c.error_then_close(1002).await;
    assert!(e.header("message").unwrap().contains("malformed"), "{e:?}");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1002, ClosedBy::Server));
}

#[tokio::test]
async fn invalid_utf8_in_a_text_message_is_1007() {
    let mut server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_raw(WsFrame::message(
        vec![b'S', b'E', 0xff, 0xfe],
        OpCode::Data(Data::Text),
        true,
    ))
    .await;
    assert_eq!(c.closed().await.0, 1007);
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1007, ClosedBy::Server));
}

#[tokio::test]
async fn a_frame_over_the_size_limit_is_error_then_1009() {
    let mut server = TestServer::start_with(|c| c.limits.max_frame_size = 4096).await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_frame(&send("/topic/a", &"x".repeat(5000))).await;
    let e = c.error_then_close(1009).await;
    assert!(e.header("message").unwrap().contains("4096"), "{e:?}");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1009, ClosedBy::Server));
}

#[tokio::test]
async fn a_websocket_message_over_the_transport_limit_is_1009() {
    let mut server = TestServer::start_with(|c| c.limits.max_frame_size = 4096).await;
    let (mut c, _) = Client::connect(&server, "a").await;
    // The WebSocket layer allows twice the frame limit, at least 64 KiB.
    c.send_text(&"x".repeat(70_000)).await;
    assert_eq!(c.closed().await.0, 1009);
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1009, ClosedBy::Server));
}

#[tokio::test]
async fn a_silent_client_is_closed_by_the_server_with_4408() {
    let mut server = TestServer::start_with(|c| {
        c.stomp.heart_beat = "100,100".into();
        c.stomp.heartbeat_grace = 2.0;
    })
    .await;
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    c.send_text("CONNECT\naccept-version:1.2\nheart-beat:100,100\n\n\0")
        .await;
    assert_eq!(c.frame().await.header("heart-beat"), Some("100,100"));
    // The server heart-beats while we stay silent, then gives up on us.
    let mut beats = 0;
    let code = loop {
        match c.next().await {
            support::Got::HeartBeat => beats += 1,
            support::Got::Close(Some(f)) => break u16::from(f.code),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 4408);
    assert!(beats >= 1, "server heart-beats before closing");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (4408, ClosedBy::Server));
    assert!(status.reason.contains("heart-beat"));
}

#[tokio::test]
async fn a_client_that_heart_beats_stays_connected() {
    let server = TestServer::start_with(|c| c.stomp.heart_beat = "100,100".into()).await;
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    c.send_text("CONNECT\naccept-version:1.2\nheart-beat:100,100\n\n\0")
        .await;
    c.frame().await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send_text("\n").await;
    }
    c.send_frame(&send("/topic/x", "").with_header("receipt", "alive"))
        .await;
    assert_eq!(c.frame().await.header("receipt-id"), Some("alive"));
}

#[tokio::test]
async fn server_shutdown_closes_sessions_with_1001() {
    let server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    let broker = server.broker.clone();
    let mut events = broker.events();
    let stopping = tokio::spawn(server.stop(Shutdown::GoingAway));
    assert_eq!(c.closed().await.0, 1001);
    drop(c);
    stopping.await.unwrap();
    let event = events.recv().await.unwrap();
    match event.kind {
        stompbox_broker::EventKind::Disconnect { status, .. } => {
            assert_eq!((status.code, status.closed_by), (1001, ClosedBy::Server));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_restart_closes_sessions_with_1012() {
    let server = TestServer::start().await;
    let (mut c, _) = Client::connect(&server, "a").await;
    let stopping = tokio::spawn(server.stop(Shutdown::Restart));
    assert_eq!(c.closed().await.0, 1012);
    drop(c);
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_refused_login_gets_error_then_1008() {
    let mut server = TestServer::start().await;
    server
        .broker
        .set_authenticator(|req: &stompbox_broker::ConnectRequest<'_>| {
            match (req.login, req.passcode) {
                (Some("alice"), Some("secret")) => Ok(Some("alice".to_string())),
                _ => Err("bad login or passcode".to_string()),
            }
        });
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    c.send_text("CONNECT\naccept-version:1.2\nlogin:alice\npasscode:guess\n\n\0")
        .await;
    let e = c.error_then_close(1008).await;
    assert!(e.header("message").unwrap().contains("bad login"), "{e:?}");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1008, ClosedBy::Server));
    let mut ok = Client::open(&server.url(), &["v12.stomp"]).await;
    ok.send_text("STOMP\naccept-version:1.2\nlogin:alice\npasscode:secret\n\n\0")
        .await;
    assert_eq!(ok.frame().await.header("user-name"), Some("alice"));
}

#[tokio::test]
async fn shutdown_also_closes_connections_that_never_sent_connect() {
    let server = TestServer::start().await;
    let mut c = Client::open(&server.url(), &["v12.stomp"]).await;
    // Make sure the session exists before stopping.
    for _ in 0..50 {
        if server.broker.stats().sessions_open == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = tokio::spawn(server.stop(Shutdown::GoingAway));
    assert_eq!(c.closed().await.0, 1001);
    drop(c);
    stopping.await.unwrap();
}
