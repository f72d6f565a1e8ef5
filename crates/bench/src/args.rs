//! The command line of `stompbox bench` (notes/bench-spec.md).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// `stompbox bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fan-out: publishers and subscribers on one or more topics; deliveries per second and
    /// publish-to-delivery latency.
    Fanout(FanoutArgs),
    /// Idle sessions: open N STOMP sessions with heart-beats and hold them; connect rate,
    /// sessions alive, server memory per session, heart-beat timeliness.
    Idle(IdleArgs),
    /// The fan-out scenario against a broker-less broadcaster started for the run: the floor a
    /// broker's fan-out is compared to.
    RawFloor(RawFloorArgs),
    /// The raw-floor broadcaster alone: prints `listening on ADDR`, then serves.
    FloorServer(FloorServerArgs),
    /// Soak: sessions connecting, subscribing, sending and ending every way (DISCONNECT, Close,
    /// dropped socket, RST, heart-beat timeout) for a bounded time, then the accounting against
    /// the server's log: one `session closed` line per session with the right code, the
    /// registry empty, receipted queue messages delivered, memory back to its baseline.
    Soak(SoakArgs),
    /// Internal: a subscriber/session worker process (spec on stdin, JSON lines on stdout).
    #[command(hide = true)]
    Worker,
}

/// The server under test.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// STOMP-over-WebSocket endpoint (loopback only).
    #[arg(long, default_value = "ws://127.0.0.1:8081/test-ws")]
    pub url: String,
    /// The server's pid: CPU time and RSS from /proc/PID (else RSS from its /metrics).
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Prometheus endpoint with process_resident_memory_bytes [default: the --url's /metrics].
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
}

/// The server under test in a fan-out: one node, or several nodes of a cluster.
#[derive(Debug, Clone, Args)]
pub struct FanoutServerArgs {
    /// STOMP-over-WebSocket endpoint (loopback only); the publishers connect here, and the
    /// subscribers too unless --subscribe-url is given.
    #[arg(long, default_value = "ws://127.0.0.1:8081/test-ws")]
    pub url: String,
    /// Where the subscribers connect instead of --url; given several times (nodes of a
    /// cluster), the subscribers of each topic are spread round-robin over them and the
    /// report gives the latency per URL.
    #[arg(long = "subscribe-url", value_name = "URL")]
    pub subscribe_urls: Vec<String>,
    /// A server process whose CPU time and RSS are read from /proc/PID; repeat (or separate
    /// with commas) for every node of a cluster, and Redis if it counts: the report sums them
    /// and lists each.
    #[arg(long = "server-pid", value_name = "PID", value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Prometheus endpoint with process_resident_memory_bytes and process_cpu_seconds_total;
    /// repeatable like --server-pid [default, without --server-pid: the /metrics of --url and
    /// of every --subscribe-url's server].
    #[arg(long = "metrics-url", value_name = "URL")]
    pub metrics_urls: Vec<String>,
}

/// STOMP CONNECT headers.
#[derive(Debug, Clone, Args)]
pub struct StompArgs {
    /// CONNECT `login` (RabbitMQ: guest).
    #[arg(long)]
    pub login: Option<String>,
    /// CONNECT `passcode`.
    #[arg(long)]
    pub passcode: Option<String>,
    /// CONNECT `host`, the virtual host (RabbitMQ: /).
    #[arg(long, default_value = "/")]
    pub vhost: String,
}

/// How the generator spreads its sockets.
#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    /// Worker processes holding the client sockets [default: enough that each holds at most
    /// 15000, at least 2]; 0 = one worker thread in this process.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Loopback source addresses to bind client sockets to, round-robin.
    #[arg(
        long,
        value_name = "IP,IP",
        value_delimiter = ',',
        conflicts_with = "source_addr_count"
    )]
    pub source_addrs: Vec<IpAddr>,
    /// Use 127.0.0.1 … 127.0.0.K as source addresses [default: enough that none carries more
    /// than 12000 sockets].
    #[arg(long, value_name = "K")]
    pub source_addr_count: Option<usize>,
    /// Print one JSON object instead of the table (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// The fan-out load.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Subscriber connections.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Publisher connections (in this process).
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Topics; subscriber k takes topic k mod N, publishers go round-robin over all.
    #[arg(long, default_value_t = 1)]
    pub topics: usize,
    /// Body size in bytes (at least 20: the publish time).
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Messages per second summed over publishers; 0 = unthrottled.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Measured window.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Publishing before the window (not measured).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Unthrottled only: publishers pause while the deliveries in flight (published, not yet
    /// received) exceed this much time at the measured delivery rate, so the server stays
    /// saturated without seconds of backlog piling up in socket buffers (but never fewer than
    /// 1 000 000 deliveries or 4 messages in flight); 0 = no bound (TCP back-pressure only).
    #[arg(long, default_value = "250ms", value_parser = humantime::parse_duration)]
    pub backlog: Duration,
    /// Topic destination; topic i is `{destination}.{i}` when --topics > 1.
    #[arg(long, default_value = "/topic/bench")]
    pub destination: String,
}

/// `stompbox bench fanout`.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub server: FanoutServerArgs,
    #[command(flatten)]
    pub stomp: StompArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub generator: GenArgs,
}

/// `stompbox bench idle`.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub stomp: StompArgs,
    /// Sessions to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// STOMP heart-beat offered both ways (CONNECT heart-beat:H,H); 0 = none.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// How long to hold the sessions once all are open.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub hold: Duration,
    #[command(flatten)]
    pub generator: GenArgs,
}

/// `stompbox bench raw-floor`.
#[derive(Debug, Clone, Args)]
pub struct RawFloorArgs {
    #[command(flatten)]
    pub stomp: StompArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub generator: GenArgs,
}

/// `stompbox bench floor-server`.
#[derive(Debug, Clone, Args)]
pub struct FloorServerArgs {
    /// Listen address (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// `stompbox bench soak` (run by `scripts/soak`).
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub stomp: StompArgs,
    /// The server's log (its stderr at level info): one `session closed` line per session.
    #[arg(long, value_name = "FILE")]
    pub server_log: PathBuf,
    /// Also open STOMP-over-TCP sessions to this listener (loopback).
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<SocketAddr>,
    /// How long new sessions keep being started after the warm-up.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The warm-up round (same mix) before the memory baseline is taken.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Sessions open at once (each ends and is replaced by a new one).
    #[arg(long, default_value_t = 2000)]
    pub sessions: usize,
    /// Mean active time of a session (drawn from half to one and a half times it).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub life: Duration,
    /// Weights of the endings: disconnect (DISCONNECT + Close 1000), close (Close 1000 alone),
    /// drop (socket closed, no Close), reset (RST), silent (until the heart-beat timeout).
    #[arg(
        long,
        default_value = "disconnect=35,close=25,drop=15,reset=10,silent=15"
    )]
    pub endings: String,
    /// Percent of sessions over SockJS's websocket transport.
    #[arg(long, default_value_t = 20)]
    pub sockjs: u8,
    /// Percent of sessions over STOMP/TCP when --tcp is given.
    #[arg(long, default_value_t = 10)]
    pub tcp_share: u8,
    /// Topics (`/topic/soak.N`) sessions subscribe and send to.
    #[arg(long, default_value_t = 200)]
    pub topics: u32,
    /// Queues (`/queue/soak.N`); every queue SEND asks for a receipt and must be delivered.
    #[arg(long, default_value_t = 16)]
    pub queues: u32,
    /// Server RSS after the run may exceed the baseline by this many percent …
    #[arg(long, default_value_t = 10.0)]
    pub rss_tolerance: f64,
    /// … or by this many MiB, whichever is larger.
    #[arg(long, default_value_t = 8)]
    pub rss_slack_mib: u64,
    /// Random seed (printed in the report) [default: random].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Loopback source addresses 127.0.0.1 … 127.0.0.K for client sockets.
    #[arg(long, value_name = "K", default_value_t = 8)]
    pub source_addr_count: usize,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
}
