//! The outbox of one connection: what the broker queued for the peer and not yet written, with
//! the bytes it holds, and the back-pressure signal derived from them.
//!
//! One short lock per push (uncontended but for the moment the connection takes a batch). No
//! allocation while empty: an idle connection's outbox holds no queue capacity. The connection
//! task is woken only when the queue goes from empty to non-empty, so a burst of deliveries costs
//! one wake. Publishers whose fan-out left this outbox above its high-water mark wait
//! ([`Outbox::poll_drained`]) until the connection has written it down to the low-water mark.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use stompbox_broker::{Outbound, Outbox};

/// A connection's queue of outbound items.
#[derive(Debug)]
pub(crate) struct ConnOutbox {
    state: Mutex<State>,
    /// Bytes pushed and not yet written (what `wire_len` says each item puts on the wire).
    queued: AtomicUsize,
    /// Above this many queued bytes the outbox is congested; publishers wait until it is at or
    /// below half of it.
    high_water: usize,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outbound>,
    /// The connection task, when it found the queue empty.
    task: Option<Waker>,
    /// Publishers waiting for the queue to drain.
    drain_waiters: Vec<Waker>,
    /// The connection is gone: pushes are dropped and nobody waits for a drain.
    closed: bool,
}

impl ConnOutbox {
    /// An empty outbox with this high-water mark in bytes.
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

    /// Takes everything queued, in order (the queue's allocation goes with it: an idle
    /// outbox holds none); when nothing is queued, registers the task to be woken by the next
    /// push.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<VecDeque<Outbound>> {
        let mut state = self.state.lock();
        if state.items.is_empty() {
            match &state.task {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => state.task = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(std::mem::take(&mut state.items))
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
        let (items, waiters) = {
            let mut state = self.state.lock();
            state.closed = true;
            state.task = None;
            self.queued.store(0, Ordering::Release);
            (
                std::mem::take(&mut state.items),
                std::mem::take(&mut state.drain_waiters),
            )
        };
        drop(items);
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl Outbox for ConnOutbox {
    fn push(&self, item: Outbound) {
        let bytes = item.wire_len();
        let task = {
            let mut state = self.state.lock();
            if state.closed {
                return;
            }
            self.queued.fetch_add(bytes, Ordering::AcqRel);
            state.items.push_back(item);
            if state.items.len() == 1 {
                state.task.take()
            } else {
                None
            }
        };
        if let Some(task) = task {
            task.wake();
        }
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
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    use bytes::Bytes;

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn frame(n: usize) -> Outbound {
        Outbound::Frame(Bytes::from(vec![b'x'; n]))
    }

    #[test]
    fn one_wake_per_empty_to_non_empty_and_no_capacity_when_idle() {
        let outbox = ConnOutbox::new(1000);
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.poll_take(&mut cx).is_pending());
        outbox.push(frame(10));
        outbox.push(frame(10));
        outbox.push(frame(10));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake for a burst");
        let Poll::Ready(items) = outbox.poll_take(&mut cx) else {
            panic!("items queued")
        };
        assert_eq!((items.len(), outbox.queued_bytes()), (3, 30));
        outbox.written(30);
        assert_eq!(outbox.queued_bytes(), 0);
        assert!(outbox.poll_take(&mut cx).is_pending());
        assert_eq!(outbox.state.lock().items.capacity(), 0);
    }

    #[test]
    fn congestion_above_high_water_and_drain_at_low_water() {
        let outbox = ConnOutbox::new(100);
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        outbox.push(frame(101));
        assert!(outbox.is_congested());
        assert!(outbox.poll_drained(&mut cx).is_pending());
        let Poll::Ready(_) = outbox.poll_take(&mut cx) else {
            panic!()
        };
        // Taken but not written: still counted.
        assert!(outbox.poll_drained(&mut cx).is_pending());
        outbox.push(frame(20));
        outbox.written(101);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "drain waiter woken");
        assert!(!outbox.is_congested());
        assert!(outbox.poll_drained(&mut cx).is_ready());
    }

    #[test]
    fn a_closed_outbox_drops_pushes_and_releases_waiters() {
        let outbox = ConnOutbox::new(10);
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        outbox.push(frame(50));
        assert!(outbox.poll_drained(&mut cx).is_pending());
        outbox.close();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(outbox.poll_drained(&mut cx).is_ready());
        outbox.push(frame(50));
        assert_eq!(outbox.queued_bytes(), 0);
    }
}
