//! Graceful shutdown through the real binary: SIGTERM (or SIGINT) closes every session — plain
//! WebSocket, SockJS over WebSocket, SockJS xhr-streaming, STOMP over TCP — with 1001 (1012
//! with `--restart`) after what was queued for it (receipts included), logs each close, and
//! exits 0 within `--shutdown-timeout`; a second signal exits at once.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeSet, VecDeque};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use support::serve::Serve;

const WAIT: Duration = Duration::from_secs(10);

/// What a client read.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    /// A STOMP frame, as text.
    Frame(String),
    /// A SockJS close frame `c[code,"reason"]`.
    SockJsClose(u16, String),
    /// A WebSocket Close frame's code.
    WsClose(u16),
    /// The connection or the response ended.
    End,
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

enum Conn {
    /// STOMP over a plain WebSocket.
    Ws(Ws),
    /// STOMP over SockJS's websocket transport.
    SockJsWs(Ws),
    /// STOMP over SockJS xhr-streaming (receiving) and xhr_send (sending).
    Xhr(Xhr),
    /// STOMP over TCP.
    Tcp(TcpStream, Vec<u8>),
}

struct Peer {
    conn: Conn,
    got: VecDeque<Got>,
}

struct Xhr {
    http: String,
    sid: String,
    stream: TcpStream,
    raw: Vec<u8>,
    body: Vec<u8>,
    headers_done: bool,
    ended: bool,
}

fn sid(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{label}{nanos:x}")
}

/// The items of one SockJS frame (`o`, `h`, `a[…]`, `c[…]`, or xhr-streaming's `hhh…` prelude).
fn sockjs_items(text: &str) -> Vec<Got> {
    match text.as_bytes().first() {
        Some(b'a') => serde_json::from_str::<Vec<String>>(&text[1..])
            .unwrap()
            .into_iter()
            .filter(|m| m.trim() != "")
            .map(Got::Frame)
            .collect(),
        Some(b'c') => {
            let (code, reason): (u16, String) = serde_json::from_str(&text[1..]).unwrap();
            vec![Got::SockJsClose(code, reason)]
        }
        _ => Vec::new(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Xhr {
    async fn open(http: &str, sid: &str) -> Xhr {
        let mut stream = TcpStream::connect(http).await.unwrap();
        let request = format!(
            "POST /test-ws/000/{sid}/xhr_streaming HTTP/1.1\r\nHost: {http}\r\nContent-Length: 0\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        Xhr {
            http: http.to_string(),
            sid: sid.to_string(),
            stream,
            raw: Vec::new(),
            body: Vec::new(),
            headers_done: false,
            ended: false,
        }
    }

    /// Moves complete chunks of the chunked response into `body`.
    fn decode(&mut self) {
        if !self.headers_done {
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            self.raw.drain(..end + 4);
            self.headers_done = true;
        }
        while let Some(line_end) = find(&self.raw, b"\r\n") {
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            if size == 0 {
                self.ended = true;
                return;
            }
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                return;
            }
            self.body.extend_from_slice(&self.raw[start..start + size]);
            self.raw.drain(..start + size + 2);
        }
    }

    async fn next(&mut self) -> Vec<Got> {
        match self.line().await {
            Some(line) => sockjs_items(&line),
            None => vec![Got::End],
        }
    }

    /// The next SockJS frame of the response, `None` once it has ended.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.body.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.body.drain(..=pos).collect();
                return Some(String::from_utf8(line).unwrap().trim_end().to_string());
            }
            if self.ended {
                return None;
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.raw))
                .await
                .expect("xhr-streaming data in time")
                .unwrap();
            if n == 0 {
                self.ended = true;
            }
            self.decode();
        }
    }

    async fn send(&self, text: &str) {
        let body = serde_json::to_string(&[text]).unwrap();
        let mut s = TcpStream::connect(&self.http).await.unwrap();
        let request = format!(
            "POST /test-ws/000/{}/xhr_send HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.sid,
            self.http,
            body.len()
        );
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut answer))
            .await
            .expect("xhr_send answered in time")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    }
}

impl Peer {
    async fn ws(http: &str) -> Peer {
        let url = format!("ws://{http}/test-ws");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Peer::connected(Conn::Ws(ws)).await
    }

    async fn sockjs_ws(http: &str) -> Peer {
        let url = format!("ws://{http}/test-ws/000/{}/websocket", sid("w"));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Peer::connected(Conn::SockJsWs(ws)).await
    }

    async fn xhr(http: &str) -> Peer {
        let mut xhr = Xhr::open(http, &sid("x")).await;
        // The session exists once the receiver has its `o`: only then may xhr_send use it.
        loop {
            match xhr.line().await.as_deref() {
                Some("o") => break,
                Some(_) => {}
                None => panic!("xhr-streaming ended before its open frame"),
            }
        }
        Peer::connected(Conn::Xhr(xhr)).await
    }

    async fn tcp(addr: &str) -> Peer {
        let stream = TcpStream::connect(addr).await.unwrap();
        Peer::connected(Conn::Tcp(stream, Vec::new())).await
    }

    async fn connected(conn: Conn) -> Peer {
        let mut peer = Peer {
            conn,
            got: VecDeque::new(),
        };
        peer.send("CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0")
            .await;
        match peer.next().await {
            Got::Frame(f) if f.starts_with("CONNECTED") => peer,
            other => panic!("expected CONNECTED, got {other:?}"),
        }
    }

    async fn send(&mut self, text: &str) {
        match &mut self.conn {
            Conn::Ws(ws) => ws.send(Message::text(text)).await.unwrap(),
            Conn::SockJsWs(ws) => {
                let frame = serde_json::to_string(&[text]).unwrap();
                ws.send(Message::text(frame)).await.unwrap();
            }
            Conn::Xhr(xhr) => xhr.send(text).await,
            Conn::Tcp(stream, _) => stream.write_all(text.as_bytes()).await.unwrap(),
        }
    }

    async fn next(&mut self) -> Got {
        loop {
            if let Some(got) = self.got.pop_front() {
                return got;
            }
            let items = match &mut self.conn {
                Conn::Ws(ws) => read_ws(ws, false).await,
                Conn::SockJsWs(ws) => read_ws(ws, true).await,
                Conn::Xhr(xhr) => xhr.next().await,
                Conn::Tcp(stream, buf) => read_tcp(stream, buf).await,
            };
            self.got.extend(items);
        }
    }

    async fn frame(&mut self) -> String {
        match self.next().await {
            Got::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

async fn read_ws(ws: &mut Ws, sockjs: bool) -> Vec<Got> {
    let message = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("WebSocket data in time");
    match message {
        Some(Ok(Message::Text(t))) if sockjs => sockjs_items(t.as_str()),
        Some(Ok(Message::Text(t))) if t.as_str() == "\n" => Vec::new(),
        Some(Ok(Message::Text(t))) => vec![Got::Frame(t.as_str().to_string())],
        Some(Ok(Message::Close(Some(f)))) => vec![Got::WsClose(u16::from(f.code))],
        Some(Ok(Message::Close(None))) => vec![Got::WsClose(1005)],
        Some(Ok(_)) => Vec::new(),
        Some(Err(_)) | None => vec![Got::End],
    }
}

async fn read_tcp(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Vec<Got> {
    loop {
        while buf.first().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.remove(0);
        }
        if let Some(end) = buf.iter().position(|&b| b == 0) {
            let frame: Vec<u8> = buf.drain(..=end).collect();
            let text = String::from_utf8(frame[..end].to_vec()).unwrap();
            return vec![Got::Frame(text)];
        }
        let n = tokio::time::timeout(WAIT, stream.read_buf(buf))
            .await
            .expect("TCP data in time")
            .unwrap_or(0);
        if n == 0 {
            return vec![Got::End];
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every transport sees `code` after its pending receipt; the process logs each close and exits
/// 0; the queue messages nobody consumed are reported as dropped.
fn every_transport_gets_its_receipt_then_the_close(extra: &[&str], code: u16, name: &str) {
    let mut serve = Serve::start(extra);
    let rt = runtime();
    let (mut observer, mut peers) = rt.block_on(async {
        let mut observer = Peer::ws(&serve.http).await;
        observer
            .send("SUBSCRIBE\nid:0\ndestination:/topic/seen\nreceipt:s\n\n\0")
            .await;
        assert!(observer.frame().await.starts_with("RECEIPT"));
        let mut peers = vec![
            ("websocket", Peer::ws(&serve.http).await),
            ("sockjs-websocket", Peer::sockjs_ws(&serve.http).await),
            ("sockjs-xhr", Peer::xhr(&serve.http).await),
            ("tcp", Peer::tcp(&serve.tcp).await),
        ];
        // Each SEND with a receipt is followed, in the same chunk, by a SEND the observer sees:
        // once it has, the receipt is queued for its session (the session handles frames in
        // order), whether or not it has been written yet.
        for (label, peer) in &mut peers {
            peer.send(&format!(
                "SEND\ndestination:/queue/shutdown-jobs\nreceipt:r-{label}\n\n{label}\0SEND\ndestination:/topic/seen\n\n{label}\0"
            ))
            .await;
        }
        let mut seen = BTreeSet::new();
        while seen.len() < peers.len() {
            let m = observer.frame().await;
            assert!(m.starts_with("MESSAGE"), "{m}");
            let body = m.rsplit("\n\n").next().unwrap();
            seen.insert(body.trim_end_matches('\0').to_string());
        }
        (observer, peers)
    });
    let signalled = Instant::now();
    serve.signal("TERM");
    rt.block_on(async {
        for (label, peer) in &mut peers {
            let receipt = peer.frame().await;
            assert!(
                receipt.starts_with("RECEIPT")
                    && receipt.contains(&format!("receipt-id:r-{label}")),
                "{label}: expected its RECEIPT before the close, got {receipt}"
            );
            let mut ending = Vec::new();
            while ending.last() != Some(&Got::End) {
                ending.push(peer.next().await);
            }
            let expected = match *label {
                "websocket" => vec![Got::WsClose(code), Got::End],
                "sockjs-websocket" => vec![
                    Got::SockJsClose(code, reason(code).into()),
                    Got::WsClose(code),
                    Got::End,
                ],
                "sockjs-xhr" => vec![Got::SockJsClose(code, reason(code).into()), Got::End],
                _ => {
                    let error = match ending.first() {
                        Some(Got::Frame(f)) => f.clone(),
                        other => panic!("tcp: expected an ERROR frame, got {other:?}"),
                    };
                    assert!(error.starts_with("ERROR"), "{error}");
                    assert!(error.contains(&format!("({code} {name})")), "{error}");
                    vec![Got::Frame(error), Got::End]
                }
            };
            assert_eq!(ending, expected, "{label}");
        }
        assert_eq!(observer.next().await, Got::WsClose(code));
    });
    drop(peers);
    drop(observer);
    assert_eq!(serve.exit_status(WAIT), 0);
    let elapsed = signalled.elapsed();
    let lines = serve.rest();
    let closed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("session closed"))
        .collect();
    assert_eq!(closed.len(), 5, "{lines:#?}");
    for line in &closed {
        assert!(
            line.contains(&format!("code={code}")) && line.contains("closedBy=server"),
            "{line}"
        );
    }
    for (transport, n) in [("websocket", 2), ("sockjs", 2), ("tcp", 1)] {
        let with = closed
            .iter()
            .filter(|l| l.contains(&format!("transport={transport} ")))
            .count();
        assert_eq!(with, n, "{transport}: {closed:#?}");
    }
    assert!(
        lines.iter().any(|l| l.contains("closing 5 sessions with")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("4 queue messages not consumed are dropped")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("stompbox stopped")));
    assert!(elapsed < WAIT, "{elapsed:?}");
}

fn reason(code: u16) -> &'static str {
    match code {
        1012 => "server restarting",
        _ => "server shutting down",
    }
}

#[test]
fn sigterm_closes_every_transport_with_1001_after_its_pending_receipt() {
    every_transport_gets_its_receipt_then_the_close(&[], 1001, "Going Away");
}

#[test]
fn with_restart_every_transport_gets_1012() {
    every_transport_gets_its_receipt_then_the_close(&["--restart"], 1012, "Service Restart");
}

#[test]
fn the_shutdown_timeout_bounds_a_wait_that_a_silent_client_would_prolong() {
    let mut serve = Serve::start(&["--shutdown-timeout", "300ms"]);
    let rt = runtime();
    // Connected, then never read again: the server's Close goes unanswered (it would wait 3 s).
    let _silent = rt.block_on(Peer::ws(&serve.http));
    serve.signal("TERM");
    assert_eq!(serve.exit_status(WAIT), 0);
    let lines = serve.rest();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("shutdown deadline passed with 1 connections still closing")),
        "{lines:#?}"
    );
}

#[test]
fn a_second_signal_during_shutdown_exits_at_once() {
    let mut serve = Serve::start(&["--shutdown-timeout", "60s"]);
    let rt = runtime();
    let _silent = rt.block_on(Peer::ws(&serve.http));
    serve.signal("INT");
    serve.wait_for("not accepting connections");
    serve.signal("INT");
    // 130 = 128 + SIGINT: only the second-signal path exits with it (a graceful stop exits 0).
    assert_eq!(serve.exit_status(WAIT), 130);
    let lines = serve.rest();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("SIGINT received during shutdown")),
        "{lines:#?}"
    );
}

#[test]
fn serve_refuses_unusable_shutdown_and_queue_settings_naming_them() {
    for (args, needle) in [
        (&["--shutdown-timeout", "0s"][..], "shutdown_timeout"),
        (&["--shutdown-timeout", "soon"], "--shutdown-timeout"),
        (&["--max-queue-depth", "0"], "max_queue_depth"),
        (&["--max-queue-depth", "many"], "--max-queue-depth"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_stompbox"))
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?} should name {needle}: {err}");
    }
}
