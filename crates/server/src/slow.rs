//! Slow consumers: every outbox (a connection's, a SockJS session's) is bounded in bytes and in
//! time, like Spring's `sendBufferSizeLimit` and `sendTimeLimit`. A consumer that cannot keep up
//! is closed with 4500 (Spring's `SESSION_NOT_RELIABLE`); its queue is dropped and the
//! publishers waiting for it to drain are released at once.
//!
//! - Bytes (`limits.send_buffer_limit`): a push that takes the queue above the limit closes it.
//! - Time (`limits.send_time_limit`): an outbox above its high-water mark that has not drained to
//!   the low-water mark (half of it) for this long is closed.
//!
//! No timer per session. Time is read only on the congested path: by a push that leaves the
//! outbox above its high-water mark, and by a publisher waiting for the drain, which arms one
//! timer per congested outbox (woken publishers wake each other, so one that goes away does not
//! leave the others waiting). A consumer that never reads is closed even if nobody pushes again.
//!
//! This module owns the arithmetic and the bookkeeping; each outbox keeps a [`Meter`] beside
//! its lock and a [`Guard`] under it, and does the dropping and waking itself.

use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use stompbox_broker::{CloseStatus, ClosedBy};
use stompbox_closecode::codes;
use tokio::time::Sleep;

use crate::LimitsConfig;
use crate::pump::now;

/// The limit a slow consumer broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// `limits.send_buffer_limit`.
    Bytes,
    /// `limits.send_time_limit`.
    Time,
}

impl Limit {
    /// Both, in the order of their metric lines.
    pub(crate) const ALL: [Limit; 2] = [Limit::Bytes, Limit::Time];

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Limit::Bytes => "bytes",
            Limit::Time => "time",
        }
    }
}

/// The limits every outbox of a server applies, and what they did (for `/metrics`).
#[derive(Debug)]
pub(crate) struct SendLimits {
    /// Above this many queued bytes an outbox is congested: its publishers wait.
    pub(crate) high_water: usize,
    /// A push that would queue more than this closes the consumer.
    pub(crate) buffer_limit: usize,
    /// Congested for longer than this closes the consumer.
    pub(crate) time_limit: Duration,
    /// Closes per [`Limit`], in [`Limit::ALL`] order.
    closes: [AtomicU64; 2],
    /// The most bytes one outbox held above its high-water mark.
    peak: AtomicUsize,
}

impl SendLimits {
    /// Limits with these values.
    pub(crate) fn new(high_water: usize, buffer_limit: usize, time_limit: Duration) -> Arc<Self> {
        Arc::new(SendLimits {
            high_water,
            buffer_limit: buffer_limit.max(high_water),
            time_limit,
            closes: Default::default(),
            peak: AtomicUsize::new(0),
        })
    }

    /// The configured limits.
    pub(crate) fn from_config(limits: &LimitsConfig) -> Arc<Self> {
        SendLimits::new(
            limits.outbox_high_water,
            limits.send_buffer_limit,
            limits.send_time_limit,
        )
    }

    /// Slow consumers closed for `limit`.
    pub(crate) fn closes(&self, limit: Limit) -> u64 {
        self.closes[limit as usize].load(Ordering::Relaxed)
    }

    /// The most bytes one outbox held above its high-water mark (0 if none went above it).
    pub(crate) fn peak_queued(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// How a consumer closed for `limit` ends: 4500, by the server, saying which limit.
    pub(crate) fn status(&self, limit: Limit) -> CloseStatus {
        let reason = match limit {
            Limit::Bytes => format!(
                "slow consumer: send buffer over {} bytes",
                self.buffer_limit
            ),
            Limit::Time => format!(
                "slow consumer: could not send for {}",
                humantime::format_duration(self.time_limit)
            ),
        };
        CloseStatus::new(codes::SESSION_NOT_RELIABLE, reason, ClosedBy::Server)
    }

    /// The Prometheus lines of these counters.
    pub(crate) fn render_metrics(&self, out: &mut String) {
        let name = "stompbox_slow_consumer_closes_total";
        let _ = writeln!(
            out,
            "# HELP {name} Sessions closed with 4500 because they did not keep up, by the limit they broke (limits.send_buffer_limit, limits.send_time_limit).\n# TYPE {name} counter"
        );
        for limit in Limit::ALL {
            let _ = writeln!(
                out,
                "{name}{{limit=\"{}\"}} {}",
                limit.label(),
                self.closes(limit)
            );
        }
        let name = "stompbox_outbox_peak_queued_bytes";
        let _ = writeln!(
            out,
            "# HELP {name} Most bytes one session's outbox held above limits.outbox_high_water since start (never above limits.send_buffer_limit; 0 if none went above the mark).\n# TYPE {name} gauge\n{name} {}",
            self.peak_queued()
        );
    }
}

/// An outbox's count of bytes queued and not yet written, against its high-water mark. Kept
/// outside the outbox's lock: publishers check congestion after every push.
#[derive(Debug)]
pub(crate) struct Meter {
    queued: AtomicUsize,
    high_water: usize,
}

impl Meter {
    /// An empty meter.
    pub(crate) fn new(high_water: usize) -> Meter {
        Meter {
            queued: AtomicUsize::new(0),
            high_water,
        }
    }

    /// Bytes queued.
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Above the high-water mark.
    #[inline]
    pub(crate) fn is_congested(&self) -> bool {
        self.queued() > self.high_water
    }

    /// At or below the low-water mark.
    #[inline]
    pub(crate) fn is_drained(&self) -> bool {
        self.queued() <= self.high_water / 2
    }

    /// Counts `bytes` more; `Some(total)` when that leaves the outbox above its high-water
    /// mark (the caller then calls [`Guard::check_push`]).
    #[inline]
    pub(crate) fn add(&self, bytes: usize) -> Option<usize> {
        let total = self.queued.fetch_add(bytes, Ordering::AcqRel) + bytes;
        (total > self.high_water).then_some(total)
    }

    /// Counts `bytes` as written; whether the outbox is now drained. Saturating: a slow-consumer
    /// close may have cleared the count while those bytes were on their way.
    pub(crate) fn sub(&self, bytes: usize) -> bool {
        let before = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(bytes))
            })
            .unwrap_or_else(|q| q);
        before.saturating_sub(bytes) <= self.high_water / 2
    }

    /// Nothing is queued any more (dropped or the connection is gone).
    pub(crate) fn clear(&self) {
        self.queued.store(0, Ordering::Release);
    }
}

/// The slow-consumer state an outbox keeps under its lock: one pointer, allocated only while
/// the outbox is congested or waited on (1 M idle sessions carry 8 bytes each for it).
#[derive(Debug, Default)]
pub(crate) struct Guard(Option<Box<Congestion>>);

#[derive(Debug, Default)]
struct Congestion {
    /// Since when the outbox has been congested without draining.
    since: Option<Instant>,
    /// Who waits for the drain (publishers, and the connection while its socket is full).
    waiters: Option<Arc<Waiters>>,
    /// Wakes the waiters when the time limit is up; armed by the first publisher that waits.
    timer: Option<Pin<Box<Sleep>>>,
    /// The limit the outbox was closed for.
    tripped: Option<Limit>,
}

impl Guard {
    fn congestion(&mut self) -> &mut Congestion {
        self.0.get_or_insert_with(Default::default)
    }

    /// The limit this outbox was closed for, if it was.
    pub(crate) fn tripped(&self) -> Option<Limit> {
        self.0.as_ref().and_then(|c| c.tripped)
    }

    /// A push of `added` bytes left `queued`, above the high-water mark: the limit that breaks,
    /// if any. One message larger than the send buffer on its own is let through to an empty
    /// queue (as Spring sends without buffering when no send is in progress). Reads the clock
    /// (the congested path only).
    #[cold]
    pub(crate) fn check_push(
        &mut self,
        limits: &SendLimits,
        queued: usize,
        added: usize,
    ) -> Option<Limit> {
        if queued > limits.buffer_limit && queued > added {
            return Some(Limit::Bytes);
        }
        limits.peak.fetch_max(queued, Ordering::Relaxed);
        let now = now();
        let since = *self.congestion().since.get_or_insert(now);
        (now.saturating_duration_since(since) >= limits.time_limit).then_some(Limit::Time)
    }

    /// `Outbox::poll_drained` under the outbox's lock, once the meter said it has not drained:
    /// `Ready(None)` when there is nothing to wait for (drained meanwhile, or `finished`),
    /// `Ready(Some(limit))` when the time limit is up (the caller closes the outbox), else
    /// registers `cx` and arms the timer.
    pub(crate) fn poll_wait(
        &mut self,
        meter: &Meter,
        limits: &SendLimits,
        finished: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Limit>> {
        // Checked again under the lock: a drain releases the waiters under it after counting.
        if finished || self.tripped().is_some() || meter.is_drained() {
            return Poll::Ready(None);
        }
        let now = now();
        let c = self.congestion();
        let since = *c.since.get_or_insert(now);
        let waiters = c.waiters.get_or_insert_with(Default::default).clone();
        waiters.add(cx.waker());
        let Some(deadline) = since.checked_add(limits.time_limit) else {
            return Poll::Pending;
        };
        if now >= deadline {
            return Poll::Ready(Some(Limit::Time));
        }
        // Outside a runtime (unit tests) there is no timer: the next push or wait decides.
        if c.timer.is_none() && tokio::runtime::Handle::try_current().is_ok() {
            let at = tokio::time::Instant::from_std(deadline);
            c.timer = Some(Box::pin(tokio::time::sleep_until(at)));
        }
        if let Some(timer) = &mut c.timer {
            // The timer wakes every waiter: whichever polls first closes the outbox.
            let waker = Waker::from(waiters);
            if timer
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                return Poll::Ready(Some(Limit::Time));
            }
        }
        Poll::Pending
    }

    /// The outbox is closed for `limit`: counts it; what to wake once the lock is released.
    #[cold]
    pub(crate) fn trip(&mut self, limits: &SendLimits, limit: Limit) -> Released {
        let c = self.congestion();
        if c.tripped.is_none() {
            c.tripped = Some(limit);
            limits.closes[limit as usize].fetch_add(1, Ordering::Relaxed);
        }
        c.since = None;
        Released {
            waiters: c.waiters.take(),
            timer: c.timer.take(),
        }
    }

    /// The congestion is over (drained to the low-water mark, or the outbox is gone): what to
    /// wake once the lock is released.
    pub(crate) fn release(&mut self) -> Released {
        match self.0.take_if(|c| c.tripped.is_none()) {
            Some(c) => Released {
                waiters: c.waiters,
                timer: c.timer,
            },
            None => Released {
                waiters: None,
                timer: None,
            },
        }
    }
}

/// Waiters and the timer taken out of a [`Guard`], to wake and drop outside the outbox's lock.
#[must_use = "wake() the waiters"]
pub(crate) struct Released {
    waiters: Option<Arc<Waiters>>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Released {
    /// Wakes the waiters.
    pub(crate) fn wake(self) {
        drop(self.timer);
        if let Some(waiters) = self.waiters {
            waiters.wake_all();
        }
    }
}

/// The tasks waiting on one outbox; also the waker of its timer.
#[derive(Debug, Default)]
pub(crate) struct Waiters(Mutex<Vec<Waker>>);

impl Waiters {
    fn add(&self, waker: &Waker) {
        let mut wakers = self.0.lock();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.0.lock());
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
