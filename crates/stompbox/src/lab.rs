//! `stompbox lab 1006`: the seed's experiment in one command (see `stompbox_lab::experiment`).

use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use stompbox_lab::experiment::{self, ExperimentConfig};

use crate::UsageError;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Experiment {
    /// An idle-timeout proxy cuts an idle SockJS connection before the server's heartbeat.
    #[value(name = "1006")]
    Abnormal,
}

#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// The experiment to run.
    #[arg(value_enum)]
    experiment: Experiment,
    /// The server's SockJS heartbeat in the first run (the seed's 25 s).
    #[arg(long, default_value = "25s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// The proxy's read timeout (the seed's `proxy_read_timeout 10s`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    proxy_timeout: Duration,
    /// The heartbeat of the fixed run, shorter than the proxy timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    fixed_heartbeat: Duration,
    /// How long the fixed run keeps the idle connection.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    hold: Duration,
}

pub(crate) fn run(args: &LabArgs) -> anyhow::Result<()> {
    let Experiment::Abnormal = args.experiment;
    let config = ExperimentConfig {
        heartbeat: args.heartbeat,
        proxy_timeout: args.proxy_timeout,
        fixed_heartbeat: args.fixed_heartbeat,
        hold: args.hold,
    };
    config.validate().map_err(|e| UsageError(e.to_string()))?;
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let report = runtime.block_on(experiment::run(config, &mut |line| println!("{line}")))?;
    println!(
        "\nresult: seed setup → server code {} after {:.1} s of server silence (client saw {}); fix → {} heartbeats, closed normally with {}",
        report.broken.server_status.code,
        report.broken.server_idle.as_secs_f64(),
        report.broken.client_code,
        report.fixed.heartbeats,
        report.fixed.server_status.code
    );
    Ok(())
}
