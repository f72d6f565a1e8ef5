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
    /// Most sessions open at once (every transport). A session opened over it is closed at once
    /// with 1013 "Try Again Later" (over TCP, which has no close code, after an ERROR frame).
    /// 0 = no limit. Default: 0.
    pub max_sessions: usize,
    /// Most frames per second one session may send, on average; over it the session gets an
    /// ERROR frame and is closed with 1008. 0 = no limit. Default: 0.
    pub max_inbound_rate: u32,
    /// Frames a session may send at once before `max_inbound_rate` applies (the bucket's
    /// depth); 0 = one second's worth. Default: 0.
    pub inbound_burst: u32,
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
            max_sessions: 0,
            max_inbound_rate: 0,
            inbound_burst: 0,
            max_queue_depth: 100_000,
        }
    }
}
