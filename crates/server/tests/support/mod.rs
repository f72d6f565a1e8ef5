//! Helpers for end-to-end tests: an in-process server on 127.0.0.1:0 and a raw WebSocket STOMP
//! client (tokio-tungstenite) that compares frames and close codes.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use stompbox_broker::{Broker, CloseStatus, EventKind, EventStream, hello_handler, log_event};
use stompbox_server::{Server, ServerConfig, Shutdown};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits, Version, encode};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub tcp_addr: Option<SocketAddr>,
    pub broker: Broker,
    events: EventStream,
    stop: Option<oneshot::Sender<Shutdown>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let broker = Broker::new(config.broker_config().unwrap());
        broker.add_listener(log_event);
        broker.route("/hello", hello_handler);
        let events = broker.events();
        let server = Server::bind_with_broker(config, broker.clone())
            .await
            .unwrap();
        let addr = server.local_addr();
        let tcp_addr = server.tcp_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async move { rx.await.unwrap_or(Shutdown::GoingAway) })
                .await
                .unwrap();
        });
        TestServer {
            addr,
            tcp_addr,
            broker,
            events,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/test-ws", self.addr)
    }

    /// The next disconnect event: (session id, status).
    pub async fn next_close(&mut self) -> (String, CloseStatus) {
        loop {
            let event = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("a disconnect event in time")
                .expect("broker alive");
            if let EventKind::Disconnect { status, .. } = event.kind {
                return (event.session_id.to_string(), status);
            }
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self, kind: Shutdown) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(kind);
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops in time")
                .unwrap();
        }
    }

    /// Asserts that no session, subscription, queue or unacked message is left.
    pub fn assert_empty(&self) {
        let s = self.broker.stats();
        assert_eq!(
            (
                s.sessions_open,
                s.routed_sessions,
                s.subscriptions,
                s.topics,
                s.unacked_messages
            ),
            (0, 0, 0, 0, 0),
            "{s:?}"
        );
        assert!(self.broker.sessions().is_empty());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What the client read.
#[derive(Debug)]
pub enum Got {
    Frame(Frame),
    HeartBeat,
    Close(Option<CloseFrame>),
}

pub struct Client {
    pub ws: Ws,
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
    decoder: Decoder,
    buf: BytesMut,
    pending: std::collections::VecDeque<Got>,
}

impl Client {
    pub async fn open(url: &str, protocols: &[&str]) -> Client {
        Client::open_with_headers(url, protocols, &[]).await
    }

    /// [`Client::open`] with more handshake headers (e.g. `Authorization`).
    pub async fn open_with_headers(
        url: &str,
        protocols: &[&str],
        headers: &[(&'static str, &str)],
    ) -> Client {
        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        if !protocols.is_empty() {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                protocols.join(", ").parse().unwrap(),
            );
        }
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("handshake in time")
            .expect("handshake succeeds");
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap().to_string());
        Client {
            ws,
            protocol,
            decoder: Decoder::new(Limits {
                max_frame_size: 16 << 20,
                ..Limits::default()
            }),
            buf: BytesMut::new(),
            pending: Default::default(),
        }
    }

    /// Opens with all three subprotocols and connects with STOMP 1.2 as `login`.
    pub async fn connect(server: &TestServer, login: &str) -> (Client, Frame) {
        let mut c = Client::open(&server.url(), &["v10.stomp", "v11.stomp", "v12.stomp"]).await;
        c.send_text(&format!(
            "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:{login}\nheart-beat:0,0\n\n\0"
        ))
        .await;
        let connected = c.frame().await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        (c, connected)
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_frame(&mut self, frame: &Frame) {
        let bytes = encode(frame, Version::V1_2);
        self.send_text(std::str::from_utf8(&bytes).unwrap()).await;
    }

    /// The next item (frame, heart-beat or close).
    pub async fn next(&mut self) -> Got {
        loop {
            if let Some(got) = self.pending.pop_front() {
                return got;
            }
            match self.decoder.decode(&mut self.buf).unwrap() {
                Some(Item::Frame(f)) => return Got::Frame(f),
                Some(Item::HeartBeat) => return Got::HeartBeat,
                None => {}
            }
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answers in time");
            match message {
                Some(Ok(Message::Text(t))) => self.buf.extend_from_slice(t.as_bytes()),
                Some(Ok(Message::Binary(b))) => self.buf.extend_from_slice(&b),
                Some(Ok(Message::Close(frame))) => return Got::Close(frame),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("read error: {e}"),
                None => return Got::Close(None),
            }
        }
    }

    /// The next frame, skipping heart-beats.
    pub async fn frame(&mut self) -> Frame {
        loop {
            match self.next().await {
                Got::Frame(f) => return f,
                Got::HeartBeat => {}
                Got::Close(c) => panic!("expected a frame, the server closed: {c:?}"),
            }
        }
    }

    /// Reads until the server's Close frame; returns its code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match self.next().await {
                Got::Close(Some(f)) => return (u16::from(f.code), f.reason.to_string()),
                Got::Close(None) => panic!("connection ended without a Close frame"),
                Got::HeartBeat => {}
                Got::Frame(f) => panic!("expected close, got {f:?}"),
            }
        }
    }

    /// An ERROR frame, then a Close with `code`. Returns the ERROR frame.
    pub async fn error_then_close(&mut self, code: u16) -> Frame {
        let e = self.frame().await;
        assert_eq!(e.command, Command::Error, "{e:?}");
        assert!(e.header("message").is_some(), "{e:?}");
        let (got, _) = self.closed().await;
        assert_eq!(got, code, "close code after {e:?}");
        e
    }

    /// Sends a Close frame with `code` and waits for the server's reply.
    pub async fn close(mut self, code: Option<u16>) {
        let frame = code.map(|c| CloseFrame {
            code: CloseCode::from(c),
            reason: "bye".into(),
        });
        self.ws.close(frame).await.unwrap();
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }

    /// Drops the TCP connection with no Close frame (what a killed process or a proxy timeout does).
    pub fn drop_socket(self) {
        drop(self);
    }

    /// Sends raw WebSocket frames that the high-level API refuses (e.g. invalid UTF-8 text).
    pub async fn send_raw(&mut self, frame: tungstenite::protocol::frame::Frame) {
        self.ws.send(Message::Frame(frame)).await.unwrap();
    }
}

/// A SUBSCRIBE frame.
pub fn subscribe(id: &str, destination: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .with_header("id", id)
        .with_header("destination", destination)
}

/// A SEND frame.
pub fn send(destination: &str, body: &str) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", destination)
        .with_body(body.to_string())
}
