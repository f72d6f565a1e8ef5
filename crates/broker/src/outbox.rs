//! What the broker hands to a transport for one session: encoded frames, heart-beats and the
//! request to close. The transport implements [`Outbox`]; the broker never touches a socket.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::CloseStatus;

/// One item for a session's peer, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// A complete encoded STOMP frame.
    Frame(Bytes),
    /// A MESSAGE frame for one subscriber: a few per-subscriber bytes (`head`) followed by the
    /// fan-out's shared encoding (`tail`). `head + tail` is the frame.
    Message {
        /// `MESSAGE`, `subscription`, and `ack` lines.
        head: Bytes,
        /// The shared rest of the frame.
        tail: Bytes,
    },
    /// A heart-beat EOL.
    HeartBeat,
    /// Flush what is queued, then close the connection with this status.
    Close(CloseStatus),
}

impl Outbound {
    /// Bytes this item puts on the wire (0 for a close).
    pub fn wire_len(&self) -> usize {
        match self {
            Outbound::Frame(b) => b.len(),
            Outbound::Message { head, tail } => head.len() + tail.len(),
            Outbound::HeartBeat => 1,
            Outbound::Close(_) => 0,
        }
    }

    /// The item as one contiguous buffer (a copy for a `Message`); `None` for a close.
    pub fn to_contiguous(&self) -> Option<Bytes> {
        match self {
            Outbound::Frame(b) => Some(b.clone()),
            Outbound::Message { head, tail } => {
                let mut v = Vec::with_capacity(head.len() + tail.len());
                v.extend_from_slice(head);
                v.extend_from_slice(tail);
                Some(Bytes::from(v))
            }
            Outbound::HeartBeat => Some(Bytes::from_static(b"\n")),
            Outbound::Close(_) => None,
        }
    }
}

/// Where the broker puts a session's outbound items. Implemented by each transport (for example
/// over a channel that the connection task drains). Must not block.
pub trait Outbox: Send + Sync + 'static {
    /// Queues one item.
    fn push(&self, item: Outbound);
}

impl Outbox for tokio::sync::mpsc::UnboundedSender<Outbound> {
    fn push(&self, item: Outbound) {
        // A closed receiver means the connection task is gone; its session is being closed.
        let _ = self.send(item);
    }
}

/// An [`Outbox`] that keeps everything in memory: for tests and in-process clients.
#[derive(Debug, Clone, Default)]
pub struct MemoryOutbox {
    items: Arc<Mutex<Vec<Outbound>>>,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    /// Takes everything queued so far.
    pub fn take(&self) -> Vec<Outbound> {
        std::mem::take(&mut *self.items.lock())
    }
}

impl Outbox for MemoryOutbox {
    fn push(&self, item: Outbound) {
        self.items.lock().push(item);
    }
}
