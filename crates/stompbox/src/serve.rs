//! `stompbox serve`: configuration from file, `STOMPBOX_*` variables and flags; logging to
//! stderr; graceful shutdown on SIGINT/SIGTERM (see [`crate::signals`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stompbox_server::{Server, ServerConfig, Shutdown};
use stompbox_stomp::HeartBeat;

use crate::UsageError;
use crate::signals::Signals;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (see stompbox.example.toml). Flags and variables override it.
    #[arg(long, env = "STOMPBOX_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// HTTP/WebSocket listen address [default: 127.0.0.1:8081].
    #[arg(long, env = "STOMPBOX_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Path of the STOMP-over-WebSocket endpoint [default: /test-ws].
    #[arg(long, env = "STOMPBOX_ENDPOINT", value_name = "PATH")]
    endpoint: Option<String>,
    /// Also serve STOMP over plain TCP on this address (e.g. 127.0.0.1:61613) [default: off].
    #[arg(long, env = "STOMPBOX_TCP_LISTEN", value_name = "ADDR")]
    tcp_listen: Option<SocketAddr>,
    /// STOMP heart-beat the server offers, `send,receive` in ms [default: 10000,10000].
    #[arg(long, env = "STOMPBOX_HEART_BEAT", value_name = "SX,SY", value_parser = parse_heart_beat)]
    heart_beat: Option<HeartBeat>,
    /// Close a client silent for this many times its agreed heart-beat interval [default: 2].
    #[arg(long, env = "STOMPBOX_HEARTBEAT_GRACE", value_name = "FACTOR")]
    heartbeat_grace: Option<f64>,
    /// Close connections that send no CONNECT within this time, e.g. 30s [default: 60s].
    #[arg(long, env = "STOMPBOX_CONNECT_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    connect_timeout: Option<Duration>,
    /// Largest STOMP frame in bytes; larger ones close with 1009 [default: 65536].
    #[arg(long, env = "STOMPBOX_MAX_FRAME_SIZE", value_name = "BYTES")]
    max_frame_size: Option<usize>,
    /// Most subscriptions per session [default: 1000].
    #[arg(long, env = "STOMPBOX_MAX_SUBSCRIPTIONS", value_name = "N")]
    max_subscriptions: Option<usize>,
    /// Most bytes queued for one session; a message over it closes the session with 4500 (slow consumer) [default: 1048576].
    #[arg(long, env = "STOMPBOX_SEND_BUFFER_LIMIT", value_name = "BYTES")]
    send_buffer_limit: Option<usize>,
    /// Longest a session's queue may stay congested before it is closed with 4500 (slow consumer), e.g. 10s [default: 10s].
    #[arg(long, env = "STOMPBOX_SEND_TIME_LIMIT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    send_time_limit: Option<Duration>,
    /// SockJS heartbeat: an `h` frame after this much silence, e.g. 25s [default: 25s].
    #[arg(long, env = "STOMPBOX_SOCKJS_HEARTBEAT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    sockjs_heartbeat: Option<Duration>,
    /// Close a SockJS session that has had no receiving connection for this long [default: 5s].
    #[arg(long, env = "STOMPBOX_SOCKJS_DISCONNECT_DELAY", value_name = "DURATION", value_parser = humantime::parse_duration)]
    sockjs_disconnect_delay: Option<Duration>,
    /// Browser origins allowed besides the server's own, comma-separated host:port patterns or
    /// origins; `*` allows any site [default: none, same origin only].
    #[arg(
        long,
        env = "STOMPBOX_ALLOWED_ORIGINS",
        value_name = "PATTERNS",
        value_delimiter = ','
    )]
    allowed_origins: Option<Vec<String>>,
    /// Most connections at once (WebSocket, SockJS and TCP); 0 = no limit [default: 50000].
    #[arg(long, env = "STOMPBOX_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Most STOMP frames per second per session (ERROR, then 1008); 0 = no limit [default: 0].
    #[arg(long, env = "STOMPBOX_MAX_INBOUND_RATE", value_name = "FRAMES")]
    max_inbound_rate: Option<u32>,
    /// Most messages one queue keeps for want of a consumer; a SEND over it gets an ERROR and
    /// 1013 [default: 100000].
    #[arg(long, env = "STOMPBOX_MAX_QUEUE_DEPTH", value_name = "N")]
    max_queue_depth: Option<usize>,
    /// On SIGTERM/SIGINT, close sessions with 1012 Service Restart instead of 1001 Going Away
    /// (clients reconnect knowing the server comes back).
    #[arg(long)]
    restart: bool,
    /// On SIGTERM/SIGINT, wait at most this long for sessions to close, e.g. 10s [default: 5s].
    #[arg(long, env = "STOMPBOX_SHUTDOWN_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    shutdown_timeout: Option<Duration>,
    /// PEM certificate chain: serve HTTPS/WSS only (and STOMP over TLS on --tcp-listen); needs
    /// --tls-key [default: off].
    #[arg(long, env = "STOMPBOX_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "STOMPBOX_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Join a cluster through this Redis server, e.g. redis://127.0.0.1:6379: topics, user
    /// destinations and queues are shared by every node [default: off, a single node].
    #[arg(long, env = "STOMPBOX_CLUSTER", value_name = "URL")]
    cluster: Option<String>,
    /// For a rediss:// --cluster URL: PEM certificate(s) to trust for the Redis server (a
    /// private CA) [default: the system's roots].
    #[arg(long, env = "STOMPBOX_CLUSTER_CA", value_name = "FILE")]
    cluster_ca: Option<PathBuf>,
    /// Name of the cluster to join; nodes with the same name share their destinations
    /// [default: default].
    #[arg(long, env = "STOMPBOX_CLUSTER_NAME", value_name = "NAME")]
    cluster_name: Option<String>,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,stompbox::session=debug`.
    #[arg(
        long,
        env = "STOMPBOX_LOG",
        value_name = "FILTER",
        default_value = "info"
    )]
    log: String,
}

fn parse_heart_beat(s: &str) -> Result<HeartBeat, String> {
    HeartBeat::parse(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// Defaults, then the file, then variables and flags.
    fn config(&self) -> anyhow::Result<ServerConfig> {
        let mut config = match &self.config {
            Some(path) => {
                ServerConfig::from_file(path).map_err(|e| UsageError(format!("--config: {e}")))?
            }
            None => ServerConfig::default(),
        };
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = &self.endpoint {
            if !v.starts_with('/') {
                return Err(UsageError(format!("--endpoint `{v}` must start with /")).into());
            }
            config.endpoint = v.clone();
        }
        if self.tcp_listen.is_some() {
            config.tcp_listen = self.tcp_listen;
        }
        if let Some(v) = self.heart_beat {
            config.stomp.heart_beat = v.to_string();
        }
        if let Some(v) = self.heartbeat_grace {
            config.stomp.heartbeat_grace = v;
        }
        if let Some(v) = self.connect_timeout {
            config.stomp.connect_timeout = v;
        }
        if let Some(v) = self.max_frame_size {
            config.limits.max_frame_size = v;
        }
        if let Some(v) = self.sockjs_heartbeat {
            config.sockjs.heartbeat = v;
        }
        if let Some(v) = self.sockjs_disconnect_delay {
            config.sockjs.disconnect_delay = v;
        }
        if let Some(v) = self.max_subscriptions {
            config.stomp.max_subscriptions = v;
        }
        if let Some(v) = &self.allowed_origins {
            // `--allowed-origins ""`: none besides the server's own.
            let listed = v.iter().map(|o| o.trim()).filter(|o| !o.is_empty());
            config.allowed_origins = listed.map(str::to_string).collect();
        }
        if let Some(v) = self.max_connections {
            config.limits.max_connections = v;
        }
        if let Some(v) = self.max_inbound_rate {
            config.limits.max_inbound_rate = v;
        }
        if let Some(v) = self.max_queue_depth {
            config.limits.max_queue_depth = v;
        }
        if let Some(v) = self.shutdown_timeout {
            config.shutdown_timeout = v;
        }
        if let Some(v) = &self.tls_cert {
            config.tls.cert = Some(v.clone());
        }
        if let Some(v) = &self.tls_key {
            config.tls.key = Some(v.clone());
        }
        if let Some(v) = self.send_buffer_limit {
            config.limits.send_buffer_limit = v;
        }
        if let Some(v) = self.send_time_limit {
            config.limits.send_time_limit = v;
        }
        if let Some(v) = &self.cluster {
            config.cluster.redis_url = Some(v.clone());
        }
        if let Some(v) = &self.cluster_ca {
            config.cluster.redis_ca = Some(v.clone());
        }
        if let Some(v) = &self.cluster_name {
            config.cluster.name = v.clone();
        }
        config.broker_config().map_err(|e| {
            UsageError(format!(
                "{e} (check the flag, variable or file that sets it)"
            ))
        })?;
        config.tls.check().map_err(|e| {
            UsageError(format!(
                "{e} (set by --tls-cert/--tls-key, STOMPBOX_TLS_CERT/STOMPBOX_TLS_KEY or [tls] in the config file)"
            ))
        })?;
        Ok(config)
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| UsageError(format!("--log `{}`: {e}", args.log)))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = args.config()?;
    let shutdown = match args.restart {
        true => Shutdown::Restart,
        false => Shutdown::GoingAway,
    };
    raise_open_files_limit();
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let signals = Signals::install().context("installing the SIGINT/SIGTERM handlers")?;
        let server = Server::bind(config.clone()).await?;
        let cluster = join_cluster(&config, &server).await?;
        let addr = server.local_addr();
        let (ws, http, tcp) = match config.tls.enabled() {
            true => ("wss", "https", "TLS"),
            false => ("ws", "http", "TCP"),
        };
        tracing::info!(
            "stompbox listening: STOMP over WebSocket at {ws}://{addr}{}, health at {http}://{addr}/healthz, metrics at {http}://{addr}/metrics",
            config.endpoint
        );
        if let Some(addr) = server.tcp_addr() {
            tracing::info!("STOMP over {tcp} at {addr}");
        }
        server.run(signals.shutdown(shutdown)).await?;
        if let Some(membership) = &cluster {
            // What the closed sessions held goes back to the other nodes now.
            membership.cluster.leave(Duration::from_secs(5)).await;
        }
        tracing::info!("stompbox stopped");
        anyhow::Ok(())
    })
}

/// Joins the cluster when `cluster.redis_url` is set (`--cluster`, `STOMPBOX_CLUSTER`) and
/// shares the server's statistics with it; the membership lasts as long as the returned value.
async fn join_cluster(
    config: &ServerConfig,
    server: &Server,
) -> anyhow::Result<Option<std::sync::Arc<crate::cluster_stats::Membership>>> {
    let Some(url) = &config.cluster.redis_url else {
        return Ok(None);
    };
    let cluster_config = stompbox_cluster::ClusterConfig {
        name: config.cluster.name.clone(),
        node_timeout: config.cluster.node_timeout,
        redis_ca: config.cluster.redis_ca.clone(),
        ..stompbox_cluster::ClusterConfig::new(url.clone())
    };
    let joined = stompbox_cluster::Cluster::start(&cluster_config, server.broker().clone())
        .await
        .and_then(|cluster| crate::cluster_stats::share(cluster, &cluster_config, server));
    match joined {
        Ok(membership) => Ok(Some(membership)),
        Err(e) if e.is_usage() => Err(UsageError(format!(
            "{e} (set by --cluster/--cluster-name/--cluster-ca, STOMPBOX_CLUSTER/STOMPBOX_CLUSTER_NAME/STOMPBOX_CLUSTER_CA or [cluster] in the config file)"
        ))
        .into()),
        Err(e) => Err(anyhow::Error::new(e).context("joining the cluster (--cluster)")),
    }
}

/// Each connection holds a file descriptor: raise the soft RLIMIT_NOFILE to the hard limit and
/// say what caps the number of sessions.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(
            "open files limit (RLIMIT_NOFILE): {limit} (soft limit raised to the hard limit); it caps concurrent connections"
        ),
        Err(e) => tracing::warn!("could not raise the open files limit (RLIMIT_NOFILE): {e}"),
    }
}
