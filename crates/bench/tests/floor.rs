//! The raw floor over real sockets: real WebSocket clients (tokio-tungstenite) against
//! `stompbox_bench::floor::serve` on 127.0.0.1:0.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits, Version, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PATIENCE: Duration = Duration::from_secs(10);
const TOPIC: &str = "/topic/bench";

async fn start_floor() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(stompbox_bench::floor::serve(listener));
    addr
}

/// A STOMP-over-WebSocket client as the generator is one.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    decoder: Decoder,
    buf: BytesMut,
}

impl Client {
    /// Opens the WebSocket, offering the three STOMP subprotocols; no CONNECT yet.
    async fn open(addr: SocketAddr) -> Client {
        let mut request = format!("ws://{addr}/any/path")
            .into_client_request()
            .unwrap();
        let offer = HeaderValue::from_static("v10.stomp, v11.stomp, v12.stomp");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", offer);
        let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "v12.stomp");
        Client {
            ws,
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
        }
    }

    /// Opens and CONNECTs, returning the CONNECTED frame.
    async fn connect(addr: SocketAddr) -> (Client, Frame) {
        let mut client = Client::open(addr).await;
        let connect = Frame::new(Command::Connect)
            .with_header("accept-version", "1.2,1.1,1.0")
            .with_header("host", "/")
            .with_header("heart-beat", "0,0");
        client.send(&connect).await;
        let connected = client.frame().await;
        assert_eq!(connected.command, Command::Connected);
        (client, connected)
    }

    /// A client subscribed to `TOPIC` with id 0, after its receipt.
    async fn subscriber(addr: SocketAddr) -> Client {
        let (mut client, _) = Client::connect(addr).await;
        let subscribe = Frame::new(Command::Subscribe)
            .with_header("id", "0")
            .with_header("destination", TOPIC)
            .with_header("ack", "auto")
            .with_header("receipt", "sub");
        client.send(&subscribe).await;
        client.expect_receipt("sub").await;
        client
    }

    async fn send(&mut self, frame: &Frame) {
        self.send_text(encode(frame, Version::V1_2)).await;
    }

    async fn send_text(&mut self, bytes: impl AsRef<[u8]>) {
        let text = String::from_utf8(bytes.as_ref().to_vec()).unwrap();
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next WebSocket message that is not a STOMP frame (pongs, closes), or `None` at the end.
    async fn message(&mut self) -> Option<Message> {
        timeout(PATIENCE, self.ws.next())
            .await
            .expect("the floor answers in time")
            .map(Result::unwrap)
    }

    /// The next STOMP frame, skipping heart-beats.
    async fn frame(&mut self) -> Frame {
        loop {
            match self.decoder.decode(&mut self.buf).unwrap() {
                Some(Item::Frame(frame)) => return frame,
                Some(Item::HeartBeat) => continue,
                None => {}
            }
            match self.message().await {
                Some(Message::Text(text)) => self.buf.extend_from_slice(text.as_bytes()),
                other => panic!("expected a STOMP frame, got {other:?}"),
            }
        }
    }

    async fn expect_receipt(&mut self, id: &str) {
        let receipt = self.frame().await;
        assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");
        assert_eq!(receipt.header("receipt-id"), Some(id));
    }
}

fn send_frame(destination: &str, body: &str) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", destination)
        .with_header("content-type", "text/plain")
        .with_header("content-length", body.len().to_string())
        .with_body(body.to_owned())
}

#[tokio::test]
async fn connect_gets_connected_and_a_ping_gets_its_pong() {
    let addr = start_floor().await;
    let (mut client, connected) = Client::connect(addr).await;
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("heart-beat"), Some("0,0"));
    assert_eq!(connected.header("server"), Some("stompbox-floor"));
    client.ws.send(Message::Ping("p".into())).await.unwrap();
    assert_eq!(client.message().await, Some(Message::Pong("p".into())));
}

#[tokio::test]
async fn every_subscriber_gets_every_message_in_order() {
    let addr = start_floor().await;
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        subscribers.push(Client::subscriber(addr).await);
    }
    let (mut publisher, _) = Client::connect(addr).await;
    for i in 0..100 {
        let mut frame = send_frame(TOPIC, &format!("message {i} \0 verbatim"));
        if i == 99 {
            frame.push_header("receipt", "last");
        }
        publisher.send(&frame).await;
    }
    publisher.expect_receipt("last").await;
    for subscriber in &mut subscribers {
        for i in 0..100 {
            let message = subscriber.frame().await;
            assert_eq!(message.command, Command::Message);
            assert_eq!(message.header("subscription"), Some("0"));
            assert_eq!(message.header("destination"), Some(TOPIC));
            assert_eq!(message.header("content-type"), Some("text/plain"));
            assert!(message.header("message-id").is_some());
            assert_eq!(
                &message.body[..],
                format!("message {i} \0 verbatim").as_bytes()
            );
        }
    }
}

#[tokio::test]
async fn a_request_without_upgrade_gets_400_with_a_reason() {
    let addr = start_floor().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    timeout(PATIENCE, stream.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert!(
        response.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with("missing `Upgrade: websocket`\n"),
        "{response}"
    );
}

async fn expect_error_then_close(client: &mut Client, message: &str, code: CloseCode) {
    let error = client.frame().await;
    assert_eq!(error.command, Command::Error);
    assert_eq!(error.header("message"), Some(message));
    match client.message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, code),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(client.message().await.is_none(), "the floor closes TCP");
}

#[tokio::test]
async fn garbage_stomp_gets_error_then_close() {
    let addr = start_floor().await;
    let (mut client, _) = Client::connect(addr).await;
    client.send_text("HELLO\n\n\0").await;
    expect_error_then_close(
        &mut client,
        "unknown STOMP command `HELLO`",
        CloseCode::Protocol,
    )
    .await;

    let mut client = Client::open(addr).await;
    client.send(&send_frame(TOPIC, "early")).await;
    expect_error_then_close(&mut client, "SEND before CONNECT", CloseCode::Protocol).await;
}

#[tokio::test]
async fn disconnect_and_websocket_close_end_the_session_cleanly() {
    let addr = start_floor().await;
    let (mut client, _) = Client::connect(addr).await;
    let disconnect = Frame::new(Command::Disconnect).with_header("receipt", "bye");
    client.send(&disconnect).await;
    client.expect_receipt("bye").await;
    match client.message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected a close frame, got {other:?}"),
    }

    let (mut client, _) = Client::connect(addr).await;
    let close = CloseFrame {
        code: CloseCode::Away,
        reason: "".into(),
    };
    client.ws.close(Some(close)).await.unwrap();
    match client.message().await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close echoed, got {other:?}"),
    }
    assert!(client.message().await.is_none());
}

#[tokio::test]
async fn subscribers_that_leave_are_removed_and_publishing_goes_on() {
    let addr = start_floor().await;
    let dropped = Client::subscriber(addr).await;
    let mut closed = Client::subscriber(addr).await;
    let mut unsubscribed = Client::subscriber(addr).await;
    let mut staying = Client::subscriber(addr).await;
    drop(dropped);
    closed.ws.close(None).await.unwrap();
    let unsubscribe = Frame::new(Command::Unsubscribe)
        .with_header("id", "0")
        .with_header("receipt", "unsub");
    unsubscribed.send(&unsubscribe).await;
    unsubscribed.expect_receipt("unsub").await;

    let (mut publisher, _) = Client::connect(addr).await;
    for i in 0..20 {
        let frame = send_frame(TOPIC, &i.to_string()).with_header("receipt", i.to_string());
        publisher.send(&frame).await;
        publisher.expect_receipt(&i.to_string()).await;
        assert_eq!(&staying.frame().await.body[..], i.to_string().as_bytes());
    }
    // The unsubscribed connection got nothing: the next thing it sees answers a new SUBSCRIBE.
    let subscribe = Frame::new(Command::Subscribe)
        .with_header("id", "1")
        .with_header("destination", "/topic/other")
        .with_header("receipt", "again");
    unsubscribed.send(&subscribe).await;
    unsubscribed.expect_receipt("again").await;
}

/// The largest number of 4 KiB messages that can be in flight between a publisher and a
/// subscriber that does not read, if the floor's queue is bounded: the queue, the kernel's
/// socket buffers on both hops, and a MiB for user-space buffers.
fn in_flight_bound(message: usize) -> usize {
    let max = |path: &str| -> usize {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let max = text.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        max.unwrap_or(64 << 20)
    };
    let socket = max("/proc/sys/net/ipv4/tcp_wmem") + max("/proc/sys/net/ipv4/tcp_rmem");
    1024 + (2 * socket + (1 << 20)) / message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_stalls_the_publisher_not_the_floor() {
    const SIZE: usize = 4096;
    let bound = in_flight_bound(SIZE);
    // An unbounded floor would take them all.
    let attempts = 2 * bound;
    let addr = start_floor().await;
    let mut sleeper = Client::subscriber(addr).await;
    let (mut publisher, _) = Client::connect(addr).await;

    let body = |i: usize| format!("{i:020}{}", "x".repeat(SIZE - 20));
    let mut sent = 0;
    while sent < attempts {
        let frame = encode(&send_frame(TOPIC, &body(sent)), Version::V1_2);
        let text = String::from_utf8(frame.to_vec()).unwrap();
        if timeout(
            Duration::from_secs(2),
            publisher.ws.send(Message::text(text)),
        )
        .await
        .is_err()
        {
            break;
        }
        sent += 1;
    }
    assert!(sent < bound, "{sent} messages accepted, bound {bound}");

    // The floor still serves others while that publisher waits.
    let mut other = Client::subscriber(addr).await;
    let ping = Frame::new(Command::Send)
        .with_header("destination", "/topic/elsewhere")
        .with_header("receipt", "alive");
    other.send(&ping).await;
    other.expect_receipt("alive").await;

    // Once the subscriber reads, everything flows, in order and without loss.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        loop {
            let message = sleeper.frame().await;
            if &message.body[..] == b"last" {
                return received;
            }
            assert_eq!(&message.body[..20], format!("{received:020}").as_bytes());
            received += 1;
        }
    });
    let last = send_frame(TOPIC, "last").with_header("receipt", "last");
    timeout(PATIENCE, publisher.send(&last)).await.unwrap();
    publisher.expect_receipt("last").await;
    let received = timeout(PATIENCE, reader).await.unwrap().unwrap();
    // The send that timed out may or may not have been taken.
    assert!(
        received == sent || received == sent + 1,
        "{received} of {sent}"
    );
}
