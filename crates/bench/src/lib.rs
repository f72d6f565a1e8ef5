//! `stompbox bench`: a load generator for any STOMP-over-WebSocket server (stompbox, RabbitMQ
//! Web-STOMP, …) and `raw-floor`, a broker-less broadcaster that sends one pre-encoded frame to
//! N sockets: the floor a broker's fan-out is compared to.
//!
//! The main process runs the publishers and the report; subscriber and idle sessions live in
//! worker processes (`stompbox bench worker`, one current-thread runtime each) that read a JSON
//! spec on stdin and write JSON lines on stdout, so a run can hold more sockets than one
//! process's open-files limit. Client sockets are bound to loopback source addresses
//! (127.0.0.1, 127.0.0.2, …) round-robin so that no address runs out of ephemeral ports.
//! Conventions shared with the floor are in notes/bench-spec.md.

#![forbid(unsafe_code)]

mod args;
mod bar;
mod control;
mod fanout;
pub mod floor;
mod hist;
mod idle;
mod limits;
mod plan;
mod pool;
mod procstat;
mod proto;
mod publisher;
pub mod report;
mod session;
mod soak;
mod soak_check;
mod soak_plan;
mod soak_report;
mod soak_session;
mod soak_wire;
mod stomp;
mod target;
mod worker;
mod wsclient;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::io::AsyncBufReadExt;

pub use args::{
    BenchArgs, BenchCommand, FanoutArgs, FanoutServerArgs, FloorServerArgs, GenArgs, IdleArgs,
    LoadArgs, RawFloorArgs, ServerArgs, SoakArgs, StompArgs,
};
pub use procstat::{Probe, Sample};
pub use report::{FanoutReport, IdleReport, Report};

use plan::Generator;
use target::Target;

/// Bad input on the command line: the message names the flag.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Now, in ns since the UNIX epoch (the clock every process of a run shares).
pub(crate) fn epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs `stompbox bench …`: the report goes to stdout (a table, or one JSON object with
/// `--json`), progress to stderr.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let json = match &args.command {
        BenchCommand::Worker => return worker::process_main(),
        BenchCommand::FloorServer(a) => return floor_server(a),
        BenchCommand::Soak(a) => return soak_main(a),
        BenchCommand::Fanout(a) => a.generator.json,
        BenchCommand::Idle(a) => a.generator.json,
        BenchCommand::RawFloor(a) => a.generator.json,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            report = execute(&args.command) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// Runs a scenario and returns its report (workers are stopped on every path: dropping the
/// future kills them).
pub async fn execute(command: &BenchCommand) -> anyhow::Result<Report> {
    match command {
        BenchCommand::Fanout(a) => {
            fanout::check(&a.load)?;
            let (target, subscribe_to, probes) = fanout_side(&a.server)?;
            let mut generator = Generator::new(
                target,
                &a.stomp,
                0,
                &a.generator,
                a.load.subscribers,
                a.load.publishers,
            )?;
            if !subscribe_to.is_empty() {
                generator.subscribe_to = subscribe_to;
            }
            Ok(Report::Fanout(
                fanout::run("fanout", &a.load, &generator, &probes).await?,
            ))
        }
        BenchCommand::Idle(a) => {
            let heartbeat = idle::check(a)?;
            let (target, probe) = server_side(&a.server)?;
            let generator =
                Generator::new(target, &a.stomp, heartbeat, &a.generator, a.sessions, 0)?;
            Ok(Report::Idle(idle::run(a, &generator, &probe).await?))
        }
        BenchCommand::RawFloor(a) => Ok(Report::Fanout(raw_floor(a).await?)),
        BenchCommand::FloorServer(_) | BenchCommand::Worker | BenchCommand::Soak(_) => {
            Err(anyhow::anyhow!(
                "`bench floor-server`, `bench worker` and `bench soak` are run by `stompbox::bench::run`"
            ))
        }
    }
}

/// `stompbox bench soak`: the report as a table (or JSON), also to `--report`; an error naming
/// every failure when the accounting does not add up.
fn soak_main(a: &SoakArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = runtime.block_on(async {
        tokio::select! {
            report = soak::run(a) => report,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    })?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &a.report {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("--report {}", path.display()))?;
    }
    if a.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    if !report.ok {
        anyhow::bail!("soak failed: {}", report.failures.join("; "));
    }
    Ok(())
}

/// The target of `--url` and where its CPU and memory are read.
fn server_side(a: &ServerArgs) -> Result<(Target, Probe), UsageError> {
    let target = Target::parse(&a.url, "--url")?;
    let probe = Probe::choose(a.server_pid, a.metrics_url.as_deref(), &target)?;
    Ok((target, probe))
}

/// A fan-out's `--url`, its `--subscribe-url`s (loopback, several allowed) and the server
/// processes whose CPU and memory are read.
fn fanout_side(a: &FanoutServerArgs) -> Result<(Target, Vec<Target>, Vec<Probe>), UsageError> {
    let target = Target::parse(&a.url, "--url")?;
    let subscribe_to = a
        .subscribe_urls
        .iter()
        .map(|u| Target::parse(u, "--subscribe-url"))
        .collect::<Result<Vec<_>, _>>()?;
    if subscribe_to.len() > 64 {
        return Err(UsageError(format!(
            "--subscribe-url given {} times: at most 64",
            subscribe_to.len()
        )));
    }
    let servers: Vec<&Target> = std::iter::once(&target).chain(&subscribe_to).collect();
    let probes = Probe::choose_all(&a.server_pids, &a.metrics_urls, &servers)?;
    Ok((target, subscribe_to, probes))
}

/// Starts `<exe> bench floor-server`, runs the fan-out against it, stops it.
async fn raw_floor(a: &RawFloorArgs) -> anyhow::Result<FanoutReport> {
    fanout::check(&a.load)?;
    let placeholder = Target::parse("ws://127.0.0.1:9/", "--url")?;
    let mut generator = Generator::new(
        placeholder,
        &a.stomp,
        0,
        &a.generator,
        a.load.subscribers,
        a.load.publishers,
    )?;
    let exe = std::env::current_exe().context("finding this executable for the floor server")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["bench", "floor-server", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the floor server")?;
    let stdout = child.stdout.take().context("floor server stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .context("the floor server did not say where it listens within 10 s")??
        .context("the floor server exited before listening")?;
    let addr = line
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected floor server output {line:?}"))?;
    generator.aim_at(Target::parse(&format!("ws://{addr}/"), "--url")?);
    let pid = child.id().context("the floor server has no pid")?;
    let result = fanout::run("raw-floor", &a.load, &generator, &[Probe::Pid(pid)]).await;
    let _ = child.kill().await;
    result
}

/// `stompbox bench floor-server`: binds, prints `listening on ADDR`, serves until SIGINT or
/// SIGTERM.
fn floor_server(a: &FloorServerArgs) -> anyhow::Result<()> {
    if !a.listen.ip().is_loopback() {
        return Err(UsageError(format!("--listen {}: only loopback addresses", a.listen)).into());
    }
    let _ = limits::raise_nofile();
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("--listen {}", a.listen))?;
        println!("listening on {}", listener.local_addr()?);
        use std::io::Write as _;
        std::io::stdout().flush()?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            served = floor::serve(listener) => served.context("the floor server failed")?,
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })
}
