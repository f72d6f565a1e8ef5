//! The fan-out scenario: subscribers in workers, publishers here, a measured window after the
//! warm-up, a drain, then the report.
//!
//! The window is fixed in wall-clock time before publishing starts, so every process decides
//! alone what counts: a message is *of the window* when its publish time is in it (those make
//! `published`, `expected`, `delivered`, `lost` and the latencies), and a delivery is *in the
//! window* when it arrives in it (those make deliveries/s).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::args::LoadArgs;
use crate::bar::Bar;
use crate::plan::{self, Generator};
use crate::pool::Pool;
use crate::procstat::{self, Probe, Sample};
use crate::proto::{self, Command, Event};
use crate::publisher::{self, Gate, Published, Schedule};
use crate::report::{FanoutReport, GeneratorInfo, Latency, ServerFigures, UrlLatency};
use crate::stomp::{SendTemplate, TS_LEN};
use crate::{UsageError, hist};

/// The fewest deliveries an unthrottled run keeps in flight (see `--backlog`).
const MIN_IN_FLIGHT: u64 = 1_000_000;

/// How long deliveries may trickle in after publishing stops.
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// The drain ends early after this long without a new delivery.
const DRAIN_QUIET: Duration = Duration::from_secs(2);

/// Checks the load flags.
pub(crate) fn check(load: &LoadArgs) -> Result<(), UsageError> {
    plan::count("--subscribers", load.subscribers, plan::MAX_CONNECTIONS)?;
    plan::count("--publishers", load.publishers, 1000)?;
    plan::count("--topics", load.topics, load.subscribers)?;
    if load.size < TS_LEN || load.size > 1024 * 1024 {
        return Err(UsageError(format!(
            "--size {}: expected {TS_LEN} (the publish time) to 1048576 bytes",
            load.size
        )));
    }
    if load.rate > 100_000_000 {
        return Err(UsageError(format!(
            "--rate {}: at most 100000000",
            load.rate
        )));
    }
    plan::time("--duration", load.duration, true)?;
    plan::time("--warmup", load.warmup, false)?;
    if !load.destination.starts_with('/') || load.destination.contains(['\n', '\r', '\0']) {
        return Err(UsageError(format!(
            "--destination `{}`: expected a path such as /topic/bench",
            load.destination
        )));
    }
    Ok(())
}

/// The topics, `{destination}` or `{destination}.{i}`.
fn topics(load: &LoadArgs) -> Vec<String> {
    if load.topics == 1 {
        vec![load.destination.clone()]
    } else {
        (0..load.topics)
            .map(|i| format!("{}.{i}", load.destination))
            .collect()
    }
}

/// Runs the scenario.
pub(crate) async fn run(
    scenario: &'static str,
    load: &LoadArgs,
    generator: &Generator,
    probes: &[Probe],
) -> anyhow::Result<FanoutReport> {
    let bar = Bar::new(!generator.json);
    let topics = topics(load);
    let at_start = procstat::sample_all(probes).await;
    let subscribers = load.subscribers as u64;
    let mut pool = Pool::start(generator.specs(load.subscribers, &topics), &generator.mode).await?;
    bar.stage("subscribing", subscribers);
    let first_error = pool
        .wait_ready("set up their subscribers", |c| {
            let msg = format!("{} subscribed, {} failed", c.connected, c.failed);
            bar.update(c.connected, msg);
        })
        .await?;
    let set_up = pool.totals();
    // The sockets each server holds at most (for the open-files note).
    let per_server =
        subscribers.div_ceil(generator.subscribe_to.len().max(1) as u64) + load.publishers as u64;
    let limit_notes = || {
        probes
            .iter()
            .filter_map(|p| procstat::limit_note(p, per_server))
    };
    if set_up.failed > 0 {
        let first = first_error.unwrap_or_default();
        let limit = limit_notes()
            .next()
            .map_or(String::new(), |n| format!(" ({n})"));
        bail!(
            "{} of {subscribers} subscribers could not subscribe; the first: {first}{limit}",
            set_up.failed
        );
    }

    let (fatal_tx, mut fatal) = mpsc::unbounded_channel();
    let mut publishers = Vec::new();
    for p in 0..load.publishers {
        let source = generator.source(load.subscribers + p);
        let connected = publisher::connect(
            p,
            &generator.target,
            source,
            &generator.connect,
            fatal_tx.clone(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
        publishers.push(connected);
    }
    let templates = Arc::new(
        topics
            .iter()
            .map(|t| SendTemplate::new(t, load.size))
            .collect::<Vec<_>>(),
    );
    let lead = Duration::from_millis(200);
    let start = Instant::now() + lead;
    let start_ns = crate::epoch_ns() + lead.as_nanos() as u64;
    let t0 = start_ns + load.warmup.as_nanos() as u64;
    let t1 = t0 + load.duration.as_nanos() as u64;
    let window_start = start + load.warmup;
    let end = window_start + load.duration;
    pool.send_all(&Command::Window { t0, t1 }).await?;
    pool.wait_each(
        "set the window",
        Duration::from_secs(10),
        |e| matches!(e, Event::WindowSet).then_some(()),
        |_| {},
    )
    .await?;
    let rate = load.rate as f64 / load.publishers as f64;
    // Unthrottled: at most `--backlog` worth of deliveries outstanding, counted in messages;
    // the cap follows the measured delivery rate but never drops below MIN_IN_FLIGHT
    // deliveries (and 4 messages): with a cap of one message the publisher would wait for a
    // progress report after every message and measure the generator's round trip, not the server.
    let (received_tx, received) = watch::channel(0u64);
    let per_message = (subscribers / topics.len() as u64).max(1);
    let min_cap = (MIN_IN_FLIGHT / per_message).max(4);
    let gate = (load.rate == 0 && !load.backlog.is_zero()).then(|| Gate {
        published: Arc::new(AtomicU64::new(0)),
        received,
        cap: Arc::new(AtomicU64::new(min_cap)),
    });
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(p, publisher)| {
            let schedule = Schedule {
                start,
                end,
                t0,
                t1,
                rate,
                gate: gate.clone(),
            };
            tokio::spawn(publisher.run(templates.clone(), p, schedule))
        })
        .collect();

    // The run: progress, the server's figures at both ends of the window, errors.
    let total_ms = (end - Instant::now()).as_millis() as u64;
    bar.stage("publishing", total_ms);
    let mut at_t0: Option<Vec<Sample>> = None;
    let mut at_t1: Option<Vec<Sample>> = None;
    let mut shown = (Instant::now(), 0u64);
    while at_t1.is_none() {
        tokio::select! {
            next = pool.next() => {
                next?;
                let c = pool.totals();
                let _ = received_tx.send(c.messages * topics.len() as u64 / subscribers);
                let now = Instant::now();
                let rate = (c.messages - shown.1) as f64 / (now - shown.0).as_secs_f64().max(1e-3);
                if now - shown.0 >= Duration::from_millis(500) {
                    shown = (now, c.messages);
                    if let Some(gate) = &gate {
                        let cap = rate * load.backlog.as_secs_f64() / per_message as f64;
                        gate.cap.store((cap as u64).max(min_cap), Ordering::Relaxed);
                    }
                    let left = end.saturating_duration_since(now).as_millis() as u64;
                    bar.update(total_ms.saturating_sub(left), format!("{} delivered, {rate:.0}/s", c.messages));
                }
            }
            Some(e) = fatal.recv() => bail!("{e}"),
            _ = tokio::time::sleep_until(window_start), if at_t0.is_none() => {
                at_t0 = Some(procstat::sample_all(probes).await);
            }
            _ = tokio::time::sleep_until(end), if at_t0.is_some() => {
                at_t1 = Some(procstat::sample_all(probes).await);
            }
        }
    }
    let mut published = Published {
        in_window: vec![0; topics.len()],
        total: 0,
    };
    for task in tasks {
        let done = tokio::select! {
            done = task => done.context("a publisher task failed")?.map_err(anyhow::Error::msg)?,
            Some(e) = fatal.recv() => bail!("{e}"),
        };
        published.total += done.total;
        for (t, n) in done.in_window.iter().enumerate() {
            published.in_window[t] += n;
        }
    }
    drop(fatal);
    let per_topic = |t: usize| {
        (load.subscribers / topics.len() + usize::from(t < load.subscribers % topics.len())) as u64
    };
    let expected: u64 = published
        .in_window
        .iter()
        .enumerate()
        .map(|(t, n)| n * per_topic(t))
        .sum();

    bar.stage("draining", expected);
    let drain_end = Instant::now() + DRAIN_MAX;
    // Ends when the window's deliveries are complete, or nothing at all arrived for a while
    // (warm-up messages queued ahead of the window's still count as progress).
    let mut last = (Instant::now(), pool.totals().messages);
    while pool.totals().of_window < expected && Instant::now() < drain_end {
        let quiet_until = (last.0 + DRAIN_QUIET).min(drain_end);
        match tokio::time::timeout_at(quiet_until, pool.next()).await {
            Err(_) => break,
            Ok(next) => {
                next?;
                let c = pool.totals();
                bar.update(c.of_window, format!("{} of {expected}", c.of_window));
                if c.messages > last.1 {
                    last = (Instant::now(), c.messages);
                }
            }
        }
    }
    bar.finish();
    let reports = pool.finish().await?;
    let mut latency = hist::new();
    let mut by_target: Vec<_> = generator.subscribe_to.iter().map(|_| hist::new()).collect();
    let mut close_codes = std::collections::BTreeMap::new();
    for r in &reports {
        for (t, encoded) in r.latency_us.iter().enumerate() {
            hist::merge(&mut latency, encoded)?;
            if let Some(h) = by_target.get_mut(t) {
                hist::merge(h, encoded)?;
            }
        }
        for (code, n) in r.close_codes.iter().copied() {
            *close_codes.entry(code).or_insert(0) += n;
        }
    }
    let totals = crate::proto::Counters::sum(reports.iter().map(|r| &r.counters));
    let published_in_window: u64 = published.in_window.iter().sum();
    let window = load.duration.as_secs_f64();
    let (before, after) = (at_t0.unwrap_or_default(), at_t1.unwrap_or_default());
    let server = ServerFigures::of(
        probes,
        &at_start,
        &before,
        &after,
        totals.received_in_window,
    );
    // With several processes, one of them may be Redis (few connections, a limit of its own):
    // their limits are named only when set-up failed (above).
    let mut notes: Vec<String> = limit_notes()
        .filter(|_| probes.len() == 1)
        .chain(totals.retry_note())
        .collect();
    if totals.dropped > 0 {
        notes.push(format!(
            "{} subscribers were closed during the run: {}",
            totals.dropped,
            reports
                .iter()
                .find_map(|r| r.first_close.clone())
                .unwrap_or_default()
        ));
    }
    if totals.of_window < expected {
        notes.push(format!(
            "the drain ended {} deliveries short",
            expected - totals.of_window
        ));
    }
    Ok(FanoutReport {
        scenario,
        url: generator.target.url(),
        subscribers,
        publishers: load.publishers as u64,
        topics: topics.len() as u64,
        size: load.size as u64,
        rate: (load.rate > 0).then_some(load.rate),
        warmup_s: load.warmup.as_secs_f64(),
        window_s: window,
        published: published_in_window,
        published_total: published.total,
        expected,
        delivered: totals.of_window,
        lost: expected.saturating_sub(totals.of_window),
        received_in_window: totals.received_in_window,
        deliveries_per_s: totals.received_in_window as f64 / window,
        latency_ms: Latency::of(&latency),
        latency_by_url: latency_by_url(load, generator, &by_target),
        dropped: totals.dropped,
        close_codes,
        server,
        generator: GeneratorInfo::of(generator, notes),
    })
}

/// With several `--subscribe-url`s, the latency of the deliveries to each (say, the
/// publisher's node against another node of the cluster).
fn latency_by_url(
    load: &LoadArgs,
    generator: &Generator,
    by_target: &[hdrhistogram::Histogram<u64>],
) -> Vec<UrlLatency> {
    let targets = generator.subscribe_to.len();
    if targets < 2 {
        return Vec::new();
    }
    let mut subscribers = vec![0u64; targets];
    for k in 0..load.subscribers {
        subscribers[proto::target_of(k, load.topics, targets)] += 1;
    }
    generator
        .subscribe_to
        .iter()
        .zip(by_target)
        .zip(subscribers)
        .map(|((target, h), subscribers)| UrlLatency {
            url: target.url(),
            subscribers,
            latency_ms: Latency::of(h),
        })
        .collect()
}
