//! `stompbox probe URL [--max-wait 130s] [--json]`: how long does the path to a STOMP endpoint
//! let an idle connection live, and which heartbeat does it need? (`stompbox_lab::probe`.)

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stompbox_lab::client::{Target, Transport};
use stompbox_lab::probe::{ProbeError, ProbeOptions, probe};

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// ws://host:port/path (STOMP over WebSocket) or http://host:port/path (SockJS, through its
    /// websocket transport), e.g. ws://127.0.0.1:8080/test-ws.
    url: String,
    /// Give up after this long without a cut, e.g. 60s.
    #[arg(long, default_value = "130s", value_name = "DURATION", value_parser = humantime::parse_duration)]
    max_wait: Duration,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// STOMP login, for servers that require one.
    #[arg(long, value_name = "NAME")]
    login: Option<String>,
    /// STOMP passcode.
    #[arg(long, value_name = "SECRET")]
    passcode: Option<String>,
}

pub(crate) fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.url).map_err(|e| UsageError(e.to_string()))?;
    if args.max_wait.is_zero() {
        return Err(UsageError("--max-wait must be longer than 0".to_string()).into());
    }
    let options = ProbeOptions {
        max_wait: args.max_wait,
        login: args.login.clone(),
        passcode: args.passcode.clone(),
        ..ProbeOptions::default()
    };
    let how = match target.transport() {
        Transport::WebSocket => "STOMP over WebSocket",
        Transport::SockJs => "SockJS websocket transport",
    };
    eprintln!(
        "probing {} ({how}): connecting, then staying silent for up to {} …",
        args.url,
        humantime::format_duration(args.max_wait)
    );
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let report = runtime
        .block_on(probe(&args.url, &options))
        .map_err(|e| match e {
            ProbeError::Url(e) => anyhow::Error::new(UsageError(e.to_string())),
            other => anyhow::Error::new(other),
        })?;
    if args.json {
        println!("{:#}", report.to_json());
    } else {
        println!("{}", report.summary());
    }
    Ok(())
}
