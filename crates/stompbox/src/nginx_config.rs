//! `stompbox nginx-config --upstream HOST:PORT [--listen 80] [--server-name NAME]
//! [--location /test-ws] [--heartbeat 25s]`: prints an nginx configuration for proxying STOMP
//! over WebSocket and SockJS, with timeouts above the heartbeat.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stompbox_lab::nginx::{NginxOptions, config};

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct NginxConfigArgs {
    /// The server behind nginx, HOST:PORT (e.g. 127.0.0.1:8081).
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,
    /// What nginx listens on: a port or ADDRESS:PORT.
    #[arg(long, value_name = "PORT|ADDR:PORT", default_value = "80")]
    listen: String,
    /// server_name (one or more names, separated by spaces) [default: none].
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// The endpoint path, the same on nginx and on the upstream.
    #[arg(long, value_name = "PATH", default_value = "/test-ws")]
    location: String,
    /// The server's heartbeat (SockJS `h` frames, or STOMP heart-beats without SockJS): the
    /// proxy timeouts are at least twice this plus 10s, and never below 60s.
    #[arg(long, value_name = "DURATION", default_value = "25s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
}

pub(crate) fn run(args: &NginxConfigArgs) -> anyhow::Result<()> {
    let options = NginxOptions {
        upstream: args.upstream.clone(),
        listen: args.listen.clone(),
        server_name: args.server_name.clone(),
        location: args.location.clone(),
        heartbeat: args.heartbeat,
    };
    let text = config(&options).map_err(|e| UsageError(format!("--{e}")))?;
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}
