//! One connection's STOMP session on the floor: CONNECT, SUBSCRIBE, UNSUBSCRIBE, SEND and
//! DISCONNECT, just enough for `stompbox bench` (see notes/bench-spec.md), and nothing a broker
//! would add (no acks, transactions, or per-subscriber encoding).
//!
//! A SEND becomes one MESSAGE frame per subscriber group, framed once as a WebSocket text frame;
//! the same `Bytes` goes to every member's queue. A full queue makes the publisher wait
//! (back-pressure: its socket is not read meanwhile). Dropping the session removes its
//! subscriptions, whatever ended the connection.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits, Version, encode_into};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use super::groups::Groups;
use super::ws::{self, PROTOCOL_ERROR};

/// Largest STOMP frame accepted (the WebSocket message limit is the same).
pub(super) const MAX_FRAME: usize = 16 * 1024 * 1024;

/// What the connection does after a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// The floor queued a close frame: stop serving, wait for the client's close.
    Close,
    /// The client's close was answered: the closing handshake is over.
    Closed,
}

pub(super) struct Session {
    conn: u64,
    groups: Arc<Groups>,
    queue: Sender<Bytes>,
    decoder: Decoder,
    /// STOMP bytes not decoded yet.
    pending: BytesMut,
    /// The negotiated version, once CONNECTED.
    version: Option<Version>,
    /// Subscription id → destination.
    subscriptions: HashMap<String, String>,
    sent: u64,
}

impl Session {
    pub(super) fn new(conn: u64, groups: Arc<Groups>, queue: Sender<Bytes>) -> Session {
        let limits = Limits {
            max_frame_size: MAX_FRAME,
            ..Limits::default()
        };
        Session {
            conn,
            groups,
            queue,
            decoder: Decoder::new(limits),
            pending: BytesMut::new(),
            version: None,
            subscriptions: HashMap::new(),
            sent: 0,
        }
    }

    /// Handles one WebSocket message.
    pub(super) async fn handle(&mut self, message: ws::Message) -> Flow {
        match message {
            ws::Message::Data(data) => self.handle_data(data).await,
            ws::Message::Ping(payload) => {
                self.reply(ws::control(ws::Control::Pong, &payload)).await;
                Flow::Continue
            }
            ws::Message::Close(code) => {
                let echo = code.map_or(Bytes::new(), |c| Bytes::copy_from_slice(&c.to_be_bytes()));
                self.leave_all();
                self.reply(ws::control(ws::Control::Close, &echo)).await;
                Flow::Closed
            }
        }
    }

    /// Closes after a framing violation.
    pub(super) async fn fail(&mut self, violation: ws::Violation) {
        self.close(violation.close_code()).await;
    }

    async fn handle_data(&mut self, data: BytesMut) -> Flow {
        if self.pending.is_empty() {
            self.pending = data;
        } else {
            self.pending.extend_from_slice(&data);
        }
        loop {
            match self.decoder.decode(&mut self.pending) {
                Ok(Some(Item::Frame(frame))) => {
                    if self.handle_frame(frame).await == Flow::Close {
                        return Flow::Close;
                    }
                }
                Ok(Some(Item::HeartBeat)) => {}
                Ok(None) => {
                    if self.pending.is_empty() {
                        // Release the read buffer this was split from.
                        self.pending = BytesMut::new();
                    }
                    return Flow::Continue;
                }
                Err(error) => return self.error(&error.to_string(), error.close_code()).await,
            }
        }
    }

    async fn handle_frame(&mut self, frame: Frame) -> Flow {
        let Some(version) = self.version else {
            return match frame.command {
                Command::Connect | Command::Stomp => self.connect(&frame).await,
                other => {
                    self.error(&format!("{other} before CONNECT"), PROTOCOL_ERROR)
                        .await
                }
            };
        };
        let flow = match frame.command {
            Command::Subscribe => self.subscribe(&frame),
            Command::Unsubscribe => self.unsubscribe(&frame),
            Command::Send => self.send(&frame, version).await,
            Command::Disconnect => {
                self.leave_all();
                Ok(Flow::Close)
            }
            other => Err(format!("the floor does not support {other}")),
        };
        match flow {
            Ok(flow) => {
                if let Some(receipt) = frame.header("receipt") {
                    let receipt = Frame::new(Command::Receipt).with_header("receipt-id", receipt);
                    self.reply(stomp(&receipt, version)).await;
                }
                if flow == Flow::Close {
                    self.close(ws::NORMAL).await;
                }
                flow
            }
            Err(message) => self.error(&message, PROTOCOL_ERROR).await,
        }
    }

    async fn connect(&mut self, frame: &Frame) -> Flow {
        let offered = frame.header("accept-version");
        let Some(version) = stompbox_stomp::negotiate_version(offered, &Version::ALL) else {
            return self
                .error("supported versions are 1.0,1.1,1.2", PROTOCOL_ERROR)
                .await;
        };
        self.version = Some(version);
        self.decoder.set_version(version);
        let connected = Frame::new(Command::Connected)
            .with_header("version", version.as_str())
            .with_header("heart-beat", "0,0")
            .with_header("server", "stompbox-floor");
        self.reply(stomp(&connected, version)).await;
        Flow::Continue
    }

    fn subscribe(&mut self, frame: &Frame) -> Result<Flow, String> {
        let (Some(destination), Some(id)) = (frame.header("destination"), frame.header("id"))
        else {
            return Err("SUBSCRIBE needs destination and id".to_owned());
        };
        if !matches!(frame.header("ack"), None | Some("auto")) {
            return Err("the floor supports ack:auto only".to_owned());
        }
        if self.subscriptions.contains_key(id) {
            return Err(format!("subscription id {id} is already in use"));
        }
        let queue = self.queue.clone();
        self.groups.join(destination, id, self.conn, queue);
        self.subscriptions
            .insert(id.to_owned(), destination.to_owned());
        Ok(Flow::Continue)
    }

    fn unsubscribe(&mut self, frame: &Frame) -> Result<Flow, String> {
        let id = frame.header("id").unwrap_or_default();
        let destination = self.subscriptions.remove(id);
        let destination = destination.ok_or_else(|| format!("no subscription with id {id}"))?;
        self.groups.leave(&destination, id, self.conn);
        Ok(Flow::Continue)
    }

    /// Delivers one MESSAGE frame per group of the destination to every member.
    async fn send(&mut self, frame: &Frame, version: Version) -> Result<Flow, String> {
        let destination = frame.header("destination");
        let destination = destination.ok_or("SEND needs a destination")?;
        let Some(groups) = self.groups.snapshot(destination) else {
            return Ok(Flow::Continue);
        };
        self.sent += 1;
        let message_id = format!("{}-{}", self.conn, self.sent);
        for group in groups.iter() {
            let mut message = Frame::new(Command::Message)
                .with_header("destination", destination)
                .with_header("message-id", message_id.as_str())
                .with_header("subscription", group.id.as_str())
                .with_body(frame.body.clone());
            for name in ["content-type", "content-length"] {
                if let Some(value) = frame.header(name) {
                    message.push_header(name, value);
                }
            }
            // One encoding for the whole group, in the publisher's version.
            let bytes = stomp(&message, version);
            for (_, queue) in &group.members {
                match queue.try_send(bytes.clone()) {
                    Ok(()) | Err(TrySendError::Closed(_)) => {}
                    // Back-pressure: wait for this subscriber's writer. An error means its
                    // connection ended; its session removes it from the group.
                    Err(TrySendError::Full(bytes)) => {
                        let _ = queue.send(bytes).await;
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Sends an ERROR frame, then a close frame with `code`.
    async fn error(&mut self, message: &str, code: u16) -> Flow {
        let error = Frame::new(Command::Error)
            .with_header("message", message)
            .with_header("content-type", "text/plain")
            .with_body(format!("{message}\n"));
        self.reply(stomp(&error, self.version.unwrap_or(Version::V1_2)))
            .await;
        self.close(code).await;
        Flow::Close
    }

    async fn close(&mut self, code: u16) {
        self.leave_all();
        self.reply(ws::close_frame(code)).await;
    }

    /// Queues a frame for this connection; an error means the writer is gone, which ends the
    /// connection anyway.
    async fn reply(&self, frame: Bytes) {
        let _ = self.queue.send(frame).await;
    }

    fn leave_all(&mut self) {
        for (id, destination) in self.subscriptions.drain() {
            self.groups.leave(&destination, &id, self.conn);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave_all();
    }
}

/// A STOMP frame in a WebSocket text frame.
fn stomp(frame: &Frame, version: Version) -> Bytes {
    ws::text(frame.body.len() + 256, |buf| {
        encode_into(frame, version, buf)
    })
}
