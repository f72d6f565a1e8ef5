//! The outbox of a SockJS session over HTTP: what the broker queued until a receiving request
//! takes it. Counted and bounded like a connection's outbox ([`crate::slow`]): bytes stay
//! counted from the push until a receiver hands them to HTTP (through the SockJS session's own
//! queue in between), publishers wait above the high-water mark, and a receiver that cannot
//! keep up — or a polling client that stops polling — is closed with 4500.
//!
//! A push cannot end the session itself (it may run under the session's lock, when the session
//! publishes to its own subscription): it drops the queue, refuses later pushes, and asks the
//! registry's timer task to handle the session now, which ends it with the 4500 status that
//! [`SockOutbox::take`] hands over.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use parking_lot::Mutex;
use stompbox_broker::{CloseStatus, Outbound, Outbox};
use tokio::sync::{Notify, mpsc};

use crate::pump::now;
use crate::slow::{Guard, Limit, Meter, Released, SendLimits};

/// The registry's timer task, told `(session, when)` to handle a session.
pub(crate) type Timers = mpsc::WeakUnboundedSender<(Arc<str>, Instant)>;

/// Where the broker puts a SockJS session's outbound frames until a receiver takes them.
pub(crate) struct SockOutbox {
    meter: Meter,
    state: Mutex<State>,
    limits: Arc<SendLimits>,
    /// Wakes the attached receiver (one at most) and the timer task's rescheduling.
    pub(crate) notify: Notify,
    /// The session's id and the registry's timer task, told when a push closed the outbox.
    id: Arc<str>,
    timers: Timers,
}

#[derive(Default)]
struct State {
    items: Vec<Outbound>,
    guard: Guard,
    /// The session ended: pushes are dropped and nobody waits for a drain.
    closed: bool,
    /// The slow-consumer close was handed to the session by [`SockOutbox::take`].
    reported: bool,
}

impl SockOutbox {
    /// An empty outbox for session `id`.
    pub(crate) fn new(limits: Arc<SendLimits>, id: Arc<str>, timers: Timers) -> SockOutbox {
        SockOutbox {
            meter: Meter::new(limits.high_water),
            state: Mutex::new(State::default()),
            limits,
            notify: Notify::new(),
            id,
            timers,
        }
    }

    /// Takes what the broker queued (still counted until [`SockOutbox::written`]), and the
    /// 4500 status the first time after a slow-consumer close.
    pub(crate) fn take(&self) -> (Vec<Outbound>, Option<CloseStatus>) {
        let mut state = self.state.lock();
        let tripped = match state.guard.tripped() {
            Some(limit) if !state.reported => {
                state.reported = true;
                Some(self.limits.status(limit))
            }
            _ => None,
        };
        (std::mem::take(&mut state.items), tripped)
    }

    /// `bytes` of taken messages were handed to a receiver (or dropped with the session's
    /// queue): wakes the publishers waiting for a drain once at most the low-water mark is left.
    pub(crate) fn written(&self, bytes: usize) {
        if bytes > 0 && self.meter.sub(bytes) {
            let released = self.state.lock().guard.release();
            released.wake();
        }
    }

    /// The session ended: drops what is queued, refuses later pushes and releases waiting
    /// publishers.
    pub(crate) fn close(&self) {
        let (items, released) = {
            let mut state = self.state.lock();
            state.closed = true;
            self.meter.clear();
            (std::mem::take(&mut state.items), state.guard.release())
        };
        drop(items);
        released.wake();
    }

    /// Closes the outbox as a slow consumer (under the lock): drops what is queued and refuses
    /// later pushes.
    #[cold]
    fn trip(&self, state: &mut State, limit: Limit) -> (Vec<Outbound>, Released) {
        let released = state.guard.trip(&self.limits, limit);
        self.meter.clear();
        (std::mem::take(&mut state.items), released)
    }

    /// After a trip, outside the lock: frees the queue, releases the waiters and has the
    /// session ended now.
    #[cold]
    fn finish_trip(&self, (items, released): (Vec<Outbound>, Released)) {
        drop(items);
        released.wake();
        if let Some(timers) = self.timers.upgrade() {
            let _ = timers.send((self.id.clone(), now()));
        }
        self.notify.notify_one();
    }
}

impl Outbox for SockOutbox {
    fn push(&self, item: Outbound) {
        let tripped = {
            let mut state = self.state.lock();
            if state.closed || state.guard.tripped().is_some() {
                return;
            }
            let added = item.wire_len();
            state.items.push(item);
            match self.meter.add(added) {
                None => None,
                Some(queued) => state
                    .guard
                    .check_push(&self.limits, queued, added)
                    .map(|limit| self.trip(&mut state, limit)),
            }
        };
        match tripped {
            None => self.notify.notify_one(),
            Some(tripped) => self.finish_trip(tripped),
        }
    }

    fn queued_bytes(&self) -> usize {
        self.meter.queued()
    }

    fn is_congested(&self) -> bool {
        self.meter.is_congested()
    }

    /// Pending until drained; bounded by `limits.send_time_limit`, after which the session is
    /// closed as a slow consumer and every waiter released.
    fn poll_drained(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.meter.is_drained() {
            return Poll::Ready(());
        }
        let tripped = {
            let mut state = self.state.lock();
            let finished = state.closed;
            match state
                .guard
                .poll_wait(&self.meter, &self.limits, finished, cx)
            {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Ready(Some(limit)) => self.trip(&mut state, limit),
            }
        };
        self.finish_trip(tripped);
        Poll::Ready(())
    }
}
