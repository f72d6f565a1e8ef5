//! The lab's client speaks STOMP over raw WebSocket and over SockJS: CONNECTED's headers,
//! SUBSCRIBE, SEND to the server's `/app/hello`, the MESSAGE back, and DISCONNECT → 1000.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_lab::client::{Client, Command, ConnectOptions, Event, HeartBeat, Transport, Version};
use support::start_server;

async fn greet(url: String, transport: Transport) {
    let options = ConnectOptions {
        heart_beat: (0, 20_000),
        login: Some("ada".into()),
        ..ConnectOptions::default()
    };
    let mut client = Client::connect(&url, options).await.unwrap();
    assert_eq!(client.transport(), transport);
    assert_eq!(client.version(), Version::V1_2);
    assert!(client.session().is_some());
    // The server sends every 20 s (the larger wish) and expects nothing from a client that
    // offers 0.
    assert_eq!(client.heart_beat(), Some(HeartBeat::new(20_000, 0)));
    client.subscribe("s1", "/topic/greetings").await.unwrap();
    client
        .send("/app/hello", r#"{"name":"Ada"}"#)
        .await
        .unwrap();
    let message = loop {
        match tokio::time::timeout(Duration::from_secs(5), client.next_event())
            .await
            .unwrap()
            .unwrap()
        {
            Event::Frame(frame) => break frame,
            Event::Heartbeat { .. } | Event::Ping => {}
            closed @ Event::Closed { .. } => panic!("{closed:?}"),
        }
    };
    assert_eq!(message.command, Command::Message);
    assert_eq!(&message.body[..], br#"{"content":"Hello, Ada!"}"#);
    let closed = client.disconnect(Duration::from_secs(5)).await.unwrap();
    assert!(
        matches!(
            closed,
            Event::Closed {
                code: 1000,
                clean: true,
                ..
            }
        ),
        "{closed:?}"
    );
}

#[tokio::test]
async fn websocket_round_trip() {
    let (server, _events) = start_server(|_| {}).await;
    greet(format!("ws://{server}/test-ws"), Transport::WebSocket).await;
}

#[tokio::test]
async fn sockjs_round_trip() {
    let (server, _events) = start_server(|_| {}).await;
    greet(format!("http://{server}/test-ws"), Transport::SockJs).await;
}
