//! `stompbox proxy --listen ADDR --upstream ADDR --read-timeout 10s [--send-timeout D]`: the
//! lab's idle-timeout forwarder (nginx's `proxy_read_timeout` / `proxy_send_timeout`, see
//! `stompbox_lab::proxy`) in front of a server; each cut is logged to stderr.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stompbox_lab::proxy::{Proxy, ProxyConfig};

use crate::UsageError;

#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Listen address (where the README's nginx listens).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// The server to forward to, host:port.
    #[arg(long, default_value = "127.0.0.1:8081", value_name = "ADDR")]
    upstream: String,
    /// Like nginx's proxy_read_timeout: cut after this long without upstream data — without
    /// data either way once the connection is upgraded to WebSocket, as nginx does — e.g. 10s;
    /// `off` never cuts. The default is nginx's.
    #[arg(long, default_value = "60s", value_name = "DURATION", value_parser = parse_limit)]
    read_timeout: Limit,
    /// Like nginx's proxy_send_timeout: cut when a write to the upstream makes no progress for
    /// this long (an upstream that stopped reading; an idle connection never trips it).
    #[arg(long, default_value = "off", value_name = "DURATION", value_parser = parse_limit)]
    send_timeout: Limit,
    /// Log filter (tracing EnvFilter syntax); `debug` also logs ordinary closes.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
}

/// A timeout or `off`.
#[derive(Debug, Clone, Copy)]
struct Limit(Option<Duration>);

fn parse_limit(s: &str) -> Result<Limit, String> {
    if s == "off" || s == "0" {
        return Ok(Limit(None));
    }
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 10s, 1m, off)"))?;
    Ok(Limit((!d.is_zero()).then_some(d)))
}

fn show(limit: Limit) -> String {
    limit
        .0
        .map(|d| humantime::format_duration(d).to_string())
        .unwrap_or_else(|| "off".to_string())
}

pub(crate) fn run(args: &ProxyArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| UsageError(format!("--log `{}`: {e}", args.log)))?;
    let upstream = args
        .upstream
        .to_socket_addrs()
        .map_err(|e| UsageError(format!("--upstream `{}`: {e}", args.upstream)))?
        .next()
        .ok_or_else(|| UsageError(format!("--upstream `{}`: no address", args.upstream)))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = ProxyConfig {
        listen: args.listen,
        upstream,
        read_timeout: args.read_timeout.0,
        send_timeout: args.send_timeout.0,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let proxy = Proxy::bind(config).await?;
        tracing::info!(
            "stompbox proxy listening on {} -> {upstream} (read timeout {}, send timeout {}); each cut is logged here",
            proxy.local_addr(),
            show(args.read_timeout),
            show(args.send_timeout),
        );
        proxy
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
        anyhow::Ok(())
    })
}
