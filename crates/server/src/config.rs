//! Server configuration: a TOML file (see `stompbox.example.toml`), then `STOMPBOX_*` environment
//! variables and command-line flags on top (applied by the binary). Every field states its default.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use stompbox_broker::BrokerConfig;
use stompbox_stomp::{HeartBeat, Limits, Version};

/// Everything `stompbox serve` can be told.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP/WebSocket listen address. Default: `127.0.0.1:8081` (the seed's backend port).
    pub listen: SocketAddr,
    /// The STOMP-over-WebSocket endpoint path. Default: `/test-ws` (the seed's endpoint).
    pub endpoint: String,
    /// STOMP over plain TCP listen address. Default: off (61613 is the usual port).
    pub tcp_listen: Option<SocketAddr>,
    /// STOMP settings.
    pub stomp: StompConfig,
    /// Size limits.
    pub limits: LimitsConfig,
    /// SockJS at the same endpoint.
    pub sockjs: SockJsConfig,
    /// Browser origins allowed besides the server's own, for WebSocket upgrades and SockJS:
    /// `host:port` patterns (`*` for any part, `*.example.com` for subdomains) or full origins
    /// (`https://app.example.com`); `["*"]` allows every site. Others get 403; requests without
    /// an `Origin` (non-browser clients) are always allowed. Default: `[]` (same origin only).
    pub allowed_origins: Vec<String>,
    /// TLS on the listeners. Default: off.
    pub tls: crate::tls::TlsConfig,
    /// On SIGTERM/SIGINT, how long to wait for sessions to take their close (1001, or 1012 with
    /// `serve --restart`) before exiting anyway. Default: `"5s"`.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Authentication on CONNECT and the ACL for SUBSCRIBE/SEND. Default: everyone, everything.
    pub auth: crate::auth_config::AuthConfig,
    /// Joining other nodes through Redis. Default: off (a single node).
    pub cluster: ClusterSection,
}

/// `[cluster]`: several nodes sharing topics, user destinations (Redis pub/sub) and queues
/// (Redis streams) through one Redis (crates/cluster; the binary starts it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// The Redis server, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS). Default: none
    /// (clustering off).
    pub redis_url: Option<String>,
    /// For `rediss://`: PEM certificate(s) to trust for the Redis server instead of the
    /// system's roots. Default: none.
    pub redis_ca: Option<std::path::PathBuf>,
    /// Nodes with the same name share their destinations. Default: `"default"`.
    pub name: String,
    /// How long after a node stops refreshing its liveness key in Redis (it was killed, or cut
    /// from Redis) the other nodes take over its unacknowledged queue messages. Default: `"10s"`.
    #[serde(with = "humantime_serde")]
    pub node_timeout: Duration,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            redis_url: None,
            redis_ca: None,
            name: "default".to_string(),
            node_timeout: Duration::from_secs(10),
        }
    }
}

/// `[sockjs]`: the SockJS server mounted at the endpoint (`<endpoint>/info`,
/// `<endpoint>/<server>/<session>/<transport>`, raw WebSocket at `<endpoint>/websocket`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SockJsConfig {
    /// Serve SockJS at the endpoint. Default: true.
    pub enabled: bool,
    /// Send `h` after this much silence on a session (skipped when STOMP heart-beats were
    /// negotiated, like Spring). Default: `"25s"` (what the seed observes).
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// Close a session that has had no receiving connection for this long. Default: `"5s"`.
    #[serde(with = "humantime_serde")]
    pub disconnect_delay: Duration,
    /// A streaming response ends after this many bytes; the client reconnects. Default: 131072.
    pub response_limit: usize,
    /// Offer the WebSocket transport in `/info`. Default: true.
    pub websocket: bool,
    /// Ask clients for `JSESSIONID` cookies (sticky sessions behind a load balancer). Default: false.
    pub cookie_needed: bool,
    /// Where the iframe page loads sockjs-client from. Default: empty, meaning the copy the server
    /// serves itself at `<endpoint>/sockjs.min.js`.
    pub client_url: String,
    /// Deprecated alias of the top-level `allowed_origins` (both lists apply). Default: `[]`.
    pub origins: Vec<String>,
}

/// `[stomp]`: protocol settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StompConfig {
    /// Heart-beat the server offers, `send,receive` in ms. Default: `"10000,10000"`.
    pub heart_beat: String,
    /// A client silent for `grace ×` its agreed heart-beat interval is closed with 4408.
    /// Default: 2.0.
    pub heartbeat_grace: f64,
    /// Close connections that send no CONNECT within this time (4408). Default: `"60s"`.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Versions to speak. Default: `["1.0", "1.1", "1.2"]`.
    pub versions: Vec<String>,
    /// Most subscriptions per session. Default: 1000.
    pub max_subscriptions: usize,
    /// Install the demo handler at `/app/hello` (greets on `/topic/greetings`). Default: true.
    pub hello_app: bool,
}

/// `[limits]`: sizes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest STOMP frame; larger ones close the session with 1009. Default: 65536.
    pub max_frame_size: usize,
    /// Most headers per frame (1009 when exceeded). Default: 64.
    pub max_headers: usize,
    /// Longest header line (1009 when exceeded). Default: 8192.
    pub max_header_len: usize,
    /// Ignored, kept so that existing files still load: WebSocket connections no longer keep a
    /// read buffer (reads go through one buffer per thread; only an incomplete frame is held).
    /// Default: 4096.
    pub ws_read_buffer: usize,
    /// Bytes queued for one connection above which the sessions publishing to it stop being
    /// read (back-pressure, through TCP) until it is down to half. Default: 262144 (256 KiB):
    /// larger values bought no fan-out throughput in measurements, only memory under load.
    pub outbox_high_water: usize,
    /// Most connections at once (WebSocket, SockJS sessions and STOMP/TCP together); over it a
    /// WebSocket upgrade gets 503, a new SockJS session `c[1013,"Try Again Later"]`, a TCP
    /// connection an ERROR frame. 0 = no limit. Default: 50000.
    pub max_connections: usize,
    /// Most STOMP frames per second one session may send on average; over it: ERROR, then
    /// close 1008. 0 = no limit. Default: 0.
    pub max_inbound_rate: u32,
    /// Frames one session may send at once before `max_inbound_rate` applies; 0 = one
    /// second's worth. Default: 0.
    pub inbound_burst: u32,
    /// Most messages one queue keeps for want of a consumer; a SEND over it gets an ERROR and
    /// the session closes with 1013 (nothing is dropped silently). Default: 100000.
    pub max_queue_depth: usize,
    /// Most bytes queued for one connection or SockJS session (like Spring's
    /// `sendBufferSizeLimit`): a message that would queue more closes it with 4500 (slow
    /// consumer). At least `outbox_high_water`. Default: 1048576 (1 MiB).
    pub send_buffer_limit: usize,
    /// Longest a connection's queue may stay above `outbox_high_water` without draining to half
    /// of it (like Spring's `sendTimeLimit`); then it is closed with 4500 (slow consumer) and
    /// the publishers waiting for it go on. Default: `"10s"`.
    #[serde(with = "humantime_serde")]
    pub send_time_limit: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            endpoint: "/test-ws".to_string(),
            tcp_listen: None,
            stomp: StompConfig::default(),
            limits: LimitsConfig::default(),
            sockjs: SockJsConfig::default(),
            allowed_origins: Vec::new(),
            tls: crate::tls::TlsConfig::default(),
            shutdown_timeout: Duration::from_secs(5),
            auth: crate::auth_config::AuthConfig::default(),
            cluster: ClusterSection::default(),
        }
    }
}

impl Default for SockJsConfig {
    fn default() -> Self {
        SockJsConfig {
            enabled: true,
            heartbeat: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            response_limit: 128 * 1024,
            websocket: true,
            cookie_needed: false,
            client_url: String::new(),
            origins: Vec::new(),
        }
    }
}

impl Default for StompConfig {
    fn default() -> Self {
        StompConfig {
            heart_beat: "10000,10000".to_string(),
            heartbeat_grace: 2.0,
            connect_timeout: Duration::from_secs(60),
            versions: vec!["1.0".into(), "1.1".into(), "1.2".into()],
            max_subscriptions: 1000,
            hello_app: true,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = Limits::default();
        LimitsConfig {
            max_frame_size: l.max_frame_size,
            max_headers: l.max_headers,
            max_header_len: l.max_header_len,
            ws_read_buffer: 4096,
            outbox_high_water: 256 * 1024,
            max_connections: 50_000,
            max_inbound_rate: 0,
            inbound_burst: 0,
            max_queue_depth: 100_000,
            send_buffer_limit: 1 << 20,
            send_time_limit: Duration::from_secs(10),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The parse error.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting `{field}`: {why}")]
    Invalid {
        /// The setting's name as in the file.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl ServerConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<ServerConfig, ConfigError> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: "<text>".to_string(),
            source: Box::new(e),
        })?;
        config.broker_config()?;
        Ok(config)
    }

    /// The broker settings these describe, or the first invalid setting.
    pub fn broker_config(&self) -> Result<BrokerConfig, ConfigError> {
        let heart_beat =
            HeartBeat::parse(&self.stomp.heart_beat).map_err(|e| ConfigError::Invalid {
                field: "stomp.heart_beat",
                why: e.to_string(),
            })?;
        if !self.endpoint.starts_with('/') || self.endpoint == "/" || self.endpoint.ends_with('/') {
            return Err(ConfigError::Invalid {
                field: "endpoint",
                why: format!(
                    "`{}` must start with / and name a path (e.g. /test-ws), without a trailing /",
                    self.endpoint
                ),
            });
        }
        for (field, value) in [
            ("sockjs.heartbeat", self.sockjs.heartbeat),
            ("sockjs.disconnect_delay", self.sockjs.disconnect_delay),
            ("shutdown_timeout", self.shutdown_timeout),
            ("limits.send_time_limit", self.limits.send_time_limit),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    field,
                    why: "must be longer than 0 s".into(),
                });
            }
        }
        if self.cluster.node_timeout < Duration::from_secs(1) {
            return Err(ConfigError::Invalid {
                field: "cluster.node_timeout",
                why: format!(
                    "{} is under 1 s: a node would be taken for dead at its first slow Redis round trip",
                    humantime::format_duration(self.cluster.node_timeout)
                ),
            });
        }
        self.auth.validate()?;
        self.tls.validate()?;
        crate::gate::origin_policy(self)?;
        if self.limits.send_buffer_limit < self.limits.outbox_high_water {
            return Err(ConfigError::Invalid {
                field: "limits.send_buffer_limit",
                why: format!(
                    "{} is below limits.outbox_high_water ({}): consumers would be closed as slow before their publishers are ever paused",
                    self.limits.send_buffer_limit, self.limits.outbox_high_water
                ),
            });
        }
        if !(self.stomp.heartbeat_grace >= 1.0 && self.stomp.heartbeat_grace <= 100.0) {
            return Err(ConfigError::Invalid {
                field: "stomp.heartbeat_grace",
                why: format!("{} is not between 1 and 100", self.stomp.heartbeat_grace),
            });
        }
        let mut versions = Vec::new();
        for v in &self.stomp.versions {
            versions.push(Version::parse(v).ok_or_else(|| ConfigError::Invalid {
                field: "stomp.versions",
                why: format!("`{v}` is not one of 1.0, 1.1, 1.2"),
            })?);
        }
        if versions.is_empty() {
            return Err(ConfigError::Invalid {
                field: "stomp.versions",
                why: "at least one version is needed".into(),
            });
        }
        for (field, value) in [
            ("limits.max_frame_size", self.limits.max_frame_size),
            ("limits.max_headers", self.limits.max_headers),
            ("limits.max_header_len", self.limits.max_header_len),
            ("limits.ws_read_buffer", self.limits.ws_read_buffer),
            ("limits.outbox_high_water", self.limits.outbox_high_water),
            ("stomp.max_subscriptions", self.stomp.max_subscriptions),
            ("limits.max_queue_depth", self.limits.max_queue_depth),
            ("sockjs.response_limit", self.sockjs.response_limit),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    why: "must be greater than 0".into(),
                });
            }
        }
        Ok(BrokerConfig {
            heart_beat,
            heartbeat_grace: self.stomp.heartbeat_grace,
            connect_timeout: self.stomp.connect_timeout,
            versions,
            limits: Limits {
                max_frame_size: self.limits.max_frame_size,
                max_headers: self.limits.max_headers,
                max_header_len: self.limits.max_header_len,
            },
            max_subscriptions: self.stomp.max_subscriptions,
            max_sessions: self.limits.max_connections,
            max_inbound_rate: self.limits.max_inbound_rate,
            inbound_burst: self.limits.inbound_burst,
            max_queue_depth: self.limits.max_queue_depth,
            ..BrokerConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_matches_the_seed_backend() {
        let text = include_str!("../../../stompbox.example.toml");
        let config = ServerConfig::from_toml(text).expect("example parses");
        assert_eq!(config.listen.port(), 8081);
        assert_eq!(config.endpoint, "/test-ws");
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (text, field) in [
            ("[stomp]\nheart_beat = \"x\"", "stomp.heart_beat"),
            ("endpoint = \"ws\"", "endpoint"),
            ("[stomp]\nversions = [\"2.0\"]", "stomp.versions"),
            ("[limits]\nmax_frame_size = 0", "limits.max_frame_size"),
            (
                "[limits]\nsend_buffer_limit = 1000",
                "limits.send_buffer_limit",
            ),
            (
                "[limits]\nsend_time_limit = \"0s\"",
                "limits.send_time_limit",
            ),
            (
                "[cluster]\nnode_timeout = \"500ms\"",
                "cluster.node_timeout",
            ),
        ] {
            match ServerConfig::from_toml(text) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            ServerConfig::from_toml("lisen = \"x\""),
            Err(ConfigError::Parse { .. })
        ));
    }
}
