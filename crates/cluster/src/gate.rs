//! Back-pressure from Redis to the sessions that send: a count of messages waiting to be
//! written to Redis, and the [`Outbox`] a sending session waits on while that count is high.
//!
//! The broker already pauses a session whose SEND left a subscriber's outbox congested, until
//! that outbox drains (see [`stompbox_broker::Outbox::poll_drained`]). A [`Gate`] plays the same
//! part for Redis: congested above `high` waiting messages, drained again at `low`. It carries
//! nothing: [`Outbox::push`] is never called on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use stompbox_broker::{Outbound, Outbox};

/// Messages waiting for Redis, with the sessions paused until there are fewer.
#[derive(Debug)]
pub(crate) struct Gate {
    high: usize,
    low: usize,
    waiting: AtomicUsize,
    paused: Mutex<Vec<Waker>>,
}

impl Gate {
    /// Congested above `high` waiting messages, open again at `low`.
    pub(crate) fn new(high: usize, low: usize) -> Arc<Gate> {
        Arc::new(Gate {
            high,
            low,
            waiting: AtomicUsize::new(0),
            paused: Mutex::new(Vec::new()),
        })
    }

    /// How many are waiting.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// One more is waiting.
    pub(crate) fn add(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` are no longer waiting (written, or given up); wakes the paused senders once no
    /// more than `low` are left.
    pub(crate) fn done(&self, n: usize) {
        let left = self
            .waiting
            .fetch_sub(n, Ordering::Relaxed)
            .saturating_sub(n);
        if left <= self.low {
            for waker in std::mem::take(&mut *self.paused.lock()) {
                waker.wake();
            }
        }
    }

    /// `Some(gate)` for the sender to wait on when too many are waiting.
    pub(crate) fn if_congested(self: &Arc<Gate>) -> Option<Arc<dyn Outbox>> {
        self.is_congested()
            .then(|| Arc::new(Waiting(self.clone())) as Arc<dyn Outbox>)
    }

    fn is_congested(&self) -> bool {
        self.waiting() > self.high
    }
}

/// The outbox a paused session polls.
struct Waiting(Arc<Gate>);

impl Outbox for Waiting {
    fn push(&self, _item: Outbound) {}

    fn is_congested(&self) -> bool {
        self.0.is_congested()
    }

    fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        let gate = &self.0;
        if gate.waiting() <= gate.low {
            return Poll::Ready(());
        }
        {
            let mut paused = gate.paused.lock();
            if !paused.iter().any(|w| w.will_wake(cx.waker())) {
                paused.push(cx.waker().clone());
            }
        }
        // `done` may have run between the first look and the push.
        match gate.waiting() <= gate.low {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::task::Wake;

    use super::*;

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn congested_above_high_and_drained_at_low_with_the_paused_sender_woken() {
        let gate = Gate::new(3, 1);
        for _ in 0..3 {
            gate.add();
        }
        assert!(gate.if_congested().is_none(), "at high: not yet");
        gate.add();
        let outbox = gate.if_congested().expect("above high");
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(outbox.poll_drained(&mut cx).is_pending());
        assert!(outbox.poll_drained(&mut cx).is_pending());
        assert_eq!(gate.paused.lock().len(), 1, "one waker per session");
        gate.done(2);
        assert!(!flag.0.load(Ordering::Relaxed), "2 left: above low");
        assert!(outbox.poll_drained(&mut cx).is_pending());
        gate.done(1);
        assert!(flag.0.load(Ordering::Relaxed), "woken at low");
        assert!(outbox.poll_drained(&mut cx).is_ready());
        assert!(!outbox.is_congested());
    }
}
