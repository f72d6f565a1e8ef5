//! One SockJS session as a deterministic state machine: the open frame, the message queue, one
//! receiver at a time, heartbeats, closing, and expiry — with timers as data.
//!
//! Owns what a receiving request gets and when; must not do I/O, read a clock, spawn or wait:
//! the caller passes `now` in and asks [`Session::poll_timeout`] when to call back. Implements
//! the session rules of `sockjs-protocol-0.3.3.py` (`Protocol.test_simpleSession`,
//! `test_closeSession`, `HandlingClose.*`, the 25 s heartbeat and the 5 s disconnect delay).

use std::time::{Duration, Instant};

use crate::frame::{HEARTBEAT, OPEN, close_frame, message_frame};

/// Close code of the frame a session's server-side close sends by default ("Go away!").
pub const CODE_GO_AWAY: u16 = 3000;
/// Reason sent with [`CODE_GO_AWAY`].
pub const REASON_GO_AWAY: &str = "Go away!";
/// Close code answered to a second receiving request while one is attached.
pub const CODE_ANOTHER_CONNECTION: u16 = 2010;
/// Reason sent with [`CODE_ANOTHER_CONNECTION`].
pub const REASON_ANOTHER_CONNECTION: &str = "Another connection still open";
/// Close code of a session whose receiving request was cut by the network.
pub const CODE_INTERRUPTED: u16 = 1002;
/// Reason sent with [`CODE_INTERRUPTED`].
pub const REASON_INTERRUPTED: &str = "Connection interrupted";

/// Timing and size settings of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Silence on the attached receiver after which an `h` frame is sent. Default: 25 s.
    pub heartbeat: Duration,
    /// How long a session lives without a receiver before it expires. Default: 5 s.
    pub disconnect_delay: Duration,
    /// Bytes after which the adapter ends a streaming response (counting prelude and framing)
    /// and detaches its receiver with [`Detach::Done`]; the session does not count bytes
    /// itself. Default: 128 KiB.
    pub response_limit: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            heartbeat: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            response_limit: 128 * 1024,
        }
    }
}

/// Identifies one receiving request attached to a session; stale ids are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiverId(u64);

/// The answer to [`Session::attach`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    /// The request is now the session's receiver: pump [`Session::poll_frame`] for it.
    Accepted(ReceiverId),
    /// Another receiver is attached: write `c[2010,"Another connection still open"]`
    /// ([`Attach::frame`]) and end the response. The attached receiver is unaffected.
    AnotherConnectionOpen,
    /// The session is closed: write `c[code,reason]` ([`Attach::frame`]) and end the response.
    Closed {
        /// The code the session was closed with.
        code: u16,
        /// The reason the session was closed with.
        reason: String,
    },
}

impl Attach {
    /// The close frame to write for a refused attach; `None` for [`Attach::Accepted`].
    pub fn frame(&self) -> Option<String> {
        match self {
            Attach::Accepted(_) => None,
            Attach::AnotherConnectionOpen => Some(close_frame(
                CODE_ANOTHER_CONNECTION,
                REASON_ANOTHER_CONNECTION,
            )),
            Attach::Closed { code, reason } => Some(close_frame(*code, reason)),
        }
    }
}

/// How a receiving request ended, for [`Session::detach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detach {
    /// The response ended normally: a polling response was written, a streaming response
    /// reached the response limit, or the close frame was delivered.
    Done,
    /// The client went away mid-response (network error, aborted request, WebSocket gone).
    Interrupted,
}

/// What [`Session::handle_timeout`] reports when the session's time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The open session had no receiver for `after` (at least `disconnect_delay`). It is now
    /// closed with 3000 "Go away!": tell the application (cause: receiver lost after `after`)
    /// and forget the session.
    Expired {
        /// How long the session had been without a receiver.
        after: Duration,
    },
    /// The session had already been closed (by [`Session::close`], an interrupted receiver)
    /// and has served its close frame for `disconnect_delay`: forget it, nothing new to report.
    Finished,
}

/// The receiver currently attached.
#[derive(Debug)]
struct Receiver {
    id: ReceiverId,
    /// When the last frame was handed to it (its attach time before the first).
    last_sent: Instant,
    /// A heartbeat is owed: the next [`Session::poll_frame`] returns `h` if nothing else.
    heartbeat_due: bool,
    /// It was handed the close frame; it gets nothing more.
    finished: bool,
}

/// One SockJS session.
///
/// Call order, for the adapter:
/// 1. [`Session::new`] when a receiving request names an unknown session id.
/// 2. For each receiving request, [`Session::attach`]. On [`Attach::Accepted`] write the
///    transport's prelude, then loop: write every frame [`Session::poll_frame`] gives; a polling
///    transport detaches with [`Detach::Done`] after its first frame; a streaming one after the
///    close frame ([`Session::is_finished`]) or once its byte count reaches
///    [`SessionConfig::response_limit`]; if the client goes away, detach with
///    [`Detach::Interrupted`]. Otherwise sleep until [`Session::poll_timeout`] or a wake-up
///    after [`Session::push_message`] / [`Session::close`].
/// 3. Whenever the instant from [`Session::poll_timeout`] is reached, call
///    [`Session::handle_timeout`]; on [`Expiry`] forget the session.
///
/// The first receiver ever gets [`OPEN`] first, then queued messages in one `a[…]` frame per
/// poll. After [`Session::close`] the attached receiver (or the next one) gets what was queued,
/// then `c[code,reason]`; after that every attach answers [`Attach::Closed`] until expiry.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    heartbeat_enabled: bool,
    open_sent: bool,
    queue: Vec<String>,
    closed: Option<(u16, String)>,
    receiver: Option<Receiver>,
    /// Since when no receiver has been attached; `None` while one is.
    idle_since: Option<Instant>,
    expired: bool,
    next_receiver: u64,
}

impl Session {
    /// A new session with no receiver yet; its disconnect clock starts at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        Session {
            config,
            heartbeat_enabled: true,
            open_sent: false,
            queue: Vec::new(),
            closed: None,
            receiver: None,
            idle_since: Some(now),
            expired: false,
            next_receiver: 0,
        }
    }

    /// The configuration the session was made with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A receiving request arrives.
    ///
    /// A closed session answers [`Attach::Closed`] — also while a receiver is still attached
    /// (spec `test_close_frame`: "rather than Another connection still open") — unless the
    /// open frame or messages queued before the close were never delivered: then the request is
    /// accepted to receive them and the close frame.
    pub fn attach(&mut self, now: Instant) -> Attach {
        if let Some((code, reason)) = &self.closed {
            let drained = self.open_sent && self.queue.is_empty();
            if self.receiver.is_some() || drained {
                return Attach::Closed {
                    code: *code,
                    reason: reason.clone(),
                };
            }
        } else if self.receiver.is_some() {
            return Attach::AnotherConnectionOpen;
        }
        let id = ReceiverId(self.next_receiver);
        self.next_receiver += 1;
        self.receiver = Some(Receiver {
            id,
            last_sent: now,
            heartbeat_due: false,
            finished: false,
        });
        self.idle_since = None;
        Attach::Accepted(id)
    }

    /// Queues an application message for the receiver; ignored once the session is closed.
    pub fn push_message(&mut self, message: String) {
        if self.closed.is_none() {
            self.queue.push(message);
        }
    }

    /// Drops the queued messages, undelivered (a receiver too slow for them is closed without
    /// them: the next one gets the close frame at once).
    pub fn discard_queued(&mut self) {
        self.queue.clear();
    }

    /// Server-initiated close. Messages already queued are still delivered, then `c[code,reason]`;
    /// afterwards [`Session::attach`] answers `Closed { code, reason }`. A second close is ignored.
    pub fn close(&mut self, code: u16, reason: &str) {
        if self.closed.is_none() {
            self.closed = Some((code, reason.to_owned()));
        }
    }

    /// The next frame for `receiver`, or `None` if there is nothing to send now (or the receiver
    /// is stale or finished). In priority order: [`OPEN`] if never sent; one `a[…]` with every
    /// queued message; the close frame if the session is closed (after which the receiver
    /// [is finished](Session::is_finished)); [`HEARTBEAT`] if [`Session::handle_timeout`] found
    /// one due.
    pub fn poll_frame(&mut self, receiver: ReceiverId, now: Instant) -> Option<String> {
        let r = match &mut self.receiver {
            Some(r) if r.id == receiver && !r.finished => r,
            _ => return None,
        };
        let frame = if !self.open_sent {
            self.open_sent = true;
            OPEN.to_owned()
        } else if !self.queue.is_empty() {
            let frame = message_frame(&self.queue);
            self.queue.clear();
            frame
        } else if let Some((code, reason)) = &self.closed {
            r.finished = true;
            close_frame(*code, reason)
        } else if r.heartbeat_due {
            HEARTBEAT.to_owned()
        } else {
            return None;
        };
        r.last_sent = now;
        r.heartbeat_due = false;
        Some(frame)
    }

    /// Whether `receiver` will get no more frames: it was handed the close frame, or it is not
    /// the attached receiver. A streaming adapter then detaches it with [`Detach::Done`].
    pub fn is_finished(&self, receiver: ReceiverId) -> bool {
        self.receiver
            .as_ref()
            .is_none_or(|r| r.id != receiver || r.finished)
    }

    /// The receiving request `receiver` ended; stale ids are ignored.
    ///
    /// [`Detach::Done`] starts the disconnect clock. [`Detach::Interrupted`] also drops what is
    /// queued and, unless already closed, closes the session with 1002 "Connection interrupted"
    /// (spec `test_abort_xhr_streaming`, `test_abort_xhr_polling`).
    pub fn detach(&mut self, receiver: ReceiverId, how: Detach, now: Instant) {
        if self.receiver.as_ref().is_none_or(|r| r.id != receiver) {
            return;
        }
        self.receiver = None;
        self.idle_since = Some(now);
        if how == Detach::Interrupted {
            self.queue.clear();
            self.close(CODE_INTERRUPTED, REASON_INTERRUPTED);
        }
    }

    /// When [`Session::handle_timeout`] must next be called: `heartbeat` after the last frame
    /// handed to the attached receiver (if heartbeats are on, the session is open and none is
    /// already due), or `disconnect_delay` after the last receiver left. `None` once expired.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            return None;
        }
        match &self.receiver {
            Some(r) => self
                .heartbeat_applies(r)
                .then(|| r.last_sent.checked_add(self.config.heartbeat))
                .flatten(),
            None => self
                .idle_since
                .and_then(|since| since.checked_add(self.config.disconnect_delay)),
        }
    }

    /// Acts on the timers at `now`: marks a heartbeat due (the next [`Session::poll_frame`] gives
    /// `h`, so wake the receiver), or reports [`Expiry`] when the session has been without a
    /// receiver for `disconnect_delay`. Early calls do nothing; expiry is reported once.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Expiry> {
        if self.expired {
            return None;
        }
        if self.receiver.is_some() {
            // With a receiver attached, the only timer is its heartbeat.
            if self.poll_timeout().is_some_and(|at| now >= at) {
                if let Some(r) = &mut self.receiver {
                    r.heartbeat_due = true;
                }
            }
            return None;
        }
        let since = self.idle_since?;
        let deadline = since.checked_add(self.config.disconnect_delay)?;
        if now < deadline {
            return None;
        }
        self.expired = true;
        if self.closed.is_some() {
            return Some(Expiry::Finished);
        }
        self.queue.clear();
        self.close(CODE_GO_AWAY, REASON_GO_AWAY);
        Some(Expiry::Expired {
            after: now.saturating_duration_since(since),
        })
    }

    /// Turns SockJS heartbeats on or off (default on). The adapter turns them off when STOMP
    /// heart-beats were negotiated for the session, as Spring does.
    pub fn set_heartbeat_enabled(&mut self, on: bool) {
        self.heartbeat_enabled = on;
        if let (false, Some(r)) = (on, &mut self.receiver) {
            r.heartbeat_due = false;
        }
    }

    /// Whether SockJS heartbeats are on.
    pub fn is_heartbeat_enabled(&self) -> bool {
        self.heartbeat_enabled
    }

    /// Whether a receiving request is attached.
    pub fn has_receiver(&self) -> bool {
        self.receiver.is_some()
    }

    /// Whether the session was closed (by [`Session::close`], an interrupted receiver, or
    /// expiry).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// The code and reason the session was closed with, if it was.
    pub fn close_reason(&self) -> Option<(u16, &str)> {
        self.closed
            .as_ref()
            .map(|(code, reason)| (*code, reason.as_str()))
    }

    /// Whether [`Session::handle_timeout`] has reported expiry.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// How many application messages are queued, not yet handed to a receiver.
    pub fn pending_len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the heartbeat timer runs for `r`.
    fn heartbeat_applies(&self, r: &Receiver) -> bool {
        self.heartbeat_enabled && self.closed.is_none() && !r.finished && !r.heartbeat_due
    }
}

#[cfg(test)]
mod tests;
