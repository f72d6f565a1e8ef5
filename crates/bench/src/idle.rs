//! The idle scenario: open N sessions with heart-beats, hold them, and see what survives, what
//! the server's memory did, and whether heart-beats kept time both ways.

use tokio::time::Instant;

use crate::UsageError;
use crate::args::IdleArgs;
use crate::bar::Bar;
use crate::plan::{self, Generator};
use crate::pool::Pool;
use crate::procstat::Probe;
use crate::proto::Counters;
use crate::report::{GeneratorInfo, HeartbeatFigures, IdleReport};

/// Checks the idle flags; returns the heart-beat in ms.
pub(crate) fn check(args: &IdleArgs) -> Result<u32, UsageError> {
    plan::count("--sessions", args.sessions, plan::MAX_CONNECTIONS)?;
    plan::time("--hold", args.hold, false)?;
    plan::time("--heartbeat", args.heartbeat, false)?;
    let ms = args.heartbeat.as_millis();
    if ms > 0 && ms < 100 {
        return Err(UsageError(format!(
            "--heartbeat {}: expected 0 (none) or at least 100ms",
            humantime::format_duration(args.heartbeat)
        )));
    }
    Ok(ms as u32)
}

/// Runs the scenario.
pub(crate) async fn run(
    args: &IdleArgs,
    generator: &Generator,
    probe: &Probe,
) -> anyhow::Result<IdleReport> {
    let bar = Bar::new(!generator.json);
    let sessions = args.sessions as u64;
    let rss_before = probe.sample().await.rss_bytes;
    let mut pool = Pool::start(generator.specs(args.sessions, &[]), &generator.mode).await?;
    bar.stage("connecting", sessions);
    let first_error = pool
        .wait_ready("open their sessions", |c| {
            let msg = format!("{} open, {} failed", c.connected, c.failed);
            bar.update(c.connected, msg);
        })
        .await?;
    let opened = pool.totals();
    let rss_connected = probe.sample().await.rss_bytes;

    bar.stage("holding", args.hold.as_millis() as u64);
    let hold_start = Instant::now();
    let hold_end = hold_start + args.hold;
    loop {
        match tokio::time::timeout_at(hold_end, pool.next()).await {
            Err(_) => break,
            Ok(next) => {
                next?;
                let c = pool.totals();
                bar.update(
                    hold_start.elapsed().as_millis() as u64,
                    format!(
                        "{} alive, {} heart-beats in, {} out",
                        c.connected - c.dropped,
                        c.hb_received,
                        c.hb_sent
                    ),
                );
            }
        }
    }
    let rss_end = probe.sample().await.rss_bytes;
    bar.finish();
    let reports = pool.finish().await?;
    let c = Counters::sum(reports.iter().map(|r| &r.counters));
    let mut close_codes = std::collections::BTreeMap::new();
    for r in &reports {
        for (code, n) in r.close_codes.iter().copied() {
            *close_codes.entry(code).or_insert(0) += n;
        }
    }
    let connect_seconds = c.connect_last_ns.saturating_sub(c.connect_first_ns) as f64 / 1e9;
    let notes: Vec<String> = crate::procstat::limit_note(probe, sessions)
        .into_iter()
        .chain(c.retry_note())
        .collect();
    let per_session = rss_before
        .zip(rss_connected)
        .filter(|_| opened.connected > 0)
        .map(|(a, b)| b.saturating_sub(a) / opened.connected);
    Ok(IdleReport {
        scenario: "idle",
        url: generator.target.url(),
        sessions_requested: sessions,
        connected: opened.connected,
        failed: opened.failed,
        first_error,
        alive_at_end: c.connected - c.dropped,
        dropped: c.dropped,
        close_codes,
        first_close: reports.iter().find_map(|r| r.first_close.clone()),
        connect_seconds,
        connect_rate: (connect_seconds > 0.0).then(|| c.connected as f64 / connect_seconds),
        hold_s: args.hold.as_secs_f64(),
        rss_before_bytes: rss_before,
        rss_connected_bytes: rss_connected,
        rss_end_bytes: rss_end,
        rss_per_session_bytes: per_session,
        heartbeat: HeartbeatFigures::of(args.heartbeat.as_millis() as u64, &c),
        server_probe: probe.clone(),
        generator: GeneratorInfo::of(generator, notes),
    })
}
