//! Checked settings shared by the scenarios: the target, CONNECT headers, worker processes,
//! source addresses and the open-files limit.

use std::net::IpAddr;
use std::time::Duration;

use crate::UsageError;
use crate::args::{GenArgs, StompArgs};
use crate::limits;
use crate::pool::Mode;
use crate::proto::WorkerSpec;
use crate::stomp::ConnectParams;
use crate::target::{self, Target};

/// Sockets a default worker process holds at most.
pub(crate) const SOCKETS_PER_WORKER: usize = 15_000;
/// Connections a worker sets up at once.
const CONCURRENCY: usize = 128;
/// Most connections one run may open.
pub(crate) const MAX_CONNECTIONS: usize = 250_000;
/// Longest duration, hold or warm-up a run may ask for.
pub(crate) const MAX_TIME: Duration = Duration::from_secs(3600);

/// How the generator is laid out.
#[derive(Debug, Clone)]
pub(crate) struct Generator {
    /// Where the publishers connect (and, by default, the subscribers).
    pub(crate) target: Target,
    /// Where the subscribers (and idle sessions) connect: round-robin over these, spread so
    /// that every topic has subscribers on each (see [`WorkerSpec::target_of`]).
    pub(crate) subscribe_to: Vec<Target>,
    pub(crate) connect: ConnectParams,
    pub(crate) sources: Vec<IpAddr>,
    /// Worker processes (0: one worker thread in this process).
    pub(crate) workers: usize,
    pub(crate) mode: Mode,
    /// The soft open-files limit after raising it.
    pub(crate) nofile: u64,
    pub(crate) json: bool,
}

impl Generator {
    /// Checks the layout for `in_workers` sockets in workers and `in_main` in this process.
    pub(crate) fn new(
        target: Target,
        stomp: &StompArgs,
        heartbeat_ms: u32,
        generator: &GenArgs,
        in_workers: usize,
        in_main: usize,
    ) -> Result<Generator, UsageError> {
        for (flag, value) in [("--login", &stomp.login), ("--passcode", &stomp.passcode)] {
            if value
                .as_deref()
                .is_some_and(|v| v.contains(['\n', '\r', '\0']))
            {
                return Err(UsageError(format!(
                    "{flag} must not contain line breaks or NUL"
                )));
            }
        }
        if stomp.vhost.contains(['\n', '\r', '\0']) {
            return Err(UsageError(
                "--vhost must not contain line breaks or NUL".into(),
            ));
        }
        let nofile = limits::raise_nofile()
            .map_err(|e| UsageError(format!("reading the open-files limit: {e}")))?;
        let workers = generator.workers.unwrap_or_else(|| {
            in_workers
                .div_ceil(SOCKETS_PER_WORKER)
                .max(2)
                .min(in_workers.max(1))
        });
        if workers > 64 {
            return Err(UsageError(format!("--workers {workers}: at most 64")));
        }
        if workers > in_workers.max(1) {
            return Err(UsageError(format!(
                "--workers {workers}: more workers than the {in_workers} connections they hold"
            )));
        }
        let (mode, in_process) = if workers == 0 {
            (Mode::Threads, in_workers + in_main)
        } else {
            let exe = std::env::current_exe()
                .map_err(|e| UsageError(format!("finding this executable for --workers: {e}")))?;
            (Mode::Processes(exe), in_workers)
        };
        limits::check_workers(in_process, workers, nofile)?;
        if in_main as u64 + limits::SPARE_FDS > nofile {
            return Err(UsageError(format!(
                "{in_main} publisher sockets do not fit the open-files limit {nofile}"
            )));
        }
        let sockets = in_workers + in_main;
        let sources = target::source_addrs(
            &target,
            &generator.source_addrs,
            generator.source_addr_count,
            sockets,
        )?;
        let per_source = sockets.div_ceil(sources.len());
        if per_source > 28_000 {
            return Err(UsageError(format!(
                "{sockets} sockets over {} source address(es) is {per_source} each, more than one address's ~28000 ephemeral ports; add addresses with --source-addr-count or --source-addrs",
                sources.len()
            )));
        }
        Ok(Generator {
            connect: ConnectParams {
                login: stomp.login.clone(),
                passcode: stomp.passcode.clone(),
                host: stomp.vhost.clone(),
                heartbeat_ms,
            },
            subscribe_to: vec![target.clone()],
            target,
            sources,
            workers,
            mode,
            nofile,
            json: generator.json,
        })
    }

    /// Splits `count` connections over the workers (one spec for a worker thread).
    pub(crate) fn specs(&self, count: usize, topics: &[String]) -> Vec<WorkerSpec> {
        let n = self.workers.max(1);
        let mut first = 0;
        (0..n)
            .map(|index| {
                let share = count / n + usize::from(index < count % n);
                let spec = WorkerSpec {
                    index,
                    targets: self.subscribe_to.clone(),
                    connect: self.connect.clone(),
                    first,
                    count: share,
                    sources: self.sources.clone(),
                    topics: topics.to_vec(),
                    concurrency: CONCURRENCY,
                };
                first += share;
                spec
            })
            .collect()
    }

    /// Aims every connection at `target` (the publishers and the subscribers).
    pub(crate) fn aim_at(&mut self, target: Target) {
        self.subscribe_to = vec![target.clone()];
        self.target = target;
    }

    /// The source address of global connection `k`.
    pub(crate) fn source(&self, k: usize) -> Option<IpAddr> {
        self.sources.get(k % self.sources.len().max(1)).copied()
    }

    /// `processes` or `threads`, for reports.
    pub(crate) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Processes(_) => "processes",
            Mode::Threads => "thread",
        }
    }
}

/// Refuses a count outside `1..=max`, naming the flag.
pub(crate) fn count(flag: &str, value: usize, max: usize) -> Result<(), UsageError> {
    if value == 0 || value > max {
        return Err(UsageError(format!("{flag} {value}: expected 1 to {max}")));
    }
    Ok(())
}

/// Refuses a duration over [`MAX_TIME`] (or zero when `nonzero`), naming the flag.
pub(crate) fn time(flag: &str, value: Duration, nonzero: bool) -> Result<(), UsageError> {
    if value > MAX_TIME || (nonzero && value.is_zero()) {
        return Err(UsageError(format!(
            "{flag} {}: expected {}at most 1h",
            humantime::format_duration(value),
            if nonzero { "more than 0 and " } else { "" }
        )));
    }
    Ok(())
}
