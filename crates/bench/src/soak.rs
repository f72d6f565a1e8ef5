//! `stompbox bench soak`: thousands of sessions connecting, subscribing, sending and ending in
//! every way a client ends (DISCONNECT, a bare Close, a dropped socket, an RST, silence until
//! the heart-beat timeout) for a bounded time, then the accounting: one `session closed` line
//! per session with the code its ending implies, the server's registry empty, every receipted
//! queue message delivered, and memory back to the baseline taken after a warm-up round.
//!
//! One process, one thread: `--sessions` (concurrent) stays well below the open-files limit,
//! so the bench's worker processes are not needed here.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use tokio::time::{Instant, sleep};

use crate::UsageError;
use crate::args::SoakArgs;
use crate::procstat::{self, Probe};
use crate::soak_check::{self, CloseLine};
use crate::soak_plan::{Ending, Plan, Shared, To};
use crate::soak_report::{Memory, Registry, SoakReport};
use crate::soak_session;
use crate::soak_wire::Framing;
use crate::stomp::ConnectParams;
use crate::target::{self, Target};

/// Concurrent sessions one run may hold (the process's open-files limit is 20 000 here).
const MAX_SESSIONS: usize = 15_000;
/// How long sessions still running at the end of a round get to finish.
const FINISH: Duration = Duration::from_secs(60);
/// Pause before a memory reading, so that per-connection buffers released after 1 s idle are.
const SETTLE: Duration = Duration::from_secs(3);
/// How long the server gets to report no open session.
const IDLE_WAIT: Duration = Duration::from_secs(30);

/// The checked mix of a run.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    endings: Vec<(Ending, u32)>,
    sockjs: u32,
    tcp: u32,
    life: Duration,
    topics: u32,
    queues: u32,
}

/// Parses `--endings disconnect=35,close=25,…`.
pub(crate) fn parse_endings(s: &str) -> Result<Vec<(Ending, u32)>, UsageError> {
    let bad = |why: String| UsageError(format!("--endings `{s}`: {why}"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("`{part}`: expected NAME=WEIGHT")))?;
        let ending = Ending::DRAWN
            .iter()
            .find(|(_, n)| *n == name.trim())
            .map(|(e, _)| *e)
            .ok_or_else(|| {
                let names: Vec<&str> = Ending::DRAWN.iter().map(|(_, n)| *n).collect();
                bad(format!(
                    "unknown ending `{name}` (one of {})",
                    names.join(", ")
                ))
            })?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{part}`: the weight must be a whole number")))?;
        out.push((ending, weight));
    }
    if out.iter().map(|(_, w)| *w).sum::<u32>() == 0 {
        return Err(bad("at least one weight must be above 0".into()));
    }
    Ok(out)
}

fn check(a: &SoakArgs) -> Result<Mix, UsageError> {
    crate::plan::count("--sessions", a.sessions, MAX_SESSIONS)?;
    crate::plan::time("--duration", a.duration, true)?;
    crate::plan::time("--warmup", a.warmup, false)?;
    crate::plan::time("--life", a.life, true)?;
    crate::plan::count("--topics", a.topics as usize, 100_000)?;
    crate::plan::count("--queues", a.queues as usize, 1_000)?;
    if u32::from(a.sockjs) + u32::from(a.tcp_share) > 100 {
        return Err(UsageError(
            "--sockjs and --tcp-share add up to over 100 %".into(),
        ));
    }
    if let Some(tcp) = a.tcp
        && !tcp.ip().is_loopback()
    {
        return Err(UsageError(format!("--tcp {tcp}: only loopback addresses")));
    }
    if !(0.0..=1000.0).contains(&a.rss_tolerance) {
        return Err(UsageError("--rss-tolerance: expected 0 to 1000 (%)".into()));
    }
    Ok(Mix {
        endings: parse_endings(&a.endings)?,
        sockjs: u32::from(a.sockjs),
        tcp: if a.tcp.is_some() {
            u32::from(a.tcp_share)
        } else {
            0
        },
        life: a.life,
        topics: a.topics,
        queues: a.queues,
    })
}

impl Mix {
    /// A random session.
    fn plan(&self, rng: &mut fastrand::Rng) -> Plan {
        let roll = rng.u32(..100);
        let framing = if roll < self.tcp {
            Framing::Tcp
        } else if roll < self.tcp + self.sockjs {
            Framing::SockJs
        } else {
            Framing::Ws
        };
        // TCP has no Close frame: its "close" is a DISCONNECT.
        let drawn: Vec<(Ending, u32)> = self
            .endings
            .iter()
            .filter(|(e, _)| framing != Framing::Tcp || *e != Ending::Close)
            .copied()
            .collect();
        let total: u32 = drawn.iter().map(|(_, w)| *w).sum();
        let mut pick = rng.u32(..total.max(1));
        let mut ending = Ending::Disconnect;
        for (e, w) in drawn {
            if pick < w {
                ending = e;
                break;
            }
            pick -= w;
        }
        let topics = (0..rng.u32(1..=2))
            .map(|_| rng.u32(..self.topics))
            .collect();
        let sends = (0..rng.u32(1..=4))
            .map(|_| match rng.bool() {
                true => (To::Topic(rng.u32(..self.topics)), rng.bool()),
                false => (To::Queue(rng.u32(..self.queues)), true),
            })
            .collect();
        Plan {
            framing,
            ending,
            heartbeat: ending == Ending::Silent || rng.u32(..100) < 30,
            life: self.life.mul_f64(0.5 + rng.f64()),
            topics,
            queue: rng.bool().then(|| rng.u32(..self.queues)),
            sends,
        }
    }
}

/// Runs the soak and returns its report (the caller prints it and fails on its failures).
pub(crate) async fn run(a: &SoakArgs) -> anyhow::Result<SoakReport> {
    let mix = check(a)?;
    let target = Target::parse(&a.server.url, "--url")?;
    let probe = Probe::choose(
        a.server.server_pid,
        a.server.metrics_url.as_deref(),
        &target,
    )?;
    let metrics_url = a
        .server
        .metrics_url
        .clone()
        .unwrap_or_else(|| target.metrics_url());
    let nofile = crate::limits::raise_nofile()
        .map_err(|e| UsageError(format!("reading the open-files limit: {e}")))?;
    if a.sessions as u64 + crate::limits::SPARE_FDS + 64 > nofile {
        return Err(UsageError(format!(
            "--sessions {} does not fit the open-files limit {nofile}",
            a.sessions
        ))
        .into());
    }
    let sources = target::source_addrs(&target, &[], Some(a.source_addr_count), a.sessions)?;
    let log_offset = std::fs::metadata(&a.server_log)
        .with_context(|| format!("--server-log {}", a.server_log.display()))?
        .len();
    let before = procstat::fetch(&metrics_url)
        .await
        .with_context(|| format!("no answer from {metrics_url}: is the server running?"))?;
    let opened_before = procstat::metric(&before, "stompbox_sessions_opened_total");
    let seed = a.seed.unwrap_or_else(|| fastrand::u64(..));
    let connect = ConnectParams {
        login: a.stomp.login.clone(),
        passcode: a.stomp.passcode.clone(),
        host: a.stomp.vhost.clone(),
        heartbeat_ms: 0,
    };
    let sh = Rc::new(Shared::new(target.clone(), a.tcp, sources, connect));
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    local
        .run_until(async {
            let mut rng = fastrand::Rng::with_seed(seed);
            progress(a, "warm-up");
            round(&sh, &mix, a.sessions, a.warmup, &mut rng).await;
            let warmup_sessions = sh.tally.borrow().outcomes.len() as u64;
            wait_idle(&metrics_url).await;
            sleep(SETTLE).await;
            let baseline = probe.sample().await.rss_bytes;
            progress(a, "soak");
            let peak = Rc::new(std::cell::Cell::new(baseline.unwrap_or(0)));
            let sampler = {
                let (probe, peak) = (probe.clone(), peak.clone());
                tokio::task::spawn_local(async move {
                    loop {
                        if let Some(rss) = probe.sample().await.rss_bytes {
                            peak.set(peak.get().max(rss));
                        }
                        sleep(Duration::from_millis(500)).await;
                    }
                })
            };
            let soak_start = Instant::now();
            round(&sh, &mix, a.sessions, a.duration, &mut rng).await;
            let soak_seconds = soak_start.elapsed().as_secs_f64();
            sampler.abort();
            progress(a, "draining the queues");
            drain(&sh, mix.queues).await;
            progress(a, "accounting");
            let open_after = wait_idle(&metrics_url).await;
            sleep(SETTLE).await;
            let end = probe.sample().await.rss_bytes;
            let registry = registry(&metrics_url, &target, open_after, opened_before).await;
            let lines = read_closes(&a.server_log, log_offset)?;
            let tally = sh.tally.borrow();
            let accounting = soak_check::account(&tally.outcomes, &lines);
            let memory = Memory::of(baseline, peak.get(), end, a.rss_tolerance, a.rss_slack_mib);
            anyhow::Ok(SoakReport::of(
                a,
                seed,
                &tally,
                warmup_sessions,
                soak_seconds,
                started.elapsed().as_secs_f64(),
                accounting,
                registry,
                memory,
                probe.clone(),
            ))
        })
        .await
}

fn progress(a: &SoakArgs, stage: &str) {
    if !a.json {
        eprintln!("soak: {stage}");
    }
}

/// Runs `lanes` sessions at once, each lane starting a new session when its last one ended,
/// until `time` has passed; then waits (bounded) for the last ones.
async fn round(sh: &Rc<Shared>, mix: &Mix, lanes: usize, time: Duration, rng: &mut fastrand::Rng) {
    if time.is_zero() {
        return;
    }
    let stop_at = Instant::now() + time;
    // Lanes start spread over a mean life, so that sessions do not come and go in waves.
    let spread = mix.life.min(time);
    let tasks: Vec<_> = (0..lanes)
        .map(|i| {
            let sh = sh.clone();
            let mix = mix.clone();
            let mut rng = fastrand::Rng::with_seed(rng.u64(..));
            let delay = spread.mul_f64(i as f64 / lanes as f64);
            tokio::task::spawn_local(async move {
                sleep(delay).await;
                while Instant::now() < stop_at {
                    let k = sh.next_session();
                    let plan = mix.plan(&mut rng);
                    soak_session::run(&sh, k, plan).await;
                }
            })
        })
        .collect();
    let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
    let _ = tokio::time::timeout_at(stop_at + FINISH, async {
        for t in tasks {
            let _ = t.await;
        }
    })
    .await;
    for a in aborts {
        a.abort();
    }
}

/// One drainer per queue: what is left in the queues at the end.
async fn drain(sh: &Rc<Shared>, queues: u32) {
    let tasks: Vec<_> = (0..queues)
        .map(|q| {
            let sh = sh.clone();
            tokio::task::spawn_local(async move {
                let plan = Plan {
                    framing: Framing::Ws,
                    ending: Ending::Drain,
                    heartbeat: false,
                    life: Duration::ZERO,
                    topics: Vec::new(),
                    queue: Some(q),
                    sends: Vec::new(),
                };
                let k = sh.next_session();
                soak_session::run(&sh, k, plan).await;
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Polls `/metrics` until the server has no open session (bounded); the last count seen.
async fn wait_idle(metrics_url: &str) -> Option<u64> {
    let deadline = Instant::now() + IDLE_WAIT;
    loop {
        let open = procstat::fetch(metrics_url)
            .await
            .and_then(|t| procstat::metric(&t, "stompbox_sessions_open"))
            .map(|v| v as u64);
        if open == Some(0) || Instant::now() >= deadline {
            return open;
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// The server's registry after the run: `/metrics` gauges and `/api/sessions`.
async fn registry(
    metrics_url: &str,
    target: &Target,
    open: Option<u64>,
    opened_before: Option<f64>,
) -> Registry {
    let text = procstat::fetch(metrics_url).await.unwrap_or_default();
    let gauge = |name: &str| procstat::metric(&text, name).map(|v| v as u64);
    let api = procstat::fetch(&format!("http://{}/api/sessions", target.host))
        .await
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v.get("sessions")?.as_array().map(|a| a.len() as u64));
    Registry {
        sessions_open: open,
        api_sessions: api,
        subscriptions: gauge("stompbox_subscriptions"),
        topics: gauge("stompbox_topics"),
        queues: gauge("stompbox_queues"),
        queue_pending_messages: gauge("stompbox_queue_pending_messages"),
        unacked_messages: gauge("stompbox_unacked_messages"),
        sessions_opened: opened_before
            .zip(procstat::metric(&text, "stompbox_sessions_opened_total"))
            .map(|(a, b)| (b - a) as u64),
    }
}

/// The `session closed` lines written to the server's log after `offset`.
fn read_closes(path: &Path, offset: u64) -> anyhow::Result<Vec<CloseLine>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let from = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[from..])
        .lines()
        .filter_map(soak_check::parse_line)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn endings_parse_and_bad_ones_name_the_flag() {
        let e = parse_endings("disconnect=3, silent=1").unwrap();
        assert_eq!(e, [(Ending::Disconnect, 3), (Ending::Silent, 1)]);
        for bad in ["explode=1", "drop", "drop=x", "drop=0"] {
            let err = parse_endings(bad).unwrap_err();
            assert!(err.0.contains("--endings"), "{err}");
        }
    }

    #[test]
    fn plans_follow_the_mix() {
        let mix = Mix {
            endings: vec![(Ending::Close, 1), (Ending::Silent, 1)],
            sockjs: 0,
            tcp: 100,
            life: Duration::from_secs(2),
            topics: 10,
            queues: 2,
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..100 {
            let p = mix.plan(&mut rng);
            assert_eq!(p.framing, Framing::Tcp);
            // TCP has no Close frame: only silent is left.
            assert_eq!(p.ending, Ending::Silent);
            assert!(p.heartbeat);
            assert!(p.life >= Duration::from_secs(1) && p.life <= Duration::from_secs(3));
            assert!(!p.sends.is_empty() && p.sends.len() <= 4);
        }
    }
}
