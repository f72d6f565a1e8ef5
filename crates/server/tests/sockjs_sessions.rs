//! SockJS session lifetimes at the STOMP endpoint: a second receiver (2010), a closed session
//! answering its close frame (3000 and others), interrupted receivers (1002), HTTP/1.0 and 1.1
//! framing ("Handling close" and "Http 1.0 and 1.1 chunking" of `sockjs-protocol-0.3.3.py`),
//! heartbeats, and the close status each path reports in the session event.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::time::{Duration, Instant};

use sockjs::{
    CONNECT, messages, send_body, sid, start, start_with, stomp_frames, streamed_frames, url,
    ws_open, ws_recv, ws_send, xhr, xhr_connect, xhr_frames, xhr_send, xhr_streaming,
};
use stompbox_broker::ClosedBy;
use stompbox_stomp::Command;

const ANOTHER: &str = "c[2010,\"Another connection still open\"]\n";
const GO_AWAY: &str = "c[3000,\"Go away!\"]\n";
const INTERRUPTED: &str = "c[1002,\"Connection interrupted\"]\n";

fn is_open(server: &support::TestServer, id: &str) -> bool {
    server.broker.sessions().iter().any(|s| s.id.as_ref() == id)
}

// ---- Receivers ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_second_streaming_receiver_gets_2010_and_the_first_keeps_receiving() {
    let server = start().await;
    let id = sid();
    let mut r1 = xhr_streaming(server.addr, &id).await;
    r1.expect("o\n").await;
    let mut r2 = xhr_streaming(server.addr, &id).await;
    r2.expect(ANOTHER).await;
    r2.end().await;
    xhr_send(server.addr, &id, &[CONNECT]).await;
    assert_eq!(
        streamed_frames(&mut r1).await[0].command,
        Command::Connected
    );
}

#[tokio::test]
async fn a_second_polling_receiver_gets_2010() {
    let server = start().await;
    let id = sid();
    assert_eq!(xhr(server.addr, &id).await, "o\n");
    let mut r1 = http::Conn::open(server.addr).await;
    r1.send("POST", &url(&id, "xhr"), "1.1", &[], b"").await;
    tokio::time::sleep(Duration::from_millis(100)).await; // let r1 attach
    assert_eq!(xhr(server.addr, &id).await, ANOTHER);
    // r1 is still the receiver: it gets the next frame.
    xhr_send(server.addr, &id, &[CONNECT]).await;
    let head = r1.head(false).await;
    assert_eq!(head.status, 200);
    let body = String::from_utf8(r1.rest().await).unwrap();
    assert_eq!(
        stomp_frames(&messages(&body))[0].command,
        Command::Connected
    );
}

#[tokio::test]
async fn a_session_closed_by_the_server_answers_its_close_frame_to_every_later_request() {
    let mut server = start().await;
    let id = sid();
    let mut r1 = xhr_streaming(server.addr, &id).await;
    r1.expect("o\n").await;
    xhr_send(server.addr, &id, &[CONNECT]).await;
    assert_eq!(
        streamed_frames(&mut r1).await[0].command,
        Command::Connected
    );

    server.broker.close_all(3000, "Go away!");
    r1.expect(GO_AWAY).await;
    r1.end().await;
    let (closed, status) = server.next_close().await;
    assert_eq!(closed, id);
    assert_eq!((status.code, status.reason.as_str()), (3000, "Go away!"));
    assert_eq!(status.closed_by, ClosedBy::Server);

    let mut r2 = xhr_streaming(server.addr, &id).await;
    r2.expect(GO_AWAY).await;
    r2.end().await;
    assert_eq!(xhr(server.addr, &id).await, GO_AWAY);
    assert_eq!(xhr(server.addr, &id).await, GO_AWAY);
    let r = http::get(server.addr, &format!("{}?c=x", url(&id, "jsonp"))).await;
    assert_eq!(r.text(), "x(\"c[3000,\\\"Go away!\\\"]\");\r\n");
}

#[tokio::test]
async fn after_a_stomp_disconnect_the_session_answers_c_1000_and_reports_the_client() {
    let mut server = start().await;
    let id = sid();
    xhr_connect(server.addr, &id).await;
    xhr_send(server.addr, &id, &["DISCONNECT\nreceipt:bye\n\n\0"]).await;
    let mut bodies = String::new();
    while !bodies.contains("c[") {
        bodies.push_str(&xhr(server.addr, &id).await);
    }
    assert!(bodies.contains("RECEIPT\\nreceipt-id:bye"), "{bodies:?}");
    assert!(bodies.ends_with("c[1000,\"DISCONNECT\"]\n"), "{bodies:?}");
    assert_eq!(xhr(server.addr, &id).await, "c[1000,\"DISCONNECT\"]\n");
    let (closed, status) = server.next_close().await;
    assert_eq!(closed, id);
    assert_eq!((status.code, status.closed_by), (1000, ClosedBy::Client));
    server.assert_empty();
}

#[tokio::test]
async fn aborting_a_streaming_receiver_gives_the_next_one_1002_connection_interrupted() {
    let mut server = start().await;
    let id = sid();
    let mut r1 = xhr_streaming(server.addr, &id).await;
    r1.expect("o\n").await;
    xhr_send(server.addr, &id, &[CONNECT]).await;
    streamed_frames(&mut r1).await;
    let mut r2 = xhr_streaming(server.addr, &id).await;
    r2.expect(ANOTHER).await;
    r2.end().await;
    drop(r1);

    // The server learns of the abort when the socket closes; give it up to 2 s.
    let deadline = Instant::now() + Duration::from_secs(2);
    let answer = loop {
        let mut r3 = xhr_streaming(server.addr, &id).await;
        let line = r3.line().await;
        if line != ANOTHER || Instant::now() > deadline {
            r3.end().await;
            break line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answer, INTERRUPTED);
    let (closed, status) = server.next_close().await;
    assert_eq!(closed, id);
    assert_eq!(
        (status.code, status.closed_by),
        (1002, ClosedBy::Nobody),
        "{status:?}"
    );
    assert_eq!(xhr(server.addr, &id).await, INTERRUPTED);
}

#[tokio::test]
async fn aborting_a_polling_receiver_ends_the_session() {
    let server = start().await;
    let id = sid();
    assert_eq!(xhr(server.addr, &id).await, "o\n");
    let mut r1 = http::Conn::open(server.addr).await;
    r1.send("POST", &url(&id, "xhr"), "1.1", &[], b"").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(xhr(server.addr, &id).await, ANOTHER);
    drop(r1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The spec allows either a fresh session or 1002.
    let answer = xhr(server.addr, &id).await;
    assert!(answer == "o\n" || answer == INTERRUPTED, "{answer:?}");
}

// ---- HTTP/1.0 and HTTP/1.1 -------------------------------------------------------------------

#[tokio::test]
async fn an_http_1_0_greeting_is_length_delimited_or_ends_with_the_connection() {
    let server = start().await;
    let mut c = http::Conn::open(server.addr).await;
    c.send(
        "GET",
        "/test-ws",
        "1.0",
        &[("Connection", "Keep-Alive")],
        b"",
    )
    .await;
    let head = c.head(false).await;
    assert_eq!(head.status, 200);
    assert!(
        matches!(head.version.as_str(), "HTTP/1.0" | "HTTP/1.1"),
        "{head:?}"
    );
    assert!(
        !head.has("transfer-encoding"),
        "no chunking in HTTP/1.0: {head:?}"
    );
    let connection = head.header("connection").unwrap_or_default().to_lowercase();
    match head.header("content-length") {
        None => {
            assert_eq!(connection, "close", "{head:?}");
            assert_eq!(c.rest().await, b"Welcome to SockJS!\n");
            assert!(c.closed_by_server().await);
        }
        Some(n) => {
            assert_eq!(n, "19");
            assert_eq!(c.rest().await, b"Welcome to SockJS!\n");
            if connection == "keep-alive" {
                c.send(
                    "GET",
                    "/test-ws",
                    "1.0",
                    &[("Connection", "Keep-Alive")],
                    b"",
                )
                .await;
                assert_eq!(c.head(false).await.status, 200);
            } else {
                assert!(c.closed_by_server().await, "{head:?}");
            }
        }
    }
}

#[tokio::test]
async fn an_http_1_0_xhr_streaming_response_is_not_chunked_and_ends_with_the_connection() {
    let server = start().await;
    let id = sid();
    let mut c = http::Conn::open(server.addr).await;
    let path = url(&id, "xhr_streaming");
    c.send("POST", &path, "1.0", &[("Connection", "Keep-Alive")], b"")
        .await;
    let head = c.head(false).await;
    assert_eq!(head.status, 200);
    assert!(
        !head.has("transfer-encoding"),
        "no chunking in HTTP/1.0: {head:?}"
    );
    assert!(!head.has("content-length"), "{head:?}");
    assert_eq!(c.framing(), http::Framing::UntilClose);
    c.expect(&format!("{}\n", "h".repeat(2048))).await;
    c.expect("o\n").await;
    server.broker.close_all(3000, "Go away!");
    c.expect(GO_AWAY).await;
    c.end().await;
    assert!(c.closed_by_server().await);
}

#[tokio::test]
async fn http_1_1_keeps_the_connection_alive_between_requests() {
    let server = start().await;
    let mut c = http::Conn::open(server.addr).await;
    for _ in 0..2 {
        let r = c
            .request("GET", "/test-ws", &[("Connection", "Keep-Alive")], b"")
            .await;
        assert_eq!((r.status(), r.text()), (200, "Welcome to SockJS!\n"));
        let connection = r.header("connection").unwrap_or_default().to_lowercase();
        assert!(connection == "keep-alive" || connection.is_empty(), "{r:?}");
        assert!(
            r.header("content-length") == Some("19")
                || r.header("transfer-encoding") == Some("chunked"),
            "{r:?}"
        );
    }
    // Polling and sending on the same connection too.
    let id = sid();
    let r = c.request("POST", &url(&id, "xhr"), &[], b"").await;
    assert_eq!(r.text(), "o\n");
    let r = c
        .request(
            "POST",
            &url(&id, "xhr_send"),
            &[],
            send_body(&[CONNECT]).as_bytes(),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = c.request("POST", &url(&id, "xhr"), &[], b"").await;
    assert_eq!(
        stomp_frames(&messages(r.text()))[0].command,
        Command::Connected
    );
}

#[tokio::test]
async fn an_http_1_1_xhr_streaming_response_is_chunked_and_the_connection_is_reused() {
    let server = start().await;
    let id = sid();
    let mut c = http::Conn::open(server.addr).await;
    c.send(
        "POST",
        &url(&id, "xhr_streaming"),
        "1.1",
        &[("Connection", "Keep-Alive")],
        b"",
    )
    .await;
    let head = c.head(false).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("transfer-encoding"),
        Some("chunked"),
        "{head:?}"
    );
    assert!(!head.has("content-length"), "{head:?}");
    c.expect(&format!("{}\n", "h".repeat(2048))).await;
    c.expect("o\n").await;
    server.broker.close_all(3000, "Go away!");
    c.expect(GO_AWAY).await;
    c.end().await;
    let r = c.request("GET", "/test-ws", &[], b"").await;
    assert_eq!(r.text(), "Welcome to SockJS!\n");
}

// ---- Close events ------------------------------------------------------------------------------

#[tokio::test]
async fn a_polling_session_whose_client_stops_polling_is_closed_3000_receiver_lost() {
    let mut server = start_with(|c| c.sockjs.disconnect_delay = Duration::from_millis(300)).await;
    let id = sid();
    let started = Instant::now();
    xhr_connect(server.addr, &id).await;
    let (closed, status) = server.next_close().await;
    let after = started.elapsed();
    assert_eq!(closed, id);
    assert_eq!((status.code, status.reason.as_str()), (3000, "Go away!"));
    assert_eq!(status.closed_by, ClosedBy::Nobody);
    let cause = status.cause.unwrap_or_default();
    assert!(cause.starts_with("receiver-lost after"), "{cause:?}");
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    server.assert_empty();
    // The expired session may answer its close frame a while longer (the spec only asks for it
    // "until the timeout occurs"; every request restarts that wait, as in sockjs-node), but left
    // alone for another `disconnect_delay` it is forgotten: the id starts a new session.
    let answer = xhr(server.addr, &id).await;
    assert!(
        answer == "o\n" || answer == "c[3000,\"Go away!\"]\n",
        "{answer:?}"
    );
    if answer != "o\n" {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            xhr(server.addr, &id).await,
            "o\n",
            "the expired session is never forgotten"
        );
    }
}

#[tokio::test]
async fn a_streaming_session_whose_receiver_vanishes_is_closed_3000_receiver_lost() {
    let mut server = start_with(|c| c.sockjs.disconnect_delay = Duration::from_millis(300)).await;
    let id = sid();
    let mut r = xhr_streaming(server.addr, &id).await;
    r.expect("o\n").await;
    xhr_send(server.addr, &id, &[CONNECT]).await;
    streamed_frames(&mut r).await;
    drop(r);
    let (closed, status) = server.next_close().await;
    assert_eq!(closed, id);
    assert_eq!(
        (status.code, status.closed_by),
        (3000, ClosedBy::Nobody),
        "{status:?}"
    );
    let cause = status.cause.unwrap_or_default();
    assert!(cause.starts_with("receiver-lost after"), "{cause:?}");
    server.assert_empty();
}

#[tokio::test]
async fn a_vanished_sockjs_websocket_is_1006_closed_by_nobody() {
    let mut server = start().await;
    let mut ws = ws_open(server.addr, &url(&sid(), "websocket")).await;
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("o"));
    ws_send(&mut ws, &send_body(&[CONNECT])).await;
    let connected = stomp_frames(&messages(&ws_recv(&mut ws).await.unwrap())).remove(0);
    drop(ws);
    let (closed, status) = server.next_close().await;
    assert_eq!(Some(closed.as_str()), connected.header("session"));
    assert_eq!((status.code, status.closed_by), (1006, ClosedBy::Nobody));
    server.assert_empty();
}

#[tokio::test]
async fn a_stomp_disconnect_over_the_websocket_transport_is_1000_closed_by_the_client() {
    let mut server = start().await;
    let mut ws = ws_open(server.addr, &url(&sid(), "websocket")).await;
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("o"));
    ws_send(&mut ws, &send_body(&[CONNECT])).await;
    let connected = stomp_frames(&messages(&ws_recv(&mut ws).await.unwrap())).remove(0);
    ws_send(&mut ws, &send_body(&["DISCONNECT\n\n\0"])).await;
    assert_eq!(
        ws_recv(&mut ws).await.as_deref(),
        Some("c[1000,\"DISCONNECT\"]")
    );
    let (closed, status) = server.next_close().await;
    assert_eq!(Some(closed.as_str()), connected.header("session"));
    assert_eq!((status.code, status.closed_by), (1000, ClosedBy::Client));
    server.assert_empty();
}

// ---- Heartbeats --------------------------------------------------------------------------------

fn fast_heartbeats(c: &mut stompbox_server::ServerConfig) {
    c.sockjs.heartbeat = Duration::from_millis(200);
    c.sockjs.disconnect_delay = Duration::from_millis(300);
}

#[tokio::test]
async fn a_streaming_session_kept_by_heartbeats_is_not_closed() {
    let server = start_with(fast_heartbeats).await;
    let id = sid();
    let mut r = xhr_streaming(server.addr, &id).await;
    r.expect("o\n").await;
    xhr_send(
        server.addr,
        &id,
        &[CONNECT, "SUBSCRIBE\nid:0\ndestination:/topic/hb\n\n\0"],
    )
    .await;
    assert_eq!(streamed_frames(&mut r).await[0].command, Command::Connected);
    let started = Instant::now();
    let mut beats = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(r.line().await, "h\n");
        beats += 1;
    }
    assert!(
        (4..=9).contains(&beats),
        "{beats} heartbeats in 1.5 s at 200 ms"
    );
    assert!(is_open(&server, &id), "the session was closed");
    server
        .broker
        .publish("/topic/hb", vec![], "still here")
        .unwrap();
    assert_eq!(
        streamed_frames(&mut r).await[0].body.as_ref(),
        b"still here"
    );
}

#[tokio::test]
async fn a_polling_session_that_keeps_polling_is_not_closed() {
    let server = start_with(fast_heartbeats).await;
    let id = sid();
    xhr_connect(server.addr, &id).await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(xhr(server.addr, &id).await, "h\n");
    }
    assert!(is_open(&server, &id), "the session was closed");
    xhr_send(
        server.addr,
        &id,
        &["SUBSCRIBE\nid:0\ndestination:/topic/p\nreceipt:r\n\n\0"],
    )
    .await;
    assert_eq!(
        xhr_frames(server.addr, &id).await[0].command,
        Command::Receipt
    );
}

/// STOMP heart-beats from the server every 250 ms; SockJS heartbeats every 100 ms.
fn stomp_heart_beats(c: &mut stompbox_server::ServerConfig) {
    c.stomp.heart_beat = "250,0".into();
    c.sockjs.heartbeat = Duration::from_millis(100);
}

const CONNECT_WITH_HEART_BEATS: &str = "CONNECT\naccept-version:1.2\nheart-beat:0,250\n\n\0";

#[tokio::test]
async fn sockjs_heartbeats_give_way_to_negotiated_stomp_heart_beats_on_http() {
    let server = start_with(stomp_heart_beats).await;
    let id = sid();
    let mut r = xhr_streaming(server.addr, &id).await;
    r.expect("o\n").await;
    xhr_send(server.addr, &id, &[CONNECT_WITH_HEART_BEATS]).await;
    assert_eq!(streamed_frames(&mut r).await[0].command, Command::Connected);
    let started = Instant::now();
    let mut eols = 0;
    while started.elapsed() < Duration::from_millis(1200) {
        let line = r.line().await;
        assert_ne!(line, "h\n", "a SockJS h while STOMP heart-beats flow");
        assert!(
            messages(&line).iter().all(|m| m == "\n" || m == "\r\n"),
            "{line:?}"
        );
        eols += 1;
    }
    assert!(eols >= 3, "{eols} STOMP heart-beats in 1.2 s at 250 ms");
}

#[tokio::test]
async fn sockjs_heartbeats_give_way_to_negotiated_stomp_heart_beats_on_websocket() {
    let server = start_with(stomp_heart_beats).await;
    let mut ws = ws_open(server.addr, &url(&sid(), "websocket")).await;
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("o"));
    ws_send(&mut ws, &send_body(&[CONNECT_WITH_HEART_BEATS])).await;
    let mut first = ws_recv(&mut ws).await.unwrap();
    while first == "h" {
        // An `h` may have been due before CONNECT was handled.
        first = ws_recv(&mut ws).await.unwrap();
    }
    assert_eq!(
        stomp_frames(&messages(&first))[0].command,
        Command::Connected
    );
    let started = Instant::now();
    let mut eols = 0;
    while started.elapsed() < Duration::from_millis(1200) {
        let frame = ws_recv(&mut ws).await.unwrap();
        assert_ne!(frame, "h", "a SockJS h while STOMP heart-beats flow");
        assert!(
            messages(&frame).iter().all(|m| m == "\n" || m == "\r\n"),
            "{frame:?}"
        );
        eols += 1;
    }
    assert!(eols >= 3, "{eols} STOMP heart-beats in 1.2 s at 250 ms");
}

// ---- Shutdown ----------------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_ends_an_open_streaming_receiver_with_1001_and_does_not_hang() {
    let server = start().await;
    let id = sid();
    let mut r = xhr_streaming(server.addr, &id).await;
    r.expect("o\n").await;
    let stopping = tokio::spawn(server.stop(stompbox_server::Shutdown::GoingAway));
    r.expect("c[1001,\"server shutting down\"]\n").await;
    tokio::time::timeout(Duration::from_secs(8), stopping)
        .await
        .expect("the server stops although a stream was open")
        .unwrap();
}

// ---- Origins -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_configured_origins_list_refuses_other_browser_origins_with_403() {
    let server = start_with(|c| c.allowed_origins = vec!["app.example.com:443".into()]).await;
    let id = sid();
    let refused = http::request(
        server.addr,
        "POST",
        &url(&id, "xhr"),
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(refused.status(), 403, "{refused:?}");
    assert!(refused.text().contains("allowed_origins"), "{refused:?}");
    let allowed = http::request(
        server.addr,
        "POST",
        &url(&id, "xhr"),
        &[("Origin", "https://app.example.com")],
        b"",
    )
    .await;
    assert_eq!(allowed.text(), "o\n");
    let info = http::get(server.addr, "/test-ws/info").await;
    assert!(
        info.text()
            .contains("\"origins\":[\"app.example.com:443\"]"),
        "{info:?}"
    );
}
