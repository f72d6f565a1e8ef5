//! Entry points for the fuzz targets (`fuzz/`) and the property tests: not a stable API.
//!
//! Exposes the connection's sans-IO WebSocket receiver (`wsconn::parse`) with owned events, so
//! that fuzzing and property tests drive exactly the code the server runs on received bytes.

use crate::wsconn::parse::{Event, Flow, Receiver};

/// What the peer sent: an owned copy of one receiver event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A complete data message (a text message is valid UTF-8).
    Message(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A Close frame's code and reason (`None` for an empty payload).
    Close(Option<(u16, String)>),
}

/// A violation that fails the connection: the close code and reason the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFailure {
    /// 1002, 1007 or 1009.
    pub code: u16,
    /// The close reason.
    pub reason: String,
}

/// The receive side of one server connection.
#[derive(Debug)]
pub struct WsReceiver(Receiver);

impl WsReceiver {
    /// A receiver accepting messages (and frames) up to `max_message` bytes.
    pub fn new(max_message: usize) -> WsReceiver {
        WsReceiver(Receiver::new(max_message))
    }

    /// Feeds bytes as read from the socket (any chunking; `input` is unmasked in place) and
    /// appends the events they complete to `events`. Like the server, stops after a Close:
    /// returns `Ok(true)` then, and later input must not be fed.
    pub fn feed(&mut self, input: &mut [u8], events: &mut Vec<WsEvent>) -> Result<bool, WsFailure> {
        let flow = self.0.feed(input, |event| {
            let (owned, flow) = match event {
                Event::Message(m) => (WsEvent::Message(m.to_vec()), Flow::Continue),
                Event::Ping(p) => (WsEvent::Ping(p.to_vec()), Flow::Continue),
                Event::Pong => (WsEvent::Pong, Flow::Continue),
                Event::Close(c) => (
                    WsEvent::Close(c.map(|(code, reason)| (code, reason.to_owned()))),
                    Flow::Stop,
                ),
            };
            events.push(owned);
            flow
        });
        match flow {
            Ok(flow) => Ok(flow == Flow::Stop),
            Err(error) => {
                let status = error.status();
                Err(WsFailure {
                    code: status.code,
                    reason: status.reason,
                })
            }
        }
    }

    /// Bytes held between calls: of the incomplete frame, and of the fragmented message
    /// assembled so far.
    pub fn held(&self) -> (usize, usize) {
        self.0.held()
    }
}
