//! Limits on one session and on the number of sessions (issue 7), kept out of the session's
//! main flow: the inbound frame rate (`max_inbound_rate`, `inbound_burst`) and the refusal of a
//! session opened while `max_sessions` are open.
//!
//! The rate is a token bucket in its GCRA form ("generic cell rate algorithm", ITU-T I.371): one
//! timestamp per session, advanced by one emission interval (1 s / rate) per frame, driven only by
//! the `now` the transport passes in — deterministic, no clock read here. Heart-beat EOLs are not
//! frames and do not count.

use std::time::{Duration, Instant};

use stompbox_closecode::codes;

use super::Session;
use crate::{Broker, BrokerError, ClosedBy, Transport};

/// The reason of the 1013 close a refused session gets (the IANA name: SockJS clients show it
/// as `c[1013,"Try Again Later"]`).
const TRY_AGAIN_LATER: &str = "Try Again Later";

/// One session's inbound rate state.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InboundRate {
    /// When the bucket would be full again if no more frames came ("theoretical arrival
    /// time"); `None` before the first frame.
    tat: Option<Instant>,
}

impl InboundRate {
    /// Whether one more frame at `now` keeps within `rate` frames per second with at most
    /// `burst` (0: `rate`) at once. Always true when `rate` is 0.
    pub(crate) fn admit(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let interval = Duration::from_secs(1) / rate;
        let depth = interval * effective_burst(rate, burst);
        let next = self.tat.map_or(now, |t| t.max(now)) + interval;
        if next.saturating_duration_since(now) > depth {
            return false;
        }
        self.tat = Some(next);
        true
    }
}

/// The burst a setting of 0 stands for: one second's worth.
fn effective_burst(rate: u32, burst: u32) -> u32 {
    if burst == 0 { rate } else { burst }
}

impl Session {
    /// Counts a received frame against `max_inbound_rate`. Over it: an ERROR frame naming the
    /// limit, then close 1008, and `false` (the frame is not handled).
    pub(super) fn admit_frame(&mut self, now: Instant) -> bool {
        let config = self.broker.config();
        let (rate, burst) = (config.max_inbound_rate, config.inbound_burst);
        if self.rate.admit(now, rate, burst) {
            return true;
        }
        let burst = effective_burst(rate, burst);
        tracing::warn!(
            target: "stompbox::session",
            sessionId = %self.id,
            remote = ?self.remote,
            "inbound rate limit exceeded: more than {rate} frames/s (burst {burst}); closing with 1008"
        );
        self.fail(&BrokerError::InboundRateExceeded { rate, burst }, None);
        false
    }

    /// Closes a session opened while `max` sessions were open: 1013 "Try Again Later", after
    /// an ERROR frame where the transport has no close code (TCP, in-memory).
    fn refuse_over_capacity(&mut self, max: usize) {
        tracing::warn!(
            target: "stompbox::session",
            sessionId = %self.id,
            transport = %self.transport,
            remote = ?self.remote,
            "refused: {max} sessions are open (limits.max_connections); closing with 1013 {TRY_AGAIN_LATER}"
        );
        match self.transport {
            Transport::Tcp | Transport::InMemory => {
                self.fail(&BrokerError::TooManySessions(max), None);
            }
            _ => self.close_with(
                codes::TRY_AGAIN_LATER,
                TRY_AGAIN_LATER.to_string(),
                ClosedBy::Server,
            ),
        }
    }
}

impl Broker {
    /// Sessions open now, on every transport, connected or not. Two atomic loads and no lock:
    /// cheap enough for every connection attempt.
    pub fn sessions_open(&self) -> u64 {
        self.inner.stats.open_now()
    }

    /// A session just opened, refused if it is one over `max_sessions`. It counts itself, so
    /// concurrent openings never leave more than `max_sessions` open (at worst both are
    /// refused).
    pub(crate) fn admit(&self, mut session: Session) -> Session {
        let max = self.inner.config.max_sessions;
        if max > 0 && self.inner.stats.open_now() > max as u64 {
            self.inner.stats.refused();
            session.refuse_over_capacity(max);
        }
        session
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use bytes::BytesMut;
    use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};

    use super::*;
    use crate::{BrokerConfig, CloseStatus, MemoryOutbox, Outbound, SessionOptions};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = InboundRate::default();
        // 10/s, burst 3: three at once, the fourth waits 100 ms.
        assert!((0..3).all(|_| r.admit(t0, 10, 3)));
        assert!(!r.admit(t0, 10, 3));
        assert!(!r.admit(t0 + ms(99), 10, 3));
        assert!(r.admit(t0 + ms(100), 10, 3));
        assert!(!r.admit(t0 + ms(100), 10, 3));
        // Steady at the rate: never refused.
        let mut t = t0 + ms(200);
        for _ in 0..100 {
            assert!(r.admit(t, 10, 3));
            t += ms(100);
        }
        // Idle refills the bucket, never beyond its depth.
        let later = t + Duration::from_secs(60);
        assert!((0..3).all(|_| r.admit(later, 10, 3)));
        assert!(!r.admit(later, 10, 3));
    }

    #[test]
    fn rate_zero_is_no_limit_and_burst_zero_is_one_second() {
        let t0 = Instant::now();
        let mut r = InboundRate::default();
        assert!((0..100_000).all(|_| r.admit(t0, 0, 0)));
        let mut r = InboundRate::default();
        assert!((0..50).all(|_| r.admit(t0, 50, 0)));
        assert!(!r.admit(t0, 50, 0));
    }

    /// What a session sent: frames decoded, and the close status.
    fn sent(outbox: &MemoryOutbox) -> (Vec<Frame>, Option<CloseStatus>) {
        let mut frames = Vec::new();
        let mut close = None;
        for item in outbox.take() {
            match item {
                Outbound::Close(s) => close = Some(s),
                Outbound::HeartBeat => {}
                other => {
                    let mut buf = BytesMut::from(&other.to_contiguous().unwrap()[..]);
                    match Decoder::new(Limits::default()).decode(&mut buf).unwrap() {
                        Some(Item::Frame(f)) => frames.push(f),
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
        (frames, close)
    }

    fn open(broker: &Broker, transport: Transport, now: Instant) -> (Session, MemoryOutbox) {
        let outbox = MemoryOutbox::new();
        let options = SessionOptions::new(transport, None);
        let session = broker.open_session(options, Arc::new(outbox.clone()), now);
        (session, outbox)
    }

    #[test]
    fn frames_over_the_rate_get_an_error_naming_it_then_1008() {
        let broker = Broker::new(BrokerConfig {
            max_inbound_rate: 5,
            inbound_burst: 2,
            ..BrokerConfig::default()
        });
        let t0 = Instant::now();
        let (mut s, outbox) = open(&broker, Transport::WebSocket, t0);
        s.handle_data(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0", t0);
        s.handle_data(b"SEND\ndestination:/topic/a\n\nx\0", t0);
        let (frames, close) = sent(&outbox);
        assert_eq!(frames[0].command, Command::Connected);
        assert_eq!(close, None);
        // 200 ms later one more is due; two at once are one too many.
        let t1 = t0 + ms(200);
        s.handle_data(b"SEND\ndestination:/topic/a\n\nx\0\n", t1);
        assert_eq!(sent(&outbox).1, None);
        s.handle_data(b"SEND\ndestination:/topic/a\n\nx\0", t1);
        let (frames, close) = sent(&outbox);
        let error = &frames[0];
        assert_eq!(error.command, Command::Error);
        assert_eq!(
            error.header("message"),
            Some("inbound rate limit exceeded: more than 5 frames/s (burst 2)")
        );
        let close = close.unwrap();
        assert_eq!((close.code, close.closed_by), (1008, ClosedBy::Server));
        // Input after the refusal is ignored.
        s.handle_data(b"SEND\ndestination:/topic/a\n\nx\0", t1 + ms(999));
        assert_eq!(sent(&outbox), (Vec::new(), None));
    }

    #[test]
    fn sessions_over_the_limit_are_closed_with_1013() {
        let broker = Broker::new(BrokerConfig {
            max_sessions: 2,
            ..BrokerConfig::default()
        });
        let t0 = Instant::now();
        let (mut a, a_out) = open(&broker, Transport::WebSocket, t0);
        let (_b, b_out) = open(&broker, Transport::SockJs, t0);
        assert_eq!(broker.sessions_open(), 2);
        assert_eq!(sent(&a_out), (Vec::new(), None));
        assert_eq!(sent(&b_out), (Vec::new(), None));
        // A WebSocket or SockJS session over the limit: the close code says it.
        for transport in [Transport::WebSocket, Transport::SockJs] {
            let (mut c, c_out) = open(&broker, transport, t0);
            let (frames, close) = sent(&c_out);
            assert!(frames.is_empty(), "{frames:?}");
            let close = close.unwrap();
            assert_eq!(
                (close.code, close.reason.as_str(), close.closed_by),
                (1013, "Try Again Later", ClosedBy::Server)
            );
            c.close(close, t0);
        }
        // TCP has no close code: an ERROR frame says which limit.
        let (mut d, d_out) = open(&broker, Transport::Tcp, t0);
        let (frames, close) = sent(&d_out);
        assert_eq!(frames[0].command, Command::Error);
        assert!(
            frames[0]
                .header("message")
                .unwrap()
                .contains("at most 2 sessions"),
            "{frames:?}"
        );
        assert_eq!(close.as_ref().map(|c| c.code), Some(1013));
        d.close(close.unwrap(), t0);
        assert_eq!(broker.stats().sessions_refused, 3);
        assert_eq!(broker.sessions_open(), 2);
        // Room again once one has gone.
        a.close(CloseStatus::new(1000, "bye", ClosedBy::Client), t0);
        let (_e, e_out) = open(&broker, Transport::WebSocket, t0);
        assert_eq!(sent(&e_out), (Vec::new(), None));
    }
}
