//! What the main process and its workers say to each other: one JSON object a line, the spec
//! and commands on the worker's stdin, events on its stdout.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::stomp::ConnectParams;
use crate::target::Target;

/// A worker's share of the run (its first stdin line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerSpec {
    /// Which worker this is (0-based).
    pub(crate) index: usize,
    /// The endpoints: connection `k` goes to `targets[target_of(k)]`.
    pub(crate) targets: Vec<Target>,
    /// CONNECT headers.
    pub(crate) connect: ConnectParams,
    /// Global index of this worker's first connection: connection `k` binds to
    /// `sources[k % len]` and subscribes to `topics[k % len]`.
    pub(crate) first: usize,
    /// How many connections.
    pub(crate) count: usize,
    /// Source addresses, round-robin by global connection index.
    pub(crate) sources: Vec<IpAddr>,
    /// Topics to subscribe to; empty for idle sessions (CONNECT only).
    pub(crate) topics: Vec<String>,
    /// Connections being set up at once.
    pub(crate) concurrency: usize,
}

impl WorkerSpec {
    /// Which of the targets global connection `k` goes to: `(k / topics) mod targets`, so that
    /// consecutive subscribers of one topic (`k mod topics`) go to different targets and every
    /// topic has subscribers on each target once there are enough of them.
    pub(crate) fn target_of(&self, k: usize) -> usize {
        target_of(k, self.topics.len(), self.targets.len())
    }
}

/// [`WorkerSpec::target_of`] for `topics` topics and `targets` targets.
pub(crate) fn target_of(k: usize, topics: usize, targets: usize) -> usize {
    (k / topics.max(1)) % targets.max(1)
}

/// A command from the main process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub(crate) enum Command {
    /// The measured window: messages published in `[t0, t1)` (UNIX ns) count; answered with
    /// [`Event::WindowSet`].
    Window {
        /// Start, ns since the UNIX epoch.
        t0: u64,
        /// End, ns since the UNIX epoch.
        t1: u64,
    },
    /// Close every connection, send the [`Event::Report`] and exit.
    Finish,
}

/// Something a worker tells the main process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// Counters so far (sent every 100 ms).
    Progress(Counters),
    /// Every connection is set up (or failed).
    Ready {
        /// Counters then.
        counters: Counters,
        /// The first set-up failure, if any.
        first_error: Option<String>,
    },
    /// The window is set.
    WindowSet,
    /// Something that ends the run (an ERROR frame, a failed subscription).
    Fatal {
        /// What happened.
        message: String,
    },
    /// The final report, after [`Command::Finish`].
    Report(Box<WorkerReport>),
}

/// A worker's counters; they add up across workers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Counters {
    /// Connections fully set up (CONNECTED, and RECEIPT of the SUBSCRIBE).
    pub(crate) connected: u64,
    /// Connections that could not be set up.
    pub(crate) failed: u64,
    /// Set-up attempts that failed and were tried again (each connection is tried up to 3
    /// times before it counts as failed).
    #[serde(default)]
    pub(crate) retried: u64,
    /// Set-up connections that ended before the end of the run.
    pub(crate) dropped: u64,
    /// MESSAGE frames received.
    pub(crate) messages: u64,
    /// MESSAGE frames received within the window (by receive time).
    pub(crate) received_in_window: u64,
    /// MESSAGE frames published within the window (by their timestamp), received any time.
    pub(crate) of_window: u64,
    /// Server heart-beats received.
    pub(crate) hb_received: u64,
    /// … of which arrived within 110% of the interval after the previous server traffic.
    pub(crate) hb_on_time: u64,
    /// Server silences longer than 110% of the interval still open at the end of the run.
    pub(crate) hb_missing: u64,
    /// The longest silence before a server heart-beat (or still open at the end), µs.
    pub(crate) hb_max_gap_us: u64,
    /// The server's heart-beat interval as negotiated (largest seen), ms.
    pub(crate) hb_server_ms: u64,
    /// Heart-beats sent by the client.
    pub(crate) hb_sent: u64,
    /// … of which were sent within 10% of their interval after their due time.
    pub(crate) hb_sent_on_time: u64,
    /// The latest client heart-beat, µs after its due time.
    pub(crate) hb_sent_max_late_us: u64,
    /// The client's heart-beat interval as negotiated (largest seen), ms.
    pub(crate) hb_client_ms: u64,
    /// When the first connection attempt started (UNIX ns; 0 = none).
    pub(crate) connect_first_ns: u64,
    /// When the last connection finished its set-up (UNIX ns).
    pub(crate) connect_last_ns: u64,
}

impl Counters {
    /// Says how many set-up attempts had to be retried, if any.
    pub(crate) fn retry_note(&self) -> Option<String> {
        (self.retried > 0).then(|| {
            format!(
                "{} set-up attempts failed (refused, reset or timed out) and were retried; {} connections set up, {} gave up after 3 attempts",
                self.retried, self.connected, self.failed
            )
        })
    }

    /// Adds another worker's counters.
    pub(crate) fn add(&mut self, o: &Counters) {
        self.connected += o.connected;
        self.failed += o.failed;
        self.retried += o.retried;
        self.dropped += o.dropped;
        self.messages += o.messages;
        self.received_in_window += o.received_in_window;
        self.of_window += o.of_window;
        self.hb_received += o.hb_received;
        self.hb_on_time += o.hb_on_time;
        self.hb_missing += o.hb_missing;
        self.hb_max_gap_us = self.hb_max_gap_us.max(o.hb_max_gap_us);
        self.hb_server_ms = self.hb_server_ms.max(o.hb_server_ms);
        self.hb_sent += o.hb_sent;
        self.hb_sent_on_time += o.hb_sent_on_time;
        self.hb_sent_max_late_us = self.hb_sent_max_late_us.max(o.hb_sent_max_late_us);
        self.hb_client_ms = self.hb_client_ms.max(o.hb_client_ms);
        self.connect_first_ns = match (self.connect_first_ns, o.connect_first_ns) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        self.connect_last_ns = self.connect_last_ns.max(o.connect_last_ns);
    }

    /// The sum of many.
    pub(crate) fn sum<'a>(all: impl IntoIterator<Item = &'a Counters>) -> Counters {
        let mut total = Counters::default();
        for c in all {
            total.add(c);
        }
        total
    }
}

/// A worker's final report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct WorkerReport {
    /// Final counters.
    pub(crate) counters: Counters,
    /// Close codes of dropped connections and how many (1006 = ended without a Close
    /// frame). A list, since JSON object keys are strings.
    pub(crate) close_codes: Vec<(u16, u64)>,
    /// The first set-up failure, if any.
    pub(crate) first_error: Option<String>,
    /// The first close reason seen, if any.
    pub(crate) first_close: Option<String>,
    /// Latencies of the window's messages (µs), hdrhistogram V2, base64: one per target of
    /// the spec.
    pub(crate) latency_us: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_survive_json_lines() {
        let report = WorkerReport {
            close_codes: vec![(4408, 11), (1006, 1)],
            first_close: Some("heart-beat timeout".into()),
            ..WorkerReport::default()
        };
        let line = serde_json::to_string(&Event::Report(Box::new(report))).unwrap();
        let Event::Report(back) = serde_json::from_str(&line).unwrap() else {
            panic!("{line}")
        };
        assert_eq!(back.close_codes, [(4408, 11), (1006, 1)]);
        let ready = Event::Ready {
            counters: Counters {
                connected: 3,
                ..Counters::default()
            },
            first_error: None,
        };
        let line = serde_json::to_string(&ready).unwrap();
        assert!(matches!(
            serde_json::from_str(&line).unwrap(),
            Event::Ready { counters, .. } if counters.connected == 3
        ));
        let line = serde_json::to_string(&Command::Window { t0: 1, t1: 2 }).unwrap();
        assert!(matches!(
            serde_json::from_str(&line).unwrap(),
            Command::Window { t0: 1, t1: 2 }
        ));
    }
}
