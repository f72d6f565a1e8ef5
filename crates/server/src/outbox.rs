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
//!
//! Slow consumers ([`crate::slow`]): a push that takes the queue above `limits.send_buffer_limit`,
//! or congestion that lasts `limits.send_time_limit`, closes the outbox with 4500 — what is
//! queued is dropped, waiting publishers are released, and the connection stops writing at once
//! ([`ConnOutbox::poll_abort`]). The hot path pays one comparison for it; the clock is read only
//! above the high-water mark.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use stompbox_broker::{CloseStatus, Outbound, Outbox, Tail};
use stompbox_sockjs as sockjs;

use crate::slow::{Guard, Limit, Meter, Released, SendLimits};
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
    /// Bytes pushed and not yet written (as [`Outbound::wire_len`] counts them), against the
    /// high-water mark above which publishers wait until it is at or below half of it.
    meter: Meter,
    state: Mutex<State>,
    limits: Arc<SendLimits>,
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
    /// The connection task, when it found the outbox empty or its socket full.
    task: Option<Waker>,
    /// The connection is gone: pushes are dropped and nobody waits for a drain.
    closed: bool,
    /// An empty queue to take `items`' place at the next take.
    spare: VecDeque<Item>,
    /// Publishers waiting for the outbox to drain, and the slow-consumer limits.
    guard: Guard,
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
    /// An empty outbox, congested above `limits.high_water` bytes.
    pub(crate) fn new(limits: Arc<SendLimits>) -> ConnOutbox {
        ConnOutbox {
            meter: Meter::new(limits.high_water),
            state: Mutex::new(State::default()),
            limits,
        }
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
        if self.meter.sub(bytes) {
            let released = self.state.lock().guard.release();
            released.wake();
        }
    }

    /// For the connection while its socket is full: `Ready` with the 4500 status once the
    /// outbox was closed as a slow consumer (stop writing, end the connection); otherwise
    /// registers `cx` to be woken then.
    pub(crate) fn poll_abort(&self, cx: &mut Context<'_>) -> Poll<CloseStatus> {
        let mut state = self.state.lock();
        if let Some(limit) = state.guard.tripped() {
            return Poll::Ready(self.limits.status(limit));
        }
        match &state.task {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.task = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The connection ended: drops what is queued, refuses later pushes and releases waiting
    /// publishers.
    pub(crate) fn close(&self) {
        let (queued, released) = {
            let mut state = self.state.lock();
            state.closed = true;
            state.task = None;
            state.close = None;
            state.head = None;
            self.meter.clear();
            let queued = (
                std::mem::take(&mut state.items),
                std::mem::take(&mut state.spare),
            );
            (queued, state.guard.release())
        };
        drop(queued);
        released.wake();
    }

    /// Queues under the lock (`put` returns the bytes it queued) and wakes the task if the
    /// outbox was empty; above the high-water mark, applies the slow-consumer limits.
    fn enqueue(&self, put: impl FnOnce(&mut State) -> usize) {
        let (task, tripped) = {
            let mut state = self.state.lock();
            if state.closed || state.close.is_some() {
                return;
            }
            let was_empty = state.is_empty();
            let added = put(&mut state);
            state.counted += added;
            let tripped = match self.meter.add(added) {
                None => None,
                Some(queued) => state
                    .guard
                    .check_push(&self.limits, queued, added)
                    .map(|limit| self.trip(&mut state, limit)),
            };
            (if was_empty { state.task.take() } else { None }, tripped)
        };
        if let Some(task) = task {
            task.wake();
        }
        if let Some(tripped) = tripped {
            tripped.finish();
        }
    }

    /// Closes the outbox as a slow consumer (under the lock): drops what is queued, refuses
    /// later pushes, and queues the 4500 close for a connection that is not stuck writing.
    #[cold]
    fn trip(&self, state: &mut State, limit: Limit) -> Box<Tripped> {
        let released = state.guard.trip(&self.limits, limit);
        state.close = Some(Box::new(self.limits.status(limit)));
        state.head = None;
        state.counted = 0;
        self.meter.clear();
        Box::new(Tripped {
            items: std::mem::take(&mut state.items),
            task: state.task.take(),
            released,
        })
    }
}

/// What a slow-consumer close leaves to do once the lock is released.
struct Tripped {
    items: VecDeque<Item>,
    task: Option<Waker>,
    released: Released,
}

impl Tripped {
    fn finish(self) {
        drop(self.items);
        if let Some(task) = self.task {
            task.wake();
        }
        self.released.wake();
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
        self.meter.queued()
    }

    fn is_congested(&self) -> bool {
        self.meter.is_congested()
    }

    /// Pending until drained; bounded by `limits.send_time_limit`, after which the outbox is
    /// closed as a slow consumer and every waiter released.
    fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.meter.is_drained() {
            return Poll::Ready(());
        }
        let tripped = {
            let mut state = self.state.lock();
            let finished = state.closed || state.close.is_some();
            match state
                .guard
                .poll_wait(&self.meter, &self.limits, finished, cx)
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Ready(Some(limit)) => self.trip(&mut state, limit),
            }
        };
        tripped.finish();
        Poll::Ready(())
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
