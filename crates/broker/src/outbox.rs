//! What the broker hands to a transport for one session: encoded frames, heart-beats and the
//! request to close. The transport implements [`Outbox`]; the broker never touches a socket.
//!
//! Back-pressure: an outbox that counts its bytes says when it is congested
//! ([`Outbox::is_congested`]); the broker then asks the transport of the session whose input
//! caused the congestion to stop reading ([`crate::Session::take_backpressure`]) until the
//! outbox has drained ([`Outbox::poll_drained`]). Nothing is dropped: the publisher is slowed
//! through TCP flow control instead of the broker's memory growing.

use std::ops::Deref;
use std::sync::Arc;
use std::task::{Context, Poll};

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
        /// `MESSAGE`, `subscription`, and `ack` lines; always UTF-8 (made from header text),
        /// and usually shared by every delivery of the subscription.
        head: Bytes,
        /// The shared rest of the frame.
        tail: Tail,
    },
    /// A heart-beat EOL.
    HeartBeat,
    /// Flush what is queued, then close the connection with this status.
    Close(CloseStatus),
}

/// The part of a MESSAGE frame shared by every subscriber of a fan-out (headers from
/// `message-id` on, the body, the NUL), encoded once, with whether it is UTF-8 — also decided
/// once, so that a transport choosing WebSocket text or binary per delivery need not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    bytes: Bytes,
    is_utf8: bool,
}

impl Tail {
    /// A tail; checks once whether it is UTF-8.
    pub fn new(bytes: Bytes) -> Tail {
        let is_utf8 = std::str::from_utf8(&bytes).is_ok();
        Tail { bytes, is_utf8 }
    }

    /// Whether the bytes are UTF-8 (so `head + tail` is too).
    pub fn is_utf8(&self) -> bool {
        self.is_utf8
    }

    /// The shared bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl Deref for Tail {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
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
/// over a queue that the connection task drains). Must not block.
///
/// The byte-counting methods have defaults for outboxes that do not count (they are never
/// congested). A transport that counts bytes gives the broker back-pressure: see the module docs.
pub trait Outbox: Send + Sync + 'static {
    /// Queues one item. Never blocks, whatever is queued already.
    fn push(&self, item: Outbound);

    /// Queues a MESSAGE frame: `head` then the fan-out's shared `tail` (see
    /// [`Outbound::Message`]). The default clones both into an [`Outbound::Message`]; a
    /// transport may take fewer references (say, one head per run of deliveries to the same
    /// subscription): on a fan-out to thousands of subscribers, every reference count touched
    /// is a cache line that travels between the publisher's core and the subscribers'.
    fn push_message(&self, head: &Bytes, tail: &Tail) {
        self.push(Outbound::Message {
            head: head.clone(),
            tail: tail.clone(),
        });
    }

    /// Bytes queued and not yet written to the peer (0 when not counted).
    fn queued_bytes(&self) -> usize {
        0
    }

    /// Whether the queue is above its high-water mark: the session whose input put it there
    /// should be paused (see [`crate::Session::take_backpressure`]).
    fn is_congested(&self) -> bool {
        false
    }

    /// Ready once the queue is at or below its low-water mark, or its connection is gone;
    /// otherwise registers `cx`'s waker to be woken then. A poll, not I/O: the broker stays
    /// sans-IO.
    ///
    /// A consumer that never reads would keep this pending forever; bounding that wait (a send
    /// time limit, then closing the slow consumer with 4500) belongs to the outbox's owner.
    fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Ready(())
    }
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
