//! The outbox of one connection: what the broker queued for the peer and not yet written, with
//! the bytes it holds and the back-pressure signal derived from them.
//!
//! The publisher's side is the hot path of a fan-out (one task pushes to every subscriber), so
//! a push does as little as it can: one short lock, one item of 40 bytes, one reference count
//! (the shared tail's; the subscription's head is kept once per batch, not per message), and a
//! wake only when the outbox goes from empty to non-empty. Encoding for the wire happens on the
//! connection's side, in parallel with the next pushes.
//!
//! No allocation while idle: the connection gives its drained queue back for reuse while busy
//! ([`ConnOutbox::recycle`]) and drops it once idle ([`ConnOutbox::release_spare`]) — reusing
//! also spares glibc's allocator frees across threads, which contend with the publisher's
//! allocations. Publishers whose fan-out left this outbox above its high-water mark wait
//! ([`Outbox::poll_drained`]) until the connection has written it down to half of it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use stompbox_broker::{CloseStatus, Outbound, Outbox, Tail};
use stompbox_sockjs as sockjs;

use crate::wsconn::write;

/// One queued item.
#[derive(Debug)]
pub(crate) enum Item {
    /// The head of the MESSAGE frames that follow (until the next `Head`).
    Head(Bytes),
    /// A MESSAGE frame: the current head, then this shared tail.
    Tail(Tail),
    /// A complete STOMP frame.
    Frame(Bytes),
    /// A heart-beat EOL.
    HeartBeat,
}

/// A connection's queue of outbound items.
///
/// Laid out for the push: the counter, the lock and the fields a push touches share the first
/// two cache lines (a fan-out to thousands of connections misses on each of them).
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct ConnOutbox {
    /// Bytes pushed and not yet written (as [`Outbound::wire_len`] counts them).
    queued: AtomicUsize,
    /// Above this many queued bytes the outbox is congested; publishers wait until it is at or
    /// below half of it.
    high_water: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
#[repr(C)]
struct State {
    items: VecDeque<Item>,
    /// Bytes pushed since the last take.
    counted: usize,
    /// The head of the last MESSAGE queued in `items`, if any.
    head: Option<Bytes>,
    /// A close was requested: later pushes are dropped (the session is closing).
    close: Option<Box<CloseStatus>>,
    /// The connection task, when it found the outbox empty.
    task: Option<Waker>,
    /// The connection is gone: pushes are dropped and nobody waits for a drain.
    closed: bool,
    /// An empty queue to take `items`' place at the next take.
    spare: VecDeque<Item>,
    /// Publishers waiting for the outbox to drain.
    drain_waiters: Vec<Waker>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.close.is_none()
    }
}

/// What the connection takes in one go: the items in order, then the close if one was asked.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) items: VecDeque<Item>,
    pub(crate) close: Option<Box<CloseStatus>>,
    /// What to report to [`ConnOutbox::written`] once written.
    pub(crate) counted: usize,
    /// The head of the MESSAGE frames being encoded.
    head: Option<Bytes>,
}

/// How items are encoded for the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// One WebSocket message per STOMP frame, text when UTF-8, else binary.
    WebSocket,
    /// SockJS's `websocket` transport: one `a[…]` text message per chunk (strings only:
    /// non-UTF-8 bytes are replaced).
    SockJs,
    /// STOMP frames as they are (STOMP over TCP).
    Stomp,
}

impl Batch {
    /// Moves items, encoded, into `out` until it holds `limit` bytes or none are left.
    pub(crate) fn encode(&mut self, out: &mut BytesMut, encoding: Encoding, limit: usize) {
        let mut texts: Vec<String> = Vec::new();
        let mut text_len = 0;
        while out.len() + text_len < limit {
            let Some(item) = self.items.pop_front() else {
                break;
            };
            let (parts, is_utf8): ([&[u8]; 2], bool) = match &item {
                Item::Head(head) => {
                    self.head = Some(head.clone());
                    continue;
                }
                Item::Tail(tail) => {
                    let head = self.head.as_deref().unwrap_or_default();
                    ([head, tail], tail.is_utf8())
                }
                Item::Frame(bytes) => ([bytes, &[]], std::str::from_utf8(bytes).is_ok()),
                Item::HeartBeat => ([b"\n", &[]], true),
            };
            let len = parts[0].len() + parts[1].len();
            match encoding {
                Encoding::WebSocket => {
                    out.reserve(len + 10);
                    let opcode = if is_utf8 { write::TEXT } else { write::BINARY };
                    write::put_header(out, opcode, len);
                    parts.iter().for_each(|p| out.put_slice(p));
                }
                Encoding::Stomp => parts.iter().for_each(|p| out.put_slice(p)),
                Encoding::SockJs => {
                    let text: String = parts.iter().map(|p| String::from_utf8_lossy(p)).collect();
                    text_len += text.len();
                    texts.push(text);
                }
            }
        }
        if !texts.is_empty() {
            write::put_text(out, &sockjs::message_frame(&texts));
        }
        if self.items.is_empty() {
            self.head = None;
        }
    }
}

impl ConnOutbox {
    /// An empty outbox, congested above `high_water` bytes.
    pub(crate) fn new(high_water: usize) -> ConnOutbox {
        ConnOutbox {
            state: Mutex::new(State::default()),
            queued: AtomicUsize::new(0),
            high_water,
        }
    }

    fn low_water(&self) -> usize {
        self.high_water / 2
    }

    /// Takes everything queued; when nothing is, registers the task to be woken by the next
    /// push.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Batch> {
        let mut state = self.state.lock();
        if state.is_empty() {
            match &state.task {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.task = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let spare = std::mem::take(&mut state.spare);
        state.head = None;
        Poll::Ready(Batch {
            items: std::mem::replace(&mut state.items, spare),
            close: state.close.take(),
            counted: std::mem::take(&mut state.counted),
            head: None,
        })
    }

    /// Gives a drained queue back, to be reused by the next batch.
    pub(crate) fn recycle(&self, mut items: VecDeque<Item>) {
        items.clear();
        let mut state = self.state.lock();
        if state.spare.capacity() < items.capacity() && !state.closed {
            state.spare = items;
        }
    }

    /// Drops the queue kept for reuse (so an idle connection keeps none).
    pub(crate) fn release_spare(&self) {
        let spare = std::mem::take(&mut self.state.lock().spare);
        drop(spare);
    }

    /// Records that `bytes` of taken items were written to the peer; wakes the publishers
    /// waiting for a drain once at most the low-water mark is left.
    pub(crate) fn written(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let left = self.queued.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        if left <= self.low_water() {
            let waiters = std::mem::take(&mut self.state.lock().drain_waiters);
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// The connection ended: drops what is queued, refuses later pushes and releases waiting
    /// publishers.
    pub(crate) fn close(&self) {
        let (queued, waiters) = {
            let mut state = self.state.lock();
            state.closed = true;
            state.task = None;
            state.close = None;
            state.head = None;
            self.queued.store(0, Ordering::Release);
            let queued = (
                std::mem::take(&mut state.items),
                std::mem::take(&mut state.spare),
            );
            (queued, std::mem::take(&mut state.drain_waiters))
        };
        drop(queued);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Queues under the lock (`put` returns the bytes it queued) and wakes the task if the
    /// outbox was empty.
    fn enqueue(&self, put: impl FnOnce(&mut State) -> usize) {
        let task = {
            let mut state = self.state.lock();
            if state.closed || state.close.is_some() {
                return;
            }
            let was_empty = state.is_empty();
            let added = put(&mut state);
            state.counted += added;
            self.queued.fetch_add(added, Ordering::AcqRel);
            if was_empty { state.task.take() } else { None }
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

impl Outbox for ConnOutbox {
    fn push(&self, item: Outbound) {
        match item {
            Outbound::Message { head, tail } => self.push_message(&head, &tail),
            Outbound::Frame(bytes) => self.enqueue(|state| {
                let len = bytes.len();
                state.items.push_back(Item::Frame(bytes));
                len
            }),
            Outbound::HeartBeat => self.enqueue(|state| {
                state.items.push_back(Item::HeartBeat);
                1
            }),
            Outbound::Close(status) => self.enqueue(|state| {
                state.close = Some(Box::new(status));
                0
            }),
        }
    }

    fn push_message(&self, head: &Bytes, tail: &Tail) {
        self.enqueue(|state| {
            // Subscriptions share one head across their deliveries: queue it once.
            let same = |h: &Bytes| h.as_ptr() == head.as_ptr() && h.len() == head.len();
            if !state.head.as_ref().is_some_and(same) {
                state.head = Some(head.clone());
                state.items.push_back(Item::Head(head.clone()));
            }
            state.items.push_back(Item::Tail(tail.clone()));
            head.len() + tail.len()
        });
    }

    fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    fn is_congested(&self) -> bool {
        self.queued_bytes() > self.high_water
    }

    fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.queued_bytes() <= self.low_water() {
            return Poll::Ready(());
        }
        let mut state = self.state.lock();
        // Checked again under the lock: `written` takes the waiters under it after counting.
        if state.closed || self.queued_bytes() <= self.low_water() {
            return Poll::Ready(());
        }
        if !state.drain_waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.drain_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
