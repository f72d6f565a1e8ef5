//! The soak report: the figures, what failed (one sentence each), JSON and a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::args::SoakArgs;
use crate::procstat::Probe;
use crate::soak_check::Accounting;
use crate::soak_plan::{Counts, End, Tally};

const MIB: f64 = 1024.0 * 1024.0;

/// The server's registry after the run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Registry {
    /// `stompbox_sessions_open`.
    pub(crate) sessions_open: Option<u64>,
    /// Entries of `/api/sessions`.
    pub(crate) api_sessions: Option<u64>,
    pub(crate) subscriptions: Option<u64>,
    pub(crate) topics: Option<u64>,
    pub(crate) queues: Option<u64>,
    pub(crate) queue_pending_messages: Option<u64>,
    pub(crate) unacked_messages: Option<u64>,
    /// Growth of `stompbox_sessions_opened_total` during the run.
    pub(crate) sessions_opened: Option<u64>,
}

impl Registry {
    fn failures(&self, close_lines: u64) -> Vec<String> {
        let mut f = Vec::new();
        for (value, what) in [
            (self.sessions_open, "sessions open (stompbox_sessions_open)"),
            (self.api_sessions, "sessions in /api/sessions"),
            (self.subscriptions, "subscriptions (stompbox_subscriptions)"),
            (self.topics, "topics (stompbox_topics)"),
            (self.queues, "queues (stompbox_queues)"),
            (self.queue_pending_messages, "pending queue messages"),
            (self.unacked_messages, "unacknowledged messages"),
        ] {
            match value {
                Some(0) => {}
                Some(n) => f.push(format!("{n} {what} left on the server after the run")),
                None => f.push(format!("could not read the server's {what}")),
            }
        }
        match self.sessions_opened {
            Some(n) if n == close_lines => {}
            Some(n) => f.push(format!(
                "the server opened {n} sessions during the run but logged {close_lines} closes"
            )),
            None => f.push("could not read stompbox_sessions_opened_total".into()),
        }
        f
    }
}

/// The server's resident memory.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Memory {
    /// After the warm-up round, once every session had closed.
    pub(crate) baseline_bytes: Option<u64>,
    /// The highest reading during the soak (every 0.5 s).
    pub(crate) peak_bytes: u64,
    /// After the run, once every session had closed.
    pub(crate) end_bytes: Option<u64>,
    /// End minus baseline.
    pub(crate) growth_bytes: Option<i64>,
    /// The growth allowed: the larger of `--rss-tolerance` % of the baseline and
    /// `--rss-slack-mib`.
    pub(crate) allowed_growth_bytes: Option<u64>,
}

impl Memory {
    pub(crate) fn of(
        baseline: Option<u64>,
        peak: u64,
        end: Option<u64>,
        tolerance_pct: f64,
        slack_mib: u64,
    ) -> Memory {
        let allowed = baseline
            .map(|b| ((b as f64 * tolerance_pct / 100.0) as u64).max(slack_mib * 1024 * 1024));
        Memory {
            baseline_bytes: baseline,
            peak_bytes: peak,
            end_bytes: end,
            growth_bytes: baseline.zip(end).map(|(b, e)| e as i64 - b as i64),
            allowed_growth_bytes: allowed,
        }
    }

    fn failures(&self) -> Vec<String> {
        match (self.growth_bytes, self.allowed_growth_bytes, self.end_bytes) {
            (Some(g), Some(allowed), Some(end)) if g > allowed as i64 => vec![format!(
                "server RSS after the run ({:.1} MiB) is {:.1} MiB above the baseline (allowed {:.1} MiB)",
                end as f64 / MIB,
                g as f64 / MIB,
                allowed as f64 / MIB
            )],
            (Some(_), Some(_), _) => Vec::new(),
            _ => vec!["could not read the server's RSS".into()],
        }
    }
}

/// Receipted queue messages against deliveries.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Queues {
    /// Queue SENDs whose receipt arrived.
    pub(crate) receipted: u64,
    /// Distinct queue messages received (during the run and by the drainers).
    pub(crate) delivered: u64,
    /// MESSAGE frames of queues received, repeats included.
    pub(crate) deliveries: u64,
    /// Receipted messages never delivered.
    pub(crate) lost: u64,
    /// A few lost ones, as `session*64+send`.
    pub(crate) lost_examples: Vec<u64>,
}

impl Queues {
    fn of(t: &Tally) -> Queues {
        let mut lost: Vec<u64> = t
            .accepted
            .iter()
            .filter(|k| !t.delivered.contains_key(k))
            .copied()
            .collect();
        lost.sort_unstable();
        Queues {
            receipted: t.accepted.len() as u64,
            delivered: t.delivered.len() as u64,
            deliveries: t.delivered.values().map(|&n| u64::from(n)).sum(),
            lost: lost.len() as u64,
            lost_examples: lost.into_iter().take(5).collect(),
        }
    }
}

/// A soak run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SoakReport {
    pub(crate) scenario: &'static str,
    pub(crate) url: String,
    pub(crate) tcp: Option<String>,
    pub(crate) seed: u64,
    /// Sessions open at once.
    pub(crate) concurrency: usize,
    pub(crate) warmup_s: f64,
    pub(crate) duration_s: f64,
    /// The soak round as it ran (its last sessions finishing included).
    pub(crate) soak_seconds: f64,
    pub(crate) total_seconds: f64,
    /// Every session, warm-up and drainers included.
    pub(crate) sessions_total: u64,
    pub(crate) sessions_warmup: u64,
    pub(crate) by_transport: BTreeMap<String, u64>,
    pub(crate) by_ending: BTreeMap<String, u64>,
    /// How sessions really ended (client's view).
    pub(crate) by_end: BTreeMap<String, u64>,
    pub(crate) setup_failures: u64,
    /// Client-side problems by kind.
    pub(crate) problems: BTreeMap<String, u64>,
    pub(crate) problem_examples: Vec<String>,
    pub(crate) counts: Counts,
    pub(crate) queues: Queues,
    pub(crate) accounting: Accounting,
    pub(crate) registry: Registry,
    pub(crate) memory: Memory,
    pub(crate) server_probe: Probe,
    pub(crate) failures: Vec<String>,
    pub(crate) ok: bool,
}

fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The kind of a problem: its text up to the first quote, colon or digit run that varies.
fn kind(problem: &str) -> String {
    let cut = problem.find(['"', ':']).unwrap_or(problem.len());
    problem[..cut].trim().chars().take(80).collect()
}

impl SoakReport {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn of(
        a: &SoakArgs,
        seed: u64,
        tally: &Tally,
        sessions_warmup: u64,
        soak_seconds: f64,
        total_seconds: f64,
        accounting: Accounting,
        registry: Registry,
        memory: Memory,
        server_probe: Probe,
    ) -> SoakReport {
        let mut by_transport = BTreeMap::new();
        let mut by_ending = BTreeMap::new();
        let mut by_end = BTreeMap::new();
        let mut problems = BTreeMap::new();
        let mut problem_examples = Vec::new();
        let mut setup_failures = 0;
        let mut first_setup = None;
        for o in &tally.outcomes {
            *by_transport
                .entry(o.framing.log_name().to_string())
                .or_insert(0) += 1;
            *by_ending.entry(name(&o.ending)).or_insert(0) += 1;
            let end = match o.end {
                End::Server(Some(c)) => format!("server {c}"),
                End::Server(None) => "server eof".into(),
                other => name(&other),
            };
            *by_end.entry(end).or_insert(0) += 1;
            match (&o.problem, o.end) {
                (Some(p), End::SetupFailed) => {
                    setup_failures += 1;
                    first_setup.get_or_insert_with(|| p.clone());
                }
                (Some(p), _) => {
                    *problems.entry(kind(p)).or_insert(0) += 1;
                    if problem_examples.len() < 10 {
                        problem_examples.push(p.clone());
                    }
                }
                (None, End::Running) => *problems.entry("unfinished".into()).or_insert(0) += 1,
                (None, _) => {}
            }
        }
        let queues = Queues::of(tally);
        let mut failures = Vec::new();
        if tally.outcomes.is_empty() {
            failures.push("no session ran".into());
        }
        if setup_failures > 0 {
            failures.push(format!(
                "{setup_failures} sessions could not be set up (first: {})",
                first_setup.unwrap_or_default()
            ));
        }
        let troubled: u64 = problems.values().sum();
        if troubled > 0 {
            let kinds: Vec<String> = problems.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            failures.push(format!(
                "{troubled} sessions ended unexpectedly or saw errors: {}",
                kinds.join("; ")
            ));
        }
        failures.extend(accounting.failures());
        failures.extend(registry.failures(accounting.close_lines));
        failures.extend(memory.failures());
        if queues.lost > 0 {
            failures.push(format!(
                "{} receipted queue messages were never delivered",
                queues.lost
            ));
        }
        SoakReport {
            scenario: "soak",
            url: a.server.url.clone(),
            tcp: a.tcp.map(|t| t.to_string()),
            seed,
            concurrency: a.sessions,
            warmup_s: a.warmup.as_secs_f64(),
            duration_s: a.duration.as_secs_f64(),
            soak_seconds,
            total_seconds,
            sessions_total: tally.outcomes.len() as u64,
            sessions_warmup,
            by_transport,
            by_ending,
            by_end,
            setup_failures,
            problems,
            problem_examples,
            counts: tally.counts.clone(),
            queues,
            accounting,
            registry,
            memory,
            server_probe,
            ok: failures.is_empty(),
            failures,
        }
    }

    /// The report as a table.
    pub(crate) fn table(&self) -> String {
        let mut t = String::new();
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let opt = |v: Option<u64>| v.map_or_else(|| "?".into(), |v| v.to_string());
        let mib =
            |v: Option<u64>| v.map_or_else(|| "?".into(), |v| format!("{:.1} MiB", v as f64 / MIB));
        let (a, r, m, q, c) = (
            &self.accounting,
            &self.registry,
            &self.memory,
            &self.queues,
            &self.counts,
        );
        let _ = writeln!(
            t,
            "soak against {} (STOMP/TCP: {}), seed {}",
            self.url,
            self.tcp.as_deref().unwrap_or("-"),
            self.seed
        );
        let _ = writeln!(
            t,
            "  concurrency    {} sessions at once; warm-up {:.0} s, soak {:.0} s (ran {:.1} s, {:.1} s in all)",
            self.concurrency, self.warmup_s, self.duration_s, self.soak_seconds, self.total_seconds
        );
        let _ = writeln!(
            t,
            "  sessions       {} ({} in the warm-up): {}",
            self.sessions_total,
            self.sessions_warmup,
            list(&self.by_transport)
        );
        let _ = writeln!(t, "  endings        {}", list(&self.by_ending));
        let _ = writeln!(t, "  ended as       {}", list(&self.by_end));
        let _ = writeln!(
            t,
            "  close lines    {}: accounted {} of {} sessions with an id; missing {}, duplicate {}, mismatched {}, unknown {} (ids never learned: {})",
            a.close_lines,
            a.accounted,
            a.sessions_with_id,
            a.missing,
            a.duplicate,
            a.mismatched,
            a.unknown,
            a.unidentified
        );
        let _ = writeln!(t, "  close codes    {}", list(&a.by_code));
        let _ = writeln!(
            t,
            "  1006           {} caused (drop, reset, client give-up), {} uncaused",
            a.caused_1006, a.uncaused_1006
        );
        let _ = writeln!(
            t,
            "  registry after sessions {} (/api/sessions {}), subscriptions {}, topics {}, queues {}, pending {}, unacked {}; sessions opened {} / close lines {}",
            opt(r.sessions_open),
            opt(r.api_sessions),
            opt(r.subscriptions),
            opt(r.topics),
            opt(r.queues),
            opt(r.queue_pending_messages),
            opt(r.unacked_messages),
            opt(r.sessions_opened),
            a.close_lines
        );
        let _ = writeln!(
            t,
            "  messages       topic: {} sent, {} received; queue: {} sent, {} receipted, {} delivered ({} deliveries, {} redelivered), {} lost",
            c.topic_sends,
            c.topic_messages,
            c.queue_sends,
            q.receipted,
            q.delivered,
            q.deliveries,
            c.redelivered,
            q.lost
        );
        let _ = writeln!(
            t,
            "  frames         {} receipts of {} asked, {} ACKs, heart-beats {} sent / {} received",
            c.receipts, c.receipts_asked, c.acks, c.heartbeats_sent, c.heartbeats_received
        );
        let _ = writeln!(
            t,
            "  server RSS     baseline {}, peak {}, end {} (growth {}, allowed {})",
            mib(m.baseline_bytes),
            mib(Some(m.peak_bytes)),
            mib(m.end_bytes),
            m.growth_bytes
                .map_or_else(|| "?".into(), |g| format!("{:+.1} MiB", g as f64 / MIB)),
            mib(m.allowed_growth_bytes)
        );
        for e in a.examples.iter().chain(&self.problem_examples) {
            let _ = writeln!(t, "    e.g. {e}");
        }
        if self.ok {
            let _ = writeln!(t, "  verdict        OK: every session accounted for");
        } else {
            let _ = writeln!(t, "  verdict        FAILED");
            for f in &self.failures {
                let _ = writeln!(t, "    - {f}");
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_growth_is_judged_against_the_larger_allowance() {
        let m = Memory::of(Some(100 << 20), 300 << 20, Some(105 << 20), 10.0, 8);
        assert_eq!(m.allowed_growth_bytes, Some(10 << 20));
        assert!(m.failures().is_empty());
        let m = Memory::of(Some(20 << 20), 300 << 20, Some(40 << 20), 10.0, 8);
        assert_eq!(m.failures().len(), 1);
        assert!(m.failures()[0].contains("above the baseline"));
        assert_eq!(Memory::of(None, 0, None, 10.0, 8).failures().len(), 1);
    }

    #[test]
    fn problem_kinds_drop_the_varying_part() {
        assert_eq!(
            kind("closed by the server with 4500 \"slow\""),
            "closed by the server with 4500"
        );
        assert_eq!(kind("set-up: connecting to 127.0.0.1:1: refused"), "set-up");
    }
}
