//! A minimal STOMP client over WebSocket, or over SockJS's `websocket` transport: what the lab
//! and the probe drive.
//!
//! Owns the two URL forms ([`Target`]), the WebSocket handshake (offering `v12.stomp`,
//! `v11.stomp`, `v10.stomp` for raw STOMP), the SockJS 0.3.3 frame letters (`o`, `h`, `a[…]`,
//! `m"…"`, `c[code,"reason"]`), STOMP `CONNECT`/`CONNECTED` (STOMP 1.2 "Connecting") and turning
//! how the connection ended into a close code — 1006 when the TCP connection ended without a
//! Close frame, as RFC 6455 §7.1.5 says an endpoint reports it.
//!
//! Must not: reconnect, send heart-beats or pings on its own (the caller decides every byte on
//! the wire — the probe needs total silence), or speak TLS (`wss://`, `https://` are refused).
//! Frames are encoded and decoded by `stompbox-stomp`; nothing here parses STOMP itself.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use stompbox_stomp::{DecodeError, Decoder, Item, Limits};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use stompbox_stomp::{Command, Frame, HeartBeat, Version};

/// The close code reported when the connection ended without a Close frame (RFC 6455 §7.1.5).
pub const ABNORMAL: u16 = 1006;
/// The close code reported for a Close frame that carried no code (RFC 6455 §7.1.5).
pub const NO_STATUS: u16 = 1005;

/// The subprotocols offered for raw STOMP over WebSocket, best first.
const SUBPROTOCOLS: &str = "v12.stomp, v11.stomp, v10.stomp";

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Raw STOMP over WebSocket (`ws://host:port/path`).
    WebSocket,
    /// SockJS's `websocket` transport (`http://host:port/path`).
    SockJs,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::WebSocket => "websocket",
            Transport::SockJs => "sockjs",
        })
    }
}

/// A URL the client can connect to, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    transport: Transport,
    /// `host:port` as written (the port filled in when absent).
    authority: String,
    /// The host alone, for STOMP's `host` header.
    host: String,
    /// The path without a trailing `/` (SockJS) or as written (WebSocket), e.g. `/test-ws`.
    path: String,
    /// `?…` or empty.
    query: String,
}

/// A URL the client cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL at all.
    #[error("`{url}` is not a URL: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// Why it did not parse.
        reason: String,
    },
    /// A scheme other than `ws` and `http`.
    #[error(
        "`{url}`: unsupported scheme `{scheme}` (use ws://host:port/path for STOMP over WebSocket or http://host:port/path for SockJS; TLS is not supported)"
    )]
    Scheme {
        /// The URL as given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// No host in the URL.
    #[error("`{0}` has no host")]
    NoHost(String),
}

impl Target {
    /// Parses `ws://host[:port]/path` (raw STOMP over WebSocket) or `http://host[:port]/path`
    /// (SockJS, connected through its `websocket` transport).
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: tungstenite::http::uri::InvalidUri| UrlError::Invalid {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let scheme = uri.scheme_str().ok_or_else(|| UrlError::Invalid {
            url: url.to_string(),
            reason: "no scheme (expected ws:// or http://)".to_string(),
        })?;
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "ws" => Transport::WebSocket,
            "http" => Transport::SockJs,
            other => {
                return Err(UrlError::Scheme {
                    url: url.to_string(),
                    scheme: other.to_string(),
                });
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| UrlError::NoHost(url.to_string()))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let mut path = uri.path().to_string();
        if transport == Transport::SockJs {
            while path.ends_with('/') {
                path.pop();
            }
        } else if path.is_empty() {
            path.push('/');
        }
        Ok(Target {
            transport,
            authority,
            host: host.trim_matches(['[', ']']).to_string(),
            path,
            query: uri.query().map(|q| format!("?{q}")).unwrap_or_default(),
        })
    }

    /// The transport the URL's scheme selects.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The host, as STOMP's `host` header carries it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The WebSocket URL to open. For SockJS a fresh
    /// `ws://host:port/path/<3-digit server>/<8-char session>/websocket` each call, as
    /// sockjs-client picks them.
    pub fn websocket_url(&self) -> String {
        match self.transport {
            Transport::WebSocket => format!("ws://{}{}{}", self.authority, self.path, self.query),
            Transport::SockJs => {
                let mut rng = rand::rng();
                let server: u16 = rng.random_range(0..1000);
                const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let session: String = (0..8)
                    .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                    .collect();
                format!(
                    "ws://{}{}/{server:03}/{session}/websocket{}",
                    self.authority, self.path, self.query
                )
            }
        }
    }
}

/// What to put in `CONNECT`, and how long connecting may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The `heart-beat` header: (what the client will send, what it wants to receive), in ms.
    /// Default: `(0, 0)`, no heart-beats. The client never sends heart-beats itself; see
    /// [`Client::send_heartbeat`].
    pub heart_beat: (u32, u32),
    /// The `login` header. Default: none.
    pub login: Option<String>,
    /// The `passcode` header. Default: none.
    pub passcode: Option<String>,
    /// Limit for the WebSocket handshake, the SockJS `o` frame and `CONNECTED` together.
    /// Default: 10 s.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            heart_beat: (0, 0),
            login: None,
            passcode: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the connection delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A STOMP frame (for SockJS, from inside an `a[…]` or `m` frame).
    Frame(Frame),
    /// A heart-beat: a STOMP EOL (`sockjs: false`) or a SockJS `h` frame (`sockjs: true`).
    Heartbeat {
        /// Whether it was a SockJS `h` frame.
        sockjs: bool,
    },
    /// A WebSocket ping from the server (already answered with a pong).
    Ping,
    /// The connection ended. Every later call of [`Client::next_event`] returns this again.
    Closed {
        /// The WebSocket Close frame's code; a SockJS `c[code,…]` frame's code; 1005 for a
        /// Close frame without a code; 1006 when the TCP connection ended (EOF or reset)
        /// without any Close frame.
        code: u16,
        /// The Close frame's reason. For 1006, empty on EOF and the I/O error otherwise.
        reason: String,
        /// Whether the peer said goodbye (a Close frame or a SockJS `c` frame).
        clean: bool,
    },
}

/// What can go wrong in the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be used.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The WebSocket handshake failed (connection refused, HTTP error status, …).
    #[error("WebSocket handshake with {url} failed: {error}")]
    Handshake {
        /// The WebSocket URL.
        url: String,
        /// What tungstenite reported.
        error: Box<tungstenite::Error>,
    },
    /// Connecting (handshake, `o`, `CONNECTED`) took longer than [`ConnectOptions::timeout`].
    #[error("no CONNECTED within {0:?}")]
    Timeout(Duration),
    /// The server broke the SockJS framing.
    #[error("SockJS protocol error: {0}")]
    SockJs(String),
    /// The server sent bytes that are not STOMP.
    #[error("STOMP decoding failed: {0}")]
    Decode(DecodeError),
    /// The server answered `CONNECT` with `ERROR`.
    #[error("the server refused CONNECT: {message}")]
    Refused {
        /// The ERROR frame's `message` header (or body).
        message: String,
    },
    /// The server answered `CONNECT` with a frame other than `CONNECTED` or `ERROR`.
    #[error("expected CONNECTED, got {0}")]
    Unexpected(Command),
    /// The connection ended before `CONNECTED`.
    #[error("the connection closed before CONNECTED: {code} {reason}")]
    ClosedBeforeConnected {
        /// The close code (1006: no Close frame).
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Sending on a connection that has ended.
    #[error("the connection is closed")]
    Closed,
    /// SockJS carries text only, and the frame is not UTF-8.
    #[error("SockJS can only carry UTF-8 frames")]
    NotText,
    /// A WebSocket error after the handshake.
    #[error("WebSocket error: {0}")]
    WebSocket(Box<tungstenite::Error>),
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected STOMP session.
///
/// Created by [`Client::connect`], which returns once `CONNECTED` arrived. Read with
/// [`Client::next_event`] (cancel-safe: use it in `select!` with a timer).
#[derive(Debug)]
pub struct Client {
    ws: Ws,
    transport: Transport,
    subprotocol: Option<String>,
    decoder: Decoder,
    buf: BytesMut,
    pending: VecDeque<Event>,
    connected: Frame,
    version: Version,
    closed: Option<Event>,
    last_received: Instant,
    last_sent: Instant,
    next_receipt: u64,
}

impl Client {
    /// Opens the WebSocket (for SockJS: its `websocket` transport, waiting for `o`), sends
    /// `CONNECT` (`accept-version:1.0,1.1,1.2`, `host`, `heart-beat`, `login`, `passcode`) and
    /// waits for `CONNECTED`.
    pub async fn connect(url: &str, options: ConnectOptions) -> Result<Client, ClientError> {
        let target = Target::parse(url)?;
        Client::connect_to(&target, options).await
    }

    /// [`Client::connect`] with a parsed URL.
    pub async fn connect_to(
        target: &Target,
        options: ConnectOptions,
    ) -> Result<Client, ClientError> {
        let limit = options.timeout;
        tokio::time::timeout(limit, Client::handshake(target, options))
            .await
            .map_err(|_| ClientError::Timeout(limit))?
    }

    async fn handshake(target: &Target, options: ConnectOptions) -> Result<Client, ClientError> {
        let url = target.websocket_url();
        let handshake_error = |e: tungstenite::Error| ClientError::Handshake {
            url: url.clone(),
            error: Box::new(e),
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(handshake_error)?;
        if target.transport == Transport::WebSocket {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                tungstenite::http::HeaderValue::from_static(SUBPROTOCOLS),
            );
        }
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(handshake_error)?;
        let subprotocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let now = Instant::now();
        let mut client = Client {
            ws,
            transport: target.transport,
            subprotocol,
            decoder: Decoder::new(Limits {
                max_frame_size: 16 << 20,
                ..Limits::default()
            }),
            buf: BytesMut::new(),
            pending: VecDeque::new(),
            connected: Frame::new(Command::Connected),
            version: Version::V1_2,
            closed: None,
            last_received: now,
            last_sent: now,
            next_receipt: 0,
        };
        if client.transport == Transport::SockJs {
            client.expect_open().await?;
        }
        let mut connect = Frame::new(Command::Connect)
            .with_header("accept-version", "1.0,1.1,1.2")
            .with_header("host", target.host())
            .with_header(
                "heart-beat",
                format!("{},{}", options.heart_beat.0, options.heart_beat.1),
            );
        if let Some(login) = &options.login {
            connect.push_header("login", login.as_str());
        }
        if let Some(passcode) = &options.passcode {
            connect.push_header("passcode", passcode.as_str());
        }
        client.send_frame(&connect).await?;
        loop {
            match client.next_event().await? {
                Event::Frame(frame) if frame.command == Command::Connected => {
                    client.version = frame
                        .header("version")
                        .and_then(Version::parse)
                        .unwrap_or(Version::V1_0);
                    client.decoder.set_version(client.version);
                    client.connected = frame;
                    return Ok(client);
                }
                Event::Frame(frame) if frame.command == Command::Error => {
                    let message = frame
                        .header("message")
                        .map(str::to_string)
                        .unwrap_or_else(|| String::from_utf8_lossy(&frame.body).into_owned());
                    return Err(ClientError::Refused { message });
                }
                Event::Frame(frame) => return Err(ClientError::Unexpected(frame.command)),
                Event::Heartbeat { .. } | Event::Ping => {}
                Event::Closed { code, reason, .. } => {
                    return Err(ClientError::ClosedBeforeConnected { code, reason });
                }
            }
        }
    }

    /// Reads SockJS's open frame `o`; a `c[…]` instead means the server refused the session.
    async fn expect_open(&mut self) -> Result<(), ClientError> {
        match self.ws.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "o" => {
                self.last_received = Instant::now();
                Ok(())
            }
            Some(Ok(Message::Text(text))) if text.starts_with('c') => {
                let (code, reason) = parse_close(&text[1..])?;
                Err(ClientError::ClosedBeforeConnected { code, reason })
            }
            Some(Ok(other)) => Err(ClientError::SockJs(format!(
                "expected the open frame `o`, got {other:?}"
            ))),
            Some(Err(e)) => Err(ClientError::WebSocket(Box::new(e))),
            None => Err(ClientError::ClosedBeforeConnected {
                code: ABNORMAL,
                reason: String::new(),
            }),
        }
    }

    /// The transport in use.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The WebSocket subprotocol the server selected (raw WebSocket only).
    pub fn subprotocol(&self) -> Option<&str> {
        self.subprotocol.as_deref()
    }

    /// The `CONNECTED` frame.
    pub fn connected(&self) -> &Frame {
        &self.connected
    }

    /// The negotiated STOMP version (`CONNECTED`'s `version`; 1.0 without one).
    pub fn version(&self) -> Version {
        self.version
    }

    /// `CONNECTED`'s `session` header: the server's session id.
    pub fn session(&self) -> Option<&str> {
        self.connected.header("session")
    }

    /// `CONNECTED`'s `heart-beat` header: (what the server will send, what it wants), in ms.
    pub fn heart_beat(&self) -> Option<HeartBeat> {
        self.connected
            .header("heart-beat")
            .and_then(|v| HeartBeat::parse(v).ok())
    }

    /// When the last message other than the close arrived (a frame, a heart-beat, a SockJS
    /// frame other than `c`, a ping): the end of the silence that preceded a close.
    pub fn last_received(&self) -> Instant {
        self.last_received
    }

    /// When the client last sent something.
    pub fn last_sent(&self) -> Instant {
        self.last_sent
    }

    /// The next event. After [`Event::Closed`], returns it again on every call.
    ///
    /// Cancel-safe: the only await is on the WebSocket stream.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if let Some(closed) = &self.closed {
                return Ok(closed.clone());
            }
            let message = self.ws.next().await;
            self.handle_message(message)?;
        }
    }

    /// Turns one WebSocket read into pending events.
    fn handle_message(
        &mut self,
        message: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), ClientError> {
        let message = match message {
            Some(Ok(message)) => message,
            None
            | Some(Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            )) => {
                self.close_with(ABNORMAL, String::new(), false);
                return Ok(());
            }
            Some(Err(tungstenite::Error::Io(e))) => {
                self.close_with(ABNORMAL, e.to_string(), false);
                return Ok(());
            }
            Some(Err(e)) => return Err(ClientError::WebSocket(Box::new(e))),
        };
        let previous = self.last_received;
        if !matches!(message, Message::Close(_)) {
            self.last_received = Instant::now();
        }
        match message {
            Message::Text(text) => match self.transport {
                Transport::WebSocket => self.feed(text.as_bytes())?,
                Transport::SockJs => self.handle_sockjs(text.as_str(), previous)?,
            },
            Message::Binary(bytes) => match self.transport {
                Transport::WebSocket => self.feed(&bytes)?,
                Transport::SockJs => {
                    return Err(ClientError::SockJs("a binary message".to_string()));
                }
            },
            Message::Close(frame) => {
                let (code, reason) = match frame {
                    Some(f) => (u16::from(f.code), f.reason.to_string()),
                    None => (NO_STATUS, String::new()),
                };
                self.close_with(code, reason, true);
            }
            // tungstenite answers pings itself (the Pong goes out with the next read or write).
            Message::Ping(_) => self.pending.push_back(Event::Ping),
            Message::Pong(_) | Message::Frame(_) => {}
        }
        Ok(())
    }

    /// One SockJS frame (SockJS 0.3.3 "Framing"). `previous` is `last_received` before it, kept
    /// for a close frame.
    fn handle_sockjs(&mut self, text: &str, previous: Instant) -> Result<(), ClientError> {
        let mut chars = text.chars();
        let letter = chars.next();
        let rest = chars.as_str();
        match letter {
            Some('h') if rest.is_empty() => {
                self.pending.push_back(Event::Heartbeat { sockjs: true });
            }
            Some('a') => {
                let messages: Vec<String> = serde_json::from_str(rest)
                    .map_err(|e| ClientError::SockJs(format!("bad a[…] frame: {e}")))?;
                for message in messages {
                    self.feed(message.as_bytes())?;
                }
            }
            Some('m') => {
                let message: String = serde_json::from_str(rest)
                    .map_err(|e| ClientError::SockJs(format!("bad m frame: {e}")))?;
                self.feed(message.as_bytes())?;
            }
            Some('c') => {
                self.last_received = previous;
                let (code, reason) = parse_close(rest)?;
                self.close_with(code, reason, true);
            }
            _ => {
                let shown: String = text.chars().take(40).collect();
                return Err(ClientError::SockJs(format!("unexpected frame `{shown}`")));
            }
        }
        Ok(())
    }

    /// STOMP bytes in; frames and heart-beats out.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.buf.extend_from_slice(bytes);
        while let Some(item) = self
            .decoder
            .decode(&mut self.buf)
            .map_err(ClientError::Decode)?
        {
            self.pending.push_back(match item {
                Item::Frame(frame) => Event::Frame(frame),
                Item::HeartBeat => Event::Heartbeat { sockjs: false },
            });
        }
        Ok(())
    }

    fn close_with(&mut self, code: u16, reason: String, clean: bool) {
        if self.closed.is_none() {
            let event = Event::Closed {
                code,
                reason,
                clean,
            };
            self.closed = Some(event.clone());
            self.pending.push_back(event);
        }
    }

    /// Sends one frame, encoded for the negotiated version.
    pub async fn send_frame(&mut self, frame: &Frame) -> Result<(), ClientError> {
        let bytes = stompbox_stomp::encode(frame, self.version);
        self.send_stomp(bytes).await
    }

    /// Sends a STOMP heart-beat (an EOL).
    pub async fn send_heartbeat(&mut self) -> Result<(), ClientError> {
        self.send_stomp(Bytes::from_static(b"\n")).await
    }

    /// `SUBSCRIBE` with `ack:auto`.
    pub async fn subscribe(&mut self, id: &str, destination: &str) -> Result<(), ClientError> {
        let frame = Frame::new(Command::Subscribe)
            .with_header("id", id)
            .with_header("destination", destination)
            .with_header("ack", "auto");
        self.send_frame(&frame).await
    }

    /// `SEND` with a text body.
    pub async fn send(&mut self, destination: &str, body: &str) -> Result<(), ClientError> {
        let frame = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("content-type", "text/plain")
            .with_body(body.to_string());
        self.send_frame(&frame).await
    }

    /// `DISCONNECT` with a receipt, then waits (up to `limit`) for the connection to end —
    /// stompbox answers with the `RECEIPT` and closes with 1000. Returns the final
    /// [`Event::Closed`]; if the server did not close in time, closes with 1000 itself.
    pub async fn disconnect(mut self, limit: Duration) -> Result<Event, ClientError> {
        self.next_receipt += 1;
        let frame = Frame::new(Command::Disconnect)
            .with_header("receipt", format!("disconnect-{}", self.next_receipt));
        self.send_frame(&frame).await?;
        let wait = async {
            loop {
                if let event @ Event::Closed { .. } = self.next_event().await? {
                    return Ok::<Event, ClientError>(event);
                }
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(result) => result,
            Err(_) => {
                self.close(1000, "").await?;
                Ok(self.closed.clone().unwrap_or(Event::Closed {
                    code: 1000,
                    reason: String::new(),
                    clean: true,
                }))
            }
        }
    }

    /// Sends a WebSocket Close frame (no STOMP `DISCONNECT`); the connection then ends.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), ClientError> {
        if self.closed.is_some() {
            return Ok(());
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        };
        self.last_sent = Instant::now();
        match self.ws.close(Some(frame)).await {
            Ok(())
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                self.close_with(code, reason.to_string(), true);
                Ok(())
            }
            Err(e) => Err(ClientError::WebSocket(Box::new(e))),
        }
    }

    /// Sends STOMP bytes: a text message (binary if not UTF-8) over WebSocket, a JSON array of
    /// one string over SockJS.
    async fn send_stomp(&mut self, bytes: Bytes) -> Result<(), ClientError> {
        if self.closed.is_some() {
            return Err(ClientError::Closed);
        }
        let message = match (self.transport, std::str::from_utf8(&bytes)) {
            (Transport::WebSocket, Ok(text)) => Message::text(text),
            (Transport::WebSocket, Err(_)) => Message::binary(bytes),
            (Transport::SockJs, Ok(text)) => {
                let json = serde_json::to_string(&[text])
                    .map_err(|e| ClientError::SockJs(format!("encoding a message: {e}")))?;
                Message::text(json)
            }
            (Transport::SockJs, Err(_)) => return Err(ClientError::NotText),
        };
        self.last_sent = Instant::now();
        match self.ws.send(message).await {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Err(ClientError::Closed)
            }
            Err(e) => Err(ClientError::WebSocket(Box::new(e))),
        }
    }
}

/// The body of a SockJS close frame: `[code,"reason"]`.
fn parse_close(json: &str) -> Result<(u16, String), ClientError> {
    serde_json::from_str::<(u16, String)>(json)
        .map_err(|e| ClientError::SockJs(format!("bad c[…] frame `{json}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls_are_raw_stomp() {
        let t = Target::parse("ws://127.0.0.1:8081/test-ws").expect("valid");
        assert_eq!(t.transport(), Transport::WebSocket);
        assert_eq!(t.host(), "127.0.0.1");
        assert_eq!(t.websocket_url(), "ws://127.0.0.1:8081/test-ws");
        let t = Target::parse("ws://localhost").expect("valid");
        assert_eq!(t.websocket_url(), "ws://localhost:80/");
    }

    #[test]
    fn http_urls_use_the_sockjs_websocket_transport() {
        let t = Target::parse("http://example.com:8080/test-ws/").expect("valid");
        assert_eq!(t.transport(), Transport::SockJs);
        let url = t.websocket_url();
        let rest = url
            .strip_prefix("ws://example.com:8080/test-ws/")
            .expect("prefix");
        let parts: Vec<&str> = rest.split('/').collect();
        assert_eq!(parts.len(), 3, "{url}");
        assert!(parts[0].len() == 3 && parts[0].bytes().all(|b| b.is_ascii_digit()));
        assert!(parts[1].len() == 8 && parts[1].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(parts[2], "websocket");
        assert_ne!(t.websocket_url(), url, "a fresh session each time");
    }

    #[test]
    fn other_urls_are_refused() {
        assert!(matches!(
            Target::parse("wss://x/y"),
            Err(UrlError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("https://x/y"),
            Err(UrlError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(UrlError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("/test-ws"),
            Err(UrlError::Invalid { .. })
        ));
    }

    #[test]
    fn sockjs_close_frames_parse() {
        assert_eq!(
            parse_close("[3000,\"Go away!\"]").expect("valid"),
            (3000, "Go away!".to_string())
        );
        assert!(parse_close("[3000]").is_err());
    }
}
