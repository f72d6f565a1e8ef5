//! Slow consumers end to end: a subscriber that stops reading (a small receive buffer, never
//! read again) is closed with 4500 once its queue has stayed congested for
//! `limits.send_time_limit`, or as soon as it would pass `limits.send_buffer_limit`; meanwhile a
//! fast subscriber gets every message and the publisher, paused at most that long, goes on. The
//! same for a SockJS session whose client stops polling, which then gets `c[4500,…]`.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use stompbox_broker::{CloseStatus, ClosedBy};
use stompbox_server::ServerConfig;
use stompbox_stomp::Command;
use support::{Client, TestServer, WAIT, send, subscribe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const HIGH_WATER: usize = 16 * 1024;
const BUFFER_LIMIT: usize = 64 * 1024;
const TIME_LIMIT: Duration = Duration::from_millis(500);
const TOPIC: &str = "/topic/slow";
/// Message bodies: 8 KiB, starting with their number.
const BODY: usize = 8 * 1024;
/// 16 MB: far more than the kernel buffers between the server and a client that stops reading.
const MESSAGES: usize = 2000;

async fn start(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
    TestServer::start_with(|c| {
        c.limits.outbox_high_water = HIGH_WATER;
        c.limits.send_buffer_limit = BUFFER_LIMIT;
        c.limits.send_time_limit = TIME_LIMIT;
        c.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
        adjust(c);
    })
    .await
}

fn body(i: usize) -> String {
    format!("{i:08}{}", "x".repeat(BODY - 8))
}

/// A TCP connection with a 4 KiB receive buffer, so that what the server writes backs up soon.
async fn small_window(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap()
}

/// The value of `name` in the STOMP frame starting `text`.
fn header(text: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} header in {text:?}"))
        .to_string()
}

const CONNECT: &str = "CONNECT\naccept-version:1.2\nhost:h\nheart-beat:0,0\n\n\0";
const SUBSCRIBE: &str = "SUBSCRIBE\nid:1\ndestination:/topic/slow\nreceipt:r\n\n\0";

/// STOMP over WebSocket on a small receive window: connects and subscribes, then is never read
/// again (the socket stays open). Returns it and the session id.
async fn slow_websocket(server: &TestServer) -> (WebSocketStream<TcpStream>, String) {
    let mut request = server.url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "v12.stomp".parse().unwrap());
    let stream = small_window(server.addr).await;
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let connected = exchange(&mut ws, CONNECT).await;
    assert!(connected.starts_with("CONNECTED\n"), "{connected:?}");
    let receipt = exchange(&mut ws, SUBSCRIBE).await;
    assert!(receipt.starts_with("RECEIPT\n"), "{receipt:?}");
    (ws, header(&connected, "session"))
}

/// Sends `frame` and returns the frame that answers it.
async fn exchange(ws: &mut WebSocketStream<TcpStream>, frame: &str) -> String {
    ws.send(Message::text(frame)).await.unwrap();
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
        Some(Ok(Message::Text(t))) => t.to_string(),
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// STOMP over TCP on a small receive window, subscribed and never read again.
async fn slow_tcp(server: &TestServer) -> (TcpStream, String) {
    let mut stream = small_window(server.tcp_addr.unwrap()).await;
    stream
        .write_all(format!("{CONNECT}{SUBSCRIBE}").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("RECEIPT\n") {
        let mut buf = [0; 1024];
        let n = tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .expect("CONNECTED and RECEIPT in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    (stream, header(&text, "session"))
}

/// A subscriber that keeps up: a task reading `MESSAGES` messages, checking their order.
async fn fast_subscriber(server: &TestServer) -> JoinHandle<usize> {
    let (mut c, _) = Client::connect(server, "fast").await;
    c.send_frame(&subscribe("1", TOPIC).with_header("receipt", "r"))
        .await;
    assert_eq!(c.frame().await.header("receipt-id"), Some("r"));
    tokio::spawn(async move {
        for i in 0..MESSAGES {
            let m = c.frame().await;
            assert_eq!(m.command, Command::Message);
            assert_eq!(&m.body[..8], format!("{i:08}").as_bytes(), "message {i}");
        }
        MESSAGES
    })
}

/// A WebSocket publisher sending `MESSAGES` messages, then one with a receipt; the task ends
/// when the receipt arrives.
async fn publisher(server: &TestServer) -> JoinHandle<()> {
    let (mut p, _) = Client::connect(server, "publisher").await;
    tokio::spawn(async move {
        for i in 0..MESSAGES {
            p.send_frame(&send(TOPIC, &body(i))).await;
        }
        p.send_frame(&send("/topic/other", "").with_header("receipt", "done"))
            .await;
        assert_eq!(p.frame().await.header("receipt-id"), Some("done"));
    })
}

fn assert_slow_close(status: &CloseStatus, reason: &str) {
    assert_eq!(
        (status.code, status.reason.as_str(), status.closed_by),
        (4500, reason, ClosedBy::Server),
        "{status:?}"
    );
}

/// `name`'s value in the server's `/metrics`.
async fn metric(server: &TestServer, name: &str) -> u64 {
    let metrics = http::get(server.addr, "/metrics").await;
    let line = metrics
        .text()
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .to_string();
    line[name.len() + 1..].parse().unwrap()
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
}

#[tokio::test]
async fn a_websocket_subscriber_that_stops_reading_is_closed_4500_after_the_send_time_limit() {
    let mut server = start(|_| {}).await;
    let (_slow, slow_id) = slow_websocket(&server).await;
    let fast = fast_subscriber(&server).await;
    let started = Instant::now();
    let publishing = publisher(&server).await;
    let (id, status) = server.next_close().await;
    assert_eq!(id, slow_id);
    assert_slow_close(&status, "slow consumer: could not send for 500ms");
    assert!(started.elapsed() < WAIT, "closed within about the limit");
    within("the publisher's receipt", publishing).await.unwrap();
    assert_eq!(within("every message", fast).await.unwrap(), MESSAGES);
    let time = "stompbox_slow_consumer_closes_total{limit=\"time\"}";
    assert_eq!(metric(&server, time).await, 1);
    let peak = metric(&server, "stompbox_outbox_peak_queued_bytes").await;
    assert!(peak as usize <= BUFFER_LIMIT, "queued at most {peak} bytes");
}

/// Messages published by the broker itself (an application handler, the API) pause nobody, so
/// a queue that does not drain would only grow: the send buffer limit ends it.
#[tokio::test]
async fn a_tcp_subscriber_that_stops_reading_is_closed_4500_at_the_send_buffer_limit() {
    let mut server = start(|c| c.limits.send_time_limit = Duration::from_secs(60)).await;
    let (mut slow, slow_id) = slow_tcp(&server).await;
    let (mut fast, _) = Client::connect(&server, "fast").await;
    fast.send_frame(&subscribe("1", TOPIC).with_header("receipt", "r"))
        .await;
    assert_eq!(fast.frame().await.header("receipt-id"), Some("r"));
    for i in 0..MESSAGES {
        server.broker.publish(TOPIC, Vec::new(), body(i)).unwrap();
        // One at a time, so that only the slow one falls behind.
        let m = fast.frame().await;
        assert_eq!(&m.body[..8], format!("{i:08}").as_bytes(), "message {i}");
    }
    let (id, status) = server.next_close().await;
    assert_eq!(id, slow_id);
    assert_slow_close(&status, "slow consumer: send buffer over 65536 bytes");
    let bytes = "stompbox_slow_consumer_closes_total{limit=\"bytes\"}";
    assert_eq!(metric(&server, bytes).await, 1);
    let peak = metric(&server, "stompbox_outbox_peak_queued_bytes").await;
    assert!(peak as usize <= BUFFER_LIMIT, "queued at most {peak} bytes");
    // Reading again, the slow client finds what was written before, then the end.
    let mut rest = Vec::new();
    within(
        "the end of the slow connection",
        slow.read_to_end(&mut rest),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_sockjs_session_whose_client_stops_polling_is_closed_4500_and_told_on_its_next_poll() {
    // Long enough that the closed session is still there to answer the next poll.
    let mut server = start(|c| c.sockjs.disconnect_delay = Duration::from_secs(30)).await;
    let sid = sockjs::sid();
    let connected = sockjs::xhr_connect(server.addr, &sid).await;
    let session = connected.header("session").unwrap().to_string();
    sockjs::xhr_send(server.addr, &sid, &[SUBSCRIBE]).await;
    let frames = sockjs::xhr_frames(server.addr, &sid).await;
    assert_eq!(frames[0].header("receipt-id"), Some("r"), "{frames:?}");
    // The client stops polling; the publisher fills its queue.
    let fast = fast_subscriber(&server).await;
    let publishing = publisher(&server).await;
    let (id, status) = server.next_close().await;
    assert_eq!(id, session);
    assert_slow_close(&status, "slow consumer: could not send for 500ms");
    assert_eq!(
        sockjs::xhr(server.addr, &sid).await,
        "c[4500,\"slow consumer: could not send for 500ms\"]\n"
    );
    within("the publisher's receipt", publishing).await.unwrap();
    assert_eq!(within("every message", fast).await.unwrap(), MESSAGES);
    let peak = metric(&server, "stompbox_outbox_peak_queued_bytes").await;
    assert!(peak as usize <= BUFFER_LIMIT, "queued at most {peak} bytes");
}

#[tokio::test]
async fn a_sockjs_xhr_streaming_receiver_that_stops_reading_is_closed_4500() {
    // The stream would otherwise end (and the client reconnect) after 128 KiB.
    let mut server = start(|c| c.sockjs.response_limit = 1 << 30).await;
    let sid = sockjs::sid();
    let mut stream = sockjs::xhr_streaming(server.addr, &sid).await;
    assert_eq!(stream.line().await, "o\n");
    sockjs::xhr_send(server.addr, &sid, &[CONNECT]).await;
    let connected = sockjs::streamed_frames(&mut stream).await.remove(0);
    let session = connected.header("session").unwrap().to_string();
    sockjs::xhr_send(server.addr, &sid, &[SUBSCRIBE]).await;
    let frames = sockjs::streamed_frames(&mut stream).await;
    assert_eq!(frames[0].header("receipt-id"), Some("r"), "{frames:?}");
    // The client stops reading its stream; the publisher fills what lies between.
    let fast = fast_subscriber(&server).await;
    let publishing = publisher(&server).await;
    let (id, status) = server.next_close().await;
    assert_eq!(id, session);
    assert_slow_close(&status, "slow consumer: could not send for 500ms");
    within("the publisher's receipt", publishing).await.unwrap();
    assert_eq!(within("every message", fast).await.unwrap(), MESSAGES);
    let peak = metric(&server, "stompbox_outbox_peak_queued_bytes").await;
    assert!(peak as usize <= BUFFER_LIMIT, "queued at most {peak} bytes");
    drop(stream);
}
