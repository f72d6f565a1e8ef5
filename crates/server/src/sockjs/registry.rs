//! SockJS sessions over HTTP transports: the table keyed by the session id from the URL, each
//! session's state (the SockJS state machine, the STOMP session, the queue between them), and one
//! timer task for all of them — an idle session costs no task and no syscall until a deadline is
//! due (heartbeat, STOMP heart-beat, `disconnect_delay`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_util::StreamExt;
use parking_lot::Mutex;
use stompbox_broker::{CloseStatus, ClosedBy, Outbound, Outbox, Transport};
use stompbox_closecode::codes;
use stompbox_sockjs::{self as sockjs, Attach, Detach, ReceiverId, SessionConfig};
use tokio::sync::mpsc;
use tokio_util::time::{DelayQueue, delay_queue};

use super::outbox::SockOutbox;
use crate::endpoint::{Endpoint, Kind};
use crate::pump::now;
use crate::slow::SendLimits;
use crate::ws::to_text;

/// The mutable state of one SockJS session.
pub(crate) struct Inner {
    pub(crate) sockjs: sockjs::Session,
    pub(crate) endpoint: Box<dyn Endpoint>,
    /// Set once the STOMP session has ended (its event is out).
    pub(crate) ended: bool,
    scheduled: Option<Instant>,
    /// When the last receiver left (for the `receiver-lost after …` cause).
    detached_at: Option<Instant>,
    /// Bytes of the messages in `sockjs`'s queue, still counted by the outbox.
    held: usize,
}

impl Inner {
    /// Ends a session whose receiver went away and never came back: 3000 "Go away!" as Spring
    /// does, with the real cause beside it.
    fn end_receiver_lost(&mut self, after: std::time::Duration, now: Instant) {
        if !self.ended {
            self.ended = true;
            let status = CloseStatus::new(codes::SOCKJS_GO_AWAY, "Go away!", ClosedBy::Nobody)
                .with_cause(format!("receiver-lost after {:.1} s", after.as_secs_f64()));
            self.endpoint.close(status, now);
        }
    }
}

/// One SockJS session.
pub(crate) struct SockSession {
    pub(crate) id: Arc<str>,
    pub(crate) outbox: Arc<SockOutbox>,
    pub(crate) inner: Mutex<Inner>,
}

impl SockSession {
    /// Moves what the broker queued into the SockJS session; ends the STOMP session when it
    /// asked to close.
    pub(crate) fn drain(&self, inner: &mut Inner, now: Instant) {
        let (items, slow) = self.outbox.take();
        for item in items {
            match item {
                Outbound::Close(status) => {
                    inner.sockjs.close(status.code, status.wire_reason());
                    self.end(inner, status, now);
                }
                other if !inner.ended => {
                    inner.held += other.wire_len();
                    inner.sockjs.push_message(to_text(&other));
                }
                _ => {}
            }
        }
        if let Some(status) = slow {
            // A slow consumer: what it has not taken is dropped, so the next receiver gets
            // c[4500,…] at once.
            inner.sockjs.discard_queued();
            inner.sockjs.close(status.code, status.wire_reason());
            self.end(inner, status, now);
        }
        self.settle(inner);
        // SockJS heartbeats are redundant while STOMP heart-beats flow (as in Spring).
        let stomp_beats = inner.endpoint.has_own_heartbeats();
        inner.sockjs.set_heartbeat_enabled(!stomp_beats);
    }

    /// Credits the outbox with the bytes that left the SockJS session's queue (handed to a
    /// receiver, or dropped).
    fn settle(&self, inner: &mut Inner) {
        if inner.held > 0 && inner.sockjs.pending_len() == 0 {
            self.outbox.written(std::mem::take(&mut inner.held));
        }
    }

    /// Ends the STOMP session (once) with `status`.
    pub(crate) fn end(&self, inner: &mut Inner, status: CloseStatus, now: Instant) {
        if !inner.ended {
            inner.ended = true;
            inner.endpoint.close(status, now);
            self.outbox.close();
        }
    }

    /// Takes the next frame for `receiver` (after moving queued broker output in).
    pub(crate) fn poll(&self, receiver: ReceiverId, now: Instant) -> Option<String> {
        let mut inner = self.inner.lock();
        self.drain(&mut inner, now);
        let frame = inner.sockjs.poll_frame(receiver, now);
        self.settle(&mut inner);
        if frame.is_some() {
            // Any frame, `h` included, is server traffic on the path (idle-time analytics).
            inner.endpoint.handle_sent(now);
        }
        frame
    }
}

/// All SockJS sessions of one endpoint.
pub(crate) struct Registry {
    sessions: Mutex<HashMap<Arc<str>, Arc<SockSession>>>,
    kind: Kind,
    config: SessionConfig,
    timers: mpsc::UnboundedSender<(Arc<str>, Instant)>,
    limits: Arc<SendLimits>,
}

/// Outboxes a session's input left above their high-water marks.
pub(crate) type Congested = Vec<Arc<dyn Outbox>>;

/// What a receiving request got when it asked for a session.
pub(crate) enum Attached {
    /// Receive on this session.
    Receiver(Arc<SockSession>, ReceiverId),
    /// Answer with this frame only (`c[2010,…]`, `c[3000,"Go away!"]`, `c[1002,…]`).
    Refused(String),
}

impl Registry {
    /// A registry and its timer task.
    pub(crate) fn start(
        kind: Kind,
        config: SessionConfig,
        limits: Arc<SendLimits>,
    ) -> Arc<Registry> {
        let (timers, rx) = mpsc::unbounded_channel();
        let registry = Arc::new(Registry {
            sessions: Mutex::new(HashMap::new()),
            kind,
            config,
            timers,
            limits,
        });
        tokio::spawn(drive_timers(Arc::downgrade(&registry), rx));
        registry
    }

    /// The session, if it exists.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<SockSession>> {
        self.sessions.lock().get(id).cloned()
    }

    /// Number of sessions held (open, or closed but still answering `Go away!`).
    pub(crate) fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Attaches a receiving request, creating the session on first use.
    /// `authorization`: the request's `Authorization` header, for a session it creates.
    pub(crate) fn attach(
        &self,
        id: &str,
        remote: SocketAddr,
        authorization: Option<String>,
    ) -> Attached {
        let now = now();
        let session = {
            let mut sessions = self.sessions.lock();
            match sessions.get(id) {
                Some(s) => s.clone(),
                None => {
                    let id: Arc<str> = Arc::from(id);
                    let outbox = Arc::new(SockOutbox::new(
                        self.limits.clone(),
                        id.clone(),
                        self.timers.downgrade(),
                    ));
                    let endpoint = self.kind.open(
                        Some(&*id),
                        authorization,
                        Transport::SockJs,
                        remote,
                        outbox.clone(),
                        now,
                    );
                    let session = Arc::new(SockSession {
                        id,
                        outbox,
                        inner: Mutex::new(Inner {
                            sockjs: sockjs::Session::new(self.config, now),
                            endpoint,
                            ended: false,
                            scheduled: None,
                            detached_at: None,
                            held: 0,
                        }),
                    });
                    sessions.insert(session.id.clone(), session.clone());
                    session
                }
            }
        };
        let attached = {
            let mut inner = session.inner.lock();
            session.drain(&mut inner, now);
            match inner.sockjs.attach(now) {
                Attach::Accepted(rid) => {
                    inner.detached_at = None;
                    Attached::Receiver(session.clone(), rid)
                }
                Attach::AnotherConnectionOpen => Attached::Refused(sockjs::close_frame(
                    codes::SOCKJS_ANOTHER_CONNECTION,
                    "Another connection still open",
                )),
                Attach::Closed { code, reason } => {
                    // Still open on the STOMP side: the receiver was interrupted and the client
                    // came back (SockJS answers c[1002,"Connection interrupted"]).
                    let status = CloseStatus::new(code, reason.clone(), ClosedBy::Nobody)
                        .with_cause("receiver interrupted");
                    session.end(&mut inner, status, now);
                    Attached::Refused(sockjs::close_frame(code, &reason))
                }
            }
        };
        self.reschedule(&session);
        attached
    }

    /// A receiving request ended.
    pub(crate) fn detach(&self, session: &Arc<SockSession>, receiver: ReceiverId, how: Detach) {
        {
            let mut inner = session.inner.lock();
            let now = now();
            inner.sockjs.detach(receiver, how, now);
            inner.detached_at = Some(now);
            session.settle(&mut inner);
        }
        self.reschedule(session);
    }

    /// Delivers `xhr_send`/`jsonp_send` messages to the STOMP session. Returns the outboxes
    /// they left congested: the caller waits until they have drained, then calls
    /// [`Registry::resume`] (the send request is answered only then — back-pressure).
    pub(crate) fn send(&self, session: &Arc<SockSession>, messages: &[String]) -> Congested {
        let now = now();
        let congested = {
            let mut inner = session.inner.lock();
            inner.endpoint.handle_activity(now);
            for m in messages {
                inner.endpoint.handle_data(m.as_bytes(), now);
            }
            session.drain(&mut inner, now);
            inner.endpoint.take_backpressure()
        };
        self.reschedule(session);
        congested
    }

    /// The outboxes [`Registry::send`] returned have drained: the session goes on with the
    /// input it buffered meanwhile (which may congest outboxes again).
    pub(crate) fn resume(&self, session: &Arc<SockSession>) -> Congested {
        let now = now();
        let congested = {
            let mut inner = session.inner.lock();
            inner.endpoint.resume(now);
            session.drain(&mut inner, now);
            inner.endpoint.take_backpressure()
        };
        self.reschedule(session);
        congested
    }

    /// Tells the timer task this session's next deadline, if it moved.
    pub(crate) fn reschedule(&self, session: &Arc<SockSession>) {
        let mut inner = session.inner.lock();
        let next = match (inner.sockjs.poll_timeout(), inner.endpoint.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next.is_some() && next != inner.scheduled {
            inner.scheduled = next;
            if let Some(at) = next {
                let _ = self.timers.send((session.id.clone(), at));
            }
        }
    }

    /// A deadline of `id` is due.
    fn handle_timeout(&self, id: &str) {
        let Some(session) = self.get(id) else { return };
        let now = now();
        let finished = {
            let mut inner = session.inner.lock();
            inner.scheduled = None;
            if inner.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                inner.endpoint.handle_timeout(now);
            }
            session.drain(&mut inner, now);
            let expired = inner.sockjs.handle_timeout(now);
            match expired {
                Some(sockjs::Expiry::Expired { after }) => {
                    // Forgotten at once, as sockjs-node does: a later request with this id
                    // starts a new session.
                    inner.end_receiver_lost(after, now);
                    true
                }
                Some(sockjs::Expiry::Finished) => {
                    // E.g. an interrupted receiver that never came back.
                    let after = inner
                        .detached_at
                        .map(|t| now.saturating_duration_since(t))
                        .unwrap_or_default();
                    inner.end_receiver_lost(after, now);
                    true
                }
                None => false,
            }
        };
        if finished {
            session.outbox.close();
            self.sessions.lock().remove(id);
        } else {
            session.outbox.notify.notify_one();
            self.reschedule(&session);
        }
    }

    /// Ends every session (server shutdown): the STOMP sessions get `status`.
    pub(crate) fn close_all(&self, code: u16, reason: &str) {
        let sessions: Vec<_> = self.sessions.lock().values().cloned().collect();
        let now = now();
        for session in sessions {
            let mut inner = session.inner.lock();
            // What the broker queued (receipts, messages) goes out before the close frame.
            session.drain(&mut inner, now);
            inner.sockjs.close(code, reason);
            session.end(
                &mut inner,
                CloseStatus::new(code, reason, ClosedBy::Server),
                now,
            );
            drop(inner);
            session.outbox.notify.notify_one();
        }
    }
}

/// The one timer task of a registry: a `DelayQueue` of session deadlines.
async fn drive_timers(
    registry: Weak<Registry>,
    mut updates: mpsc::UnboundedReceiver<(Arc<str>, Instant)>,
) {
    let mut queue: DelayQueue<Arc<str>> = DelayQueue::new();
    let mut keys: HashMap<Arc<str>, delay_queue::Key> = HashMap::new();
    loop {
        tokio::select! {
            update = updates.recv() => {
                let Some((id, at)) = update else { return };
                let at = tokio::time::Instant::from_std(at);
                match keys.get(&id) {
                    Some(key) => queue.reset_at(key, at),
                    None => {
                        let key = queue.insert_at(id.clone(), at);
                        keys.insert(id, key);
                    }
                }
            }
            Some(expired) = queue.next(), if !queue.is_empty() => {
                let id = expired.into_inner();
                keys.remove(&id);
                let Some(registry) = registry.upgrade() else { return };
                registry.handle_timeout(&id);
            }
        }
    }
}
