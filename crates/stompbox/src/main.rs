//! The `stompbox` binary: the command line only. Each subcommand wires library crates together.

#![forbid(unsafe_code)]

mod cluster_stats;
mod explain;
mod hash_password;
mod lab;
mod nginx_config;
mod probe;
mod proxy;
mod serve;
mod signals;
mod sockjs_test_server;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// stompbox: a STOMP message server over WebSocket and TCP whose every connection close is
/// visible and explained.
#[derive(Debug, Parser)]
#[command(name = "stompbox", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (STOMP over WebSocket at ws://127.0.0.1:8081/test-ws by default).
    Serve(Box<serve::ServeArgs>),
    /// Explain a WebSocket close code: meaning, who sends it, usual causes, fixes.
    Explain(explain::ExplainArgs),
    /// Run the seed's experiment in one command: `stompbox lab 1006` (server, idle-timeout proxy
    /// and a SockJS client on loopback; the 1006, then the fix).
    Lab(lab::LabArgs),
    /// Show a running server's close analytics: closes by code, server silence before abnormal
    /// closes, and the idle timeouts detected on the path to clients.
    Stats(stats::StatsArgs),
    /// Serve the endpoints SockJS protocol test suites expect (/echo, /close, ...), with echo
    /// instead of STOMP behind them.
    SockjsTestServer(sockjs_test_server::TestServerArgs),
    /// Forward TCP like nginx with proxy_read_timeout / proxy_send_timeout: cut idle connections
    /// with a plain TCP close (the server then logs 1006), logging each cut.
    Proxy(proxy::ProxyArgs),
    /// Measure how long the path to a STOMP endpoint lets an idle connection live, and the
    /// heartbeat it needs.
    Probe(probe::ProbeArgs),
    /// Print an nginx configuration for proxying STOMP over WebSocket and SockJS to a server,
    /// with proxy timeouts safely above its heartbeat (the seed's 1006 fixed).
    NginxConfig(nginx_config::NginxConfigArgs),
    /// Load-test a STOMP-over-WebSocket server on this machine: fan-out throughput and latency,
    /// idle sessions, and the raw broadcast floor a broker is compared to.
    Bench(Box<stompbox_bench::BenchArgs>),
    /// Read a password from standard input (one line) and print its argon2id hash for
    /// `[auth] users` in the config file.
    HashPassword(hash_password::HashPasswordArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Explain(args) => explain::run(&args),
        Command::Lab(args) => lab::run(&args),
        Command::Stats(args) => stats::run(&args),
        Command::SockjsTestServer(args) => sockjs_test_server::run(&args),
        Command::Proxy(args) => proxy::run(&args),
        Command::Probe(args) => probe::run(&args),
        Command::NginxConfig(args) => nginx_config::run(&args),
        Command::Bench(args) => stompbox_bench::run(*args),
        Command::HashPassword(args) => hash_password::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Usage errors (bad values) exit 2 like clap's own; failures at run time exit 1.
            if let Some(usage) = error.downcast_ref::<UsageError>() {
                eprintln!("error: {usage}");
                return ExitCode::from(2);
            }
            if let Some(usage) = error.downcast_ref::<stompbox_bench::UsageError>() {
                eprintln!("error: {usage}");
                return ExitCode::from(2);
            }
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// Bad input on the command line (or in the config it names): exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
