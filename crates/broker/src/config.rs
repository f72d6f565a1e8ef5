//! Broker settings. Every field states its default.

use std::time::Duration;

use stompbox_stomp::{HeartBeat, Limits, Version};

/// Settings of the broker core.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    /// The `server` header of CONNECTED. Default: `stompbox/<version>`.
    pub server_name: String,
    /// The heart-beat the server offers (`send,receive` in ms). Default: 10000,10000.
    pub heart_beat: HeartBeat,
    /// A peer that sent nothing for `grace ×` the negotiated receive interval is closed with 4408.
    /// Default: 2.0 (one heart-beat may be late or lost).
    pub heartbeat_grace: f64,
    /// A connection that sends no CONNECT frame within this time is closed with 4408.
    /// Default: 60 s.
    pub connect_timeout: Duration,
    /// STOMP versions the server speaks. Default: 1.0, 1.1, 1.2.
    pub versions: Vec<Version>,
    /// Decoder limits (frame size, header count, header length). Default: 64 KiB, 64, 8 KiB.
    pub limits: Limits,
    /// Most subscriptions one session may hold. Default: 1000.
    pub max_subscriptions: usize,
    /// Most messages one queue keeps for want of a consumer; a SEND over it gets an ERROR and
    /// the session closes with 1013 (redeliveries are never refused). Default: 100 000.
    pub max_queue_depth: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            server_name: concat!("stompbox/", env!("CARGO_PKG_VERSION")).to_string(),
            heart_beat: HeartBeat::new(10_000, 10_000),
            heartbeat_grace: 2.0,
            connect_timeout: Duration::from_secs(60),
            versions: Version::ALL.to_vec(),
            limits: Limits::default(),
            max_subscriptions: 1000,
            max_queue_depth: 100_000,
        }
    }
}
