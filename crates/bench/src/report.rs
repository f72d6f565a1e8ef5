//! What a run found: serializable reports (`--json`) and their table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::plan::Generator;
use crate::procstat::{Probe, Sample, total};
use crate::proto::Counters;

/// A report of either scenario.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    Fanout(FanoutReport),
    Idle(IdleReport),
}

/// Publish-to-delivery latency, ms.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// From a µs histogram.
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// The server's side of a fan-out run: with several server processes (`--server-pid` or
/// `--metrics-url` given more than once, or several servers behind `--subscribe-url`) the
/// figures are their sums, and `nodes` has each.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    /// Where the figures were read (the first process's, when there are several).
    pub probe: Probe,
    /// CPU seconds the server used during the window.
    pub cpu_seconds: Option<f64>,
    pub deliveries_per_cpu_second: Option<f64>,
    /// RSS before the subscribers connected, and at the end of the window.
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
    /// Each server process, when there are several (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeFigures>,
}

/// One server process of several.
#[derive(Debug, Clone, Serialize)]
pub struct NodeFigures {
    pub probe: Probe,
    pub cpu_seconds: Option<f64>,
    pub rss_before_bytes: Option<u64>,
    pub rss_after_bytes: Option<u64>,
}

impl ServerFigures {
    /// From readings of every probe at the start, at the window's start and at its end.
    pub(crate) fn of(
        probes: &[Probe],
        at_start: &[Sample],
        before: &[Sample],
        after: &[Sample],
        deliveries: u64,
    ) -> ServerFigures {
        let cpu = |b: Sample, a: Sample| b.cpu_seconds.zip(a.cpu_seconds).map(|(b, a)| a - b);
        let cpu_seconds = cpu(total(before), total(after));
        let nodes = match probes.len() {
            0 | 1 => Vec::new(),
            _ => probes
                .iter()
                .enumerate()
                .map(|(i, probe)| {
                    let at = |s: &[Sample]| s.get(i).copied().unwrap_or_default();
                    NodeFigures {
                        probe: probe.clone(),
                        cpu_seconds: cpu(at(before), at(after)),
                        rss_before_bytes: at(at_start).rss_bytes,
                        rss_after_bytes: at(after).rss_bytes,
                    }
                })
                .collect(),
        };
        ServerFigures {
            probe: probes.first().cloned().unwrap_or(Probe::Pid(0)),
            cpu_seconds,
            deliveries_per_cpu_second: cpu_seconds
                .filter(|c| *c > 0.0)
                .map(|c| deliveries as f64 / c),
            rss_before_bytes: total(at_start).rss_bytes,
            rss_after_bytes: total(after).rss_bytes,
            nodes,
        }
    }
}

/// The deliveries to the subscribers of one `--subscribe-url`.
#[derive(Debug, Clone, Serialize)]
pub struct UrlLatency {
    pub url: String,
    pub subscribers: u64,
    /// Publish-to-delivery latency of the window's messages (`count`: their deliveries).
    pub latency_ms: Latency,
}

/// How the generator ran.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorInfo {
    pub workers: usize,
    pub worker_mode: &'static str,
    pub source_addrs: Vec<String>,
    pub nofile_limit: u64,
    pub notes: Vec<String>,
}

impl GeneratorInfo {
    pub(crate) fn of(g: &Generator, notes: Vec<String>) -> GeneratorInfo {
        GeneratorInfo {
            workers: g.workers,
            worker_mode: g.mode_name(),
            source_addrs: g.sources.iter().map(ToString::to_string).collect(),
            nofile_limit: g.nofile,
            notes,
        }
    }
}

/// A fan-out (or raw-floor) run.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub scenario: &'static str,
    pub url: String,
    pub subscribers: u64,
    pub publishers: u64,
    pub topics: u64,
    pub size: u64,
    /// Messages/s over all publishers; `None` = unthrottled.
    pub rate: Option<u64>,
    pub warmup_s: f64,
    pub window_s: f64,
    /// Messages published in the window.
    pub published: u64,
    /// Messages published in the whole run (warm-up and window).
    pub published_total: u64,
    /// Deliveries the window's messages should make (published × subscribers of their topic).
    pub expected: u64,
    /// Deliveries of the window's messages, whenever they arrived.
    pub delivered: u64,
    pub lost: u64,
    /// MESSAGE frames that arrived during the window.
    pub received_in_window: u64,
    pub deliveries_per_s: f64,
    pub latency_ms: Latency,
    /// With several `--subscribe-url`s: the latency per URL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latency_by_url: Vec<UrlLatency>,
    /// Subscribers the server closed during the run, by close code.
    pub dropped: u64,
    pub close_codes: BTreeMap<u16, u64>,
    pub server: ServerFigures,
    pub generator: GeneratorInfo,
}

/// Heart-beat timeliness.
#[derive(Debug, Clone, Serialize)]
pub struct HeartbeatFigures {
    pub requested_ms: u64,
    /// Negotiated: the server sends every this often; the client every that often.
    pub server_interval_ms: u64,
    pub client_interval_ms: u64,
    pub server_received: u64,
    /// Of the server's heart-beats, the share that came within 110% of the interval.
    pub server_on_time_fraction: Option<f64>,
    /// The longest server silence minus the interval.
    pub server_worst_late_ms: Option<f64>,
    /// Silences still open at the end that were already over 110% of the interval.
    pub server_missing: u64,
    pub client_sent: u64,
    /// Of our heart-beats, the share sent within 10% of the interval after their due time.
    pub client_on_time_fraction: Option<f64>,
    pub client_worst_late_ms: Option<f64>,
}

impl HeartbeatFigures {
    pub(crate) fn of(requested_ms: u64, c: &Counters) -> HeartbeatFigures {
        let fraction = |part: u64, all: u64| (all > 0).then(|| part as f64 / all as f64);
        HeartbeatFigures {
            requested_ms,
            server_interval_ms: c.hb_server_ms,
            client_interval_ms: c.hb_client_ms,
            server_received: c.hb_received,
            server_on_time_fraction: fraction(c.hb_on_time, c.hb_received + c.hb_missing),
            server_worst_late_ms: (c.hb_received + c.hb_missing > 0)
                .then(|| (c.hb_max_gap_us as f64 / 1000.0 - c.hb_server_ms as f64).max(0.0)),
            server_missing: c.hb_missing,
            client_sent: c.hb_sent,
            client_on_time_fraction: fraction(c.hb_sent_on_time, c.hb_sent),
            client_worst_late_ms: (c.hb_sent > 0).then(|| c.hb_sent_max_late_us as f64 / 1000.0),
        }
    }
}

/// An idle run.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub scenario: &'static str,
    pub url: String,
    pub sessions_requested: u64,
    pub connected: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub alive_at_end: u64,
    pub dropped: u64,
    pub close_codes: BTreeMap<u16, u64>,
    pub first_close: Option<String>,
    pub connect_seconds: f64,
    pub connect_rate: Option<f64>,
    pub hold_s: f64,
    pub rss_before_bytes: Option<u64>,
    pub rss_connected_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub rss_per_session_bytes: Option<u64>,
    pub heartbeat: HeartbeatFigures,
    pub server_probe: Probe,
    pub generator: GeneratorInfo,
}

/// Rows of `name  value`.
struct Table(Vec<(String, String)>);

impl Table {
    fn row(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_string(), value.into()));
    }

    fn render(&self) -> String {
        let width = self.0.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (n, v) in &self.0 {
            let _ = writeln!(out, "{n:<width$}  {v}");
        }
        out
    }
}

fn mib(b: Option<u64>) -> String {
    b.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}{unit}"))
}

fn int(v: f64) -> String {
    let s = format!("{:.0}", v);
    let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(ch);
    }
    format!("{sign}{out}")
}

fn codes(c: &BTreeMap<u16, u64>) -> String {
    c.iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn generator_rows(t: &mut Table, g: &GeneratorInfo) {
    t.row(
        "generator",
        format!(
            "{} worker {}, source addrs {}, open-files limit {}",
            g.workers,
            g.worker_mode,
            g.source_addrs.join(","),
            g.nofile_limit
        ),
    );
    for note in &g.notes {
        t.row("note", note.clone());
    }
}

impl Report {
    /// The table printed without `--json`.
    pub fn table(&self) -> String {
        let mut t = Table(Vec::new());
        match self {
            Report::Fanout(r) => {
                t.row("scenario", format!("{}  {}", r.scenario, r.url));
                t.row(
                    "load",
                    format!(
                        "{} subscribers, {} publishers, {} topics, {} B bodies, {}",
                        r.subscribers,
                        r.publishers,
                        r.topics,
                        r.size,
                        r.rate
                            .map_or("unthrottled".into(), |v| format!("{v} msg/s")),
                    ),
                );
                t.row(
                    "window",
                    format!("{:.1} s after {:.1} s warm-up", r.window_s, r.warmup_s),
                );
                t.row(
                    "published",
                    format!(
                        "{} in the window ({} in all)",
                        int(r.published as f64),
                        int(r.published_total as f64)
                    ),
                );
                t.row(
                    "delivered",
                    format!(
                        "{} of {} expected, lost {}",
                        int(r.delivered as f64),
                        int(r.expected as f64),
                        int(r.lost as f64)
                    ),
                );
                t.row("deliveries/s", int(r.deliveries_per_s));
                let l = &r.latency_ms;
                t.row(
                    "latency ms",
                    format!(
                        "p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} samples)",
                        l.p50, l.p99, l.p999, l.max, l.count
                    ),
                );
                for u in &r.latency_by_url {
                    let l = &u.latency_ms;
                    t.row(
                        &format!("  at {}", u.url),
                        format!(
                            "p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({} subscribers, {} samples)",
                            l.p50, l.p99, l.p999, l.max, u.subscribers, l.count
                        ),
                    );
                }
                let processes = match r.server.nodes.len() {
                    0 => String::new(),
                    n => format!(" (sum of {n} processes)"),
                };
                t.row(
                    "server CPU",
                    format!(
                        "{} in the window, {} deliveries per CPU-second{processes}",
                        opt(r.server.cpu_seconds, " s"),
                        r.server.deliveries_per_cpu_second.map_or("n/a".into(), int)
                    ),
                );
                t.row(
                    "server RSS",
                    format!(
                        "{} before, {} after",
                        mib(r.server.rss_before_bytes),
                        mib(r.server.rss_after_bytes)
                    ),
                );
                for n in &r.server.nodes {
                    let name = match &n.probe {
                        Probe::Pid(pid) => format!("  pid {pid}"),
                        Probe::Metrics(url) => format!("  {url}"),
                    };
                    t.row(
                        &name,
                        format!(
                            "CPU {}, RSS {} before, {} after",
                            opt(n.cpu_seconds, " s"),
                            mib(n.rss_before_bytes),
                            mib(n.rss_after_bytes)
                        ),
                    );
                }
                if r.dropped > 0 {
                    t.row(
                        "dropped",
                        format!("{} ({})", r.dropped, codes(&r.close_codes)),
                    );
                }
                generator_rows(&mut t, &r.generator);
            }
            Report::Idle(r) => {
                t.row("scenario", format!("idle  {}", r.url));
                t.row(
                    "sessions",
                    format!(
                        "{} requested, {} connected, {} failed, {} alive at the end",
                        r.sessions_requested, r.connected, r.failed, r.alive_at_end
                    ),
                );
                if let Some(e) = &r.first_error {
                    t.row("first failure", e.clone());
                }
                t.row(
                    "dropped",
                    if r.dropped == 0 {
                        "0".into()
                    } else {
                        format!(
                            "{} ({}) {}",
                            r.dropped,
                            codes(&r.close_codes),
                            r.first_close.clone().unwrap_or_default()
                        )
                    },
                );
                t.row(
                    "connect",
                    format!(
                        "{:.2} s, {} sessions/s",
                        r.connect_seconds,
                        r.connect_rate.map_or("n/a".into(), int)
                    ),
                );
                t.row("hold", format!("{:.0} s", r.hold_s));
                t.row(
                    "server RSS",
                    format!(
                        "{} before, {} connected, {} at the end, {} per session",
                        mib(r.rss_before_bytes),
                        mib(r.rss_connected_bytes),
                        mib(r.rss_end_bytes),
                        r.rss_per_session_bytes
                            .map_or("n/a".into(), |b| format!("{} B", int(b as f64)))
                    ),
                );
                let h = &r.heartbeat;
                t.row(
                    "heart-beats",
                    format!(
                        "asked {} ms; negotiated server every {} ms, client every {} ms",
                        h.requested_ms, h.server_interval_ms, h.client_interval_ms
                    ),
                );
                t.row("  server's", format!(
                    "{} received, {} within 110% of the interval, worst {} late, {} missing at the end",
                    h.server_received,
                    h.server_on_time_fraction.map_or("n/a".into(), |f| format!("{:.2}%", f * 100.0)),
                    opt(h.server_worst_late_ms, " ms"),
                    h.server_missing
                ));
                t.row(
                    "  client's",
                    format!(
                        "{} sent, {} within 10% of due, worst {} late",
                        h.client_sent,
                        h.client_on_time_fraction
                            .map_or("n/a".into(), |f| format!("{:.2}%", f * 100.0)),
                        opt(h.client_worst_late_ms, " ms")
                    ),
                );
                generator_rows(&mut t, &r.generator);
            }
        }
        t.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_numbers_get_thousands_separators() {
        assert_eq!(int(1_234_567.4), "1 234 567");
        assert_eq!(int(999.0), "999");
        assert_eq!(int(-1000.0), "-1 000");
    }
}
