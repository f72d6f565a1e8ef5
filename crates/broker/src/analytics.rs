//! Close analytics: counts of abnormal closes by how long the server had been silent, and the
//! detection of an idle timeout somewhere on the path — several sessions dying without a Close
//! frame after the same server silence is the signature of a proxy's `proxy_read_timeout` (the
//! seed's 1006). No I/O and no clock: times come in with each observation.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{ClosedBy, EventKind, SessionEvent};

/// Upper bounds (seconds) of the idle-time histogram buckets; the last bucket is +Inf.
pub const IDLE_BUCKETS: [f64; 15] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];

/// Abnormal closes (nobody closed: 1006, or a lost SockJS receiver) this close to each other
/// count as one idle time: 5 % or 0.75 s, whichever is larger.
fn tolerance(idle: f64) -> f64 {
    (idle * 0.05).max(0.75)
}

/// Shorter server silences are not taken for idle timeouts.
const MIN_IDLE_TIMEOUT_SECS: f64 = 1.0;

/// The matching closes must be spread over at least this much wall time.
const MIN_SPREAD: Duration = Duration::from_millis(500);

/// How many abnormal closes after the same idle time make a finding.
pub const DETECTION_THRESHOLD: usize = 3;

/// Only closes from the last 10 minutes are compared, and one idle time is reported at most once
/// in 10 minutes.
const WINDOW: Duration = Duration::from_secs(600);

/// A likely idle timeout between clients and the server.
#[derive(Debug, Clone, PartialEq)]
pub struct IdleTimeoutFinding {
    /// How many abnormal closes in the window share this idle time.
    pub sessions: usize,
    /// Their mean server idle time.
    pub idle: Duration,
}

impl IdleTimeoutFinding {
    /// The heartbeat to stay under: half the timeout, in whole seconds, at least 1 s.
    pub fn advice(&self) -> Duration {
        Duration::from_secs_f64((self.idle.as_secs_f64().round() / 2.0).floor().max(1.0))
    }

    /// The warning the server logs; `heartbeat` is the server's heartbeat interval (SockJS `h`
    /// or STOMP), if it sends one.
    pub fn message(&self, heartbeat: Option<Duration>) -> String {
        let secs = self.idle.as_secs_f64();
        let advice = self.advice().as_secs_f64();
        let heartbeat = match heartbeat {
            Some(h) => format!("the server heartbeat is {:.0} s", h.as_secs_f64()),
            None => "the server sends no heartbeat".to_string(),
        };
        let nginx = if (secs - 60.0).abs() <= tolerance(60.0) {
            " (nginx proxy_read_timeout defaults to 60 s)"
        } else {
            ""
        };
        format!(
            "{} sessions closed abnormally after {secs:.1} s without server traffic: an idle timeout of \
             about {secs:.0} s lies between clients and this server{nginx}; {heartbeat} — set it below \
             {advice:.0} s (or raise that timeout; `stompbox probe URL` measures it from the client side)",
            self.sessions
        )
    }
}

/// Abnormal-close statistics.
#[derive(Debug, Default)]
pub struct CloseAnalytics {
    /// Counts per [`IDLE_BUCKETS`] bucket (+1 for +Inf) of server idle time at abnormal closes.
    buckets: [u64; IDLE_BUCKETS.len() + 1],
    sum_secs: f64,
    count: u64,
    recent: VecDeque<(Instant, f64)>,
    reported: VecDeque<(Instant, f64)>,
    findings: Vec<IdleTimeoutFinding>,
}

impl CloseAnalytics {
    /// An empty record.
    pub fn new() -> CloseAnalytics {
        CloseAnalytics::default()
    }

    /// Takes one event; returns a finding the first time a shared idle time reaches the threshold.
    pub fn observe(&mut self, event: &SessionEvent, now: Instant) -> Option<IdleTimeoutFinding> {
        let EventKind::Disconnect {
            status,
            server_idle,
            ..
        } = &event.kind
        else {
            return None;
        };
        if status.closed_by != ClosedBy::Nobody {
            return None;
        }
        let idle = server_idle.as_secs_f64();
        let bucket = IDLE_BUCKETS
            .iter()
            .position(|&b| idle <= b)
            .unwrap_or(IDLE_BUCKETS.len());
        self.buckets[bucket] += 1;
        self.sum_secs += idle;
        self.count += 1;

        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.recent.pop_front();
        }
        while self
            .reported
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
        {
            self.reported.pop_front();
        }
        if idle < MIN_IDLE_TIMEOUT_SECS {
            // Sockets that die almost at once (killed clients, crashes) say nothing about idle
            // timeouts.
            return None;
        }
        self.recent.push_back((now, idle));
        let matching: Vec<(Instant, f64)> = self
            .recent
            .iter()
            .copied()
            .filter(|(_, i)| (i - idle).abs() <= tolerance(idle))
            .collect();
        if matching.len() < DETECTION_THRESHOLD {
            return None;
        }
        // Connections that all die at one instant (a client process or a network link going
        // away) share their idle time by accident; an idle timeout cuts them at different times.
        let first = matching.iter().map(|(t, _)| *t).min();
        let last = matching.iter().map(|(t, _)| *t).max();
        if let (Some(first), Some(last)) = (first, last) {
            if last.saturating_duration_since(first) < MIN_SPREAD {
                return None;
            }
        }
        let near: Vec<f64> = matching.iter().map(|(_, i)| *i).collect();
        let mean = near.iter().sum::<f64>() / near.len() as f64;
        if self
            .reported
            .iter()
            .any(|(_, r)| (r - mean).abs() <= tolerance(mean))
        {
            return None;
        }
        self.reported.push_back((now, mean));
        let finding = IdleTimeoutFinding {
            sessions: near.len(),
            idle: Duration::from_secs_f64(mean),
        };
        self.findings.push(finding.clone());
        Some(finding)
    }

    /// Cumulative histogram `(upper bound in s, count)`, `f64::INFINITY` last, plus sum and count.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut cumulative = 0;
        let mut out = Vec::with_capacity(self.buckets.len());
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n;
            let bound = IDLE_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            out.push((bound, cumulative));
        }
        (out, self.sum_secs, self.count)
    }

    /// Every finding so far, oldest first.
    pub fn findings(&self) -> &[IdleTimeoutFinding] {
        &self.findings
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use super::*;
    use crate::{CloseStatus, Transport};

    fn close(code: u16, by: ClosedBy, idle_ms: u64) -> SessionEvent {
        SessionEvent {
            session_id: Arc::from("s"),
            user: None,
            transport: Transport::SockJs,
            remote: None,
            time: SystemTime::UNIX_EPOCH,
            kind: EventKind::Disconnect {
                duration: Duration::from_millis(idle_ms),
                server_idle: Duration::from_millis(idle_ms),
                client_idle: Duration::from_millis(idle_ms),
                status: CloseStatus::new(code, "", by),
            },
        }
    }

    #[test]
    fn three_abnormal_closes_after_the_same_silence_name_an_idle_timeout_once() {
        let mut a = CloseAnalytics::new();
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        assert_eq!(a.observe(&close(1006, ClosedBy::Nobody, 60_020), t0), None);
        assert_eq!(
            a.observe(&close(1006, ClosedBy::Nobody, 12_000), t0 + s),
            None
        );
        assert_eq!(
            a.observe(&close(1006, ClosedBy::Nobody, 59_800), t0 + 2 * s),
            None
        );
        let f = a
            .observe(&close(1006, ClosedBy::Nobody, 60_100), t0 + 3 * s)
            .expect("a finding");
        assert_eq!(f.sessions, 3);
        assert!((f.idle.as_secs_f64() - 59.97).abs() < 0.01);
        let text = f.message(Some(Duration::from_secs(65)));
        assert!(
            text.starts_with("3 sessions closed abnormally after 60.0 s without server traffic"),
            "{text}"
        );
        assert!(
            text.contains("nginx proxy_read_timeout defaults to 60 s"),
            "{text}"
        );
        assert!(
            text.contains("the server heartbeat is 65 s — set it below 30 s"),
            "{text}"
        );
        assert_eq!(
            a.observe(&close(1006, ClosedBy::Nobody, 60_000), t0),
            None,
            "reported once"
        );
        assert_eq!(a.findings().len(), 1);
    }

    #[test]
    fn clean_closes_do_not_count_and_the_histogram_is_cumulative() {
        let mut a = CloseAnalytics::new();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(a.observe(&close(1000, ClosedBy::Client, 10_000), t0), None);
        }
        a.observe(&close(1006, ClosedBy::Nobody, 10_000), t0);
        a.observe(&close(3000, ClosedBy::Nobody, 700_000), t0);
        let (buckets, sum, count) = a.histogram();
        assert_eq!(count, 2);
        assert!((sum - 710.0).abs() < 1e-6);
        assert_eq!(
            buckets.iter().find(|(b, _)| *b == 10.0).map(|x| x.1),
            Some(1)
        );
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 2)));
    }

    #[test]
    fn closes_at_one_instant_are_not_an_idle_timeout() {
        let mut a = CloseAnalytics::new();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(a.observe(&close(1006, ClosedBy::Nobody, 5_000), t0), None);
        }
    }

    #[test]
    fn old_closes_fall_out_of_the_window() {
        let mut a = CloseAnalytics::new();
        let t0 = Instant::now();
        a.observe(&close(1006, ClosedBy::Nobody, 10_000), t0);
        a.observe(&close(1006, ClosedBy::Nobody, 10_000), t0);
        let later = t0 + Duration::from_secs(601);
        assert_eq!(
            a.observe(&close(1006, ClosedBy::Nobody, 10_000), later),
            None
        );
    }
}
