//! Helpers for the lab's end-to-end tests: an in-process stompbox server and a proxy, both on
//! 127.0.0.1:0, stopped when the test's runtime ends.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use stompbox_broker::{CloseStatus, EventKind, EventStream};
use stompbox_lab::proxy::{Cut, Proxy, ProxyConfig};
use stompbox_server::{Server, ServerConfig, Shutdown};
use tokio::sync::broadcast;

/// How far a measured time may be from the configured timeout.
pub const TOLERANCE: Duration = Duration::from_millis(200);

/// Asserts `measured` is within [`TOLERANCE`] of `expected`.
#[track_caller]
pub fn assert_near(measured: Duration, expected: Duration) {
    let diff = measured.abs_diff(expected);
    assert!(
        diff <= TOLERANCE,
        "measured {measured:?}, expected {expected:?} ± {TOLERANCE:?}"
    );
}

/// A stompbox server (default settings but the address); returns its address and its session
/// events.
pub async fn start_server(adjust: impl FnOnce(&mut ServerConfig)) -> (SocketAddr, EventStream) {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    adjust(&mut config);
    let server = Server::bind(config).await.unwrap();
    let addr = server.local_addr();
    let events = server.broker().events();
    tokio::spawn(server.run(std::future::pending::<Shutdown>()));
    (addr, events)
}

/// A proxy in front of `upstream`; returns its address and its cuts.
pub async fn start_proxy(
    upstream: SocketAddr,
    read_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
) -> (SocketAddr, broadcast::Receiver<Cut>) {
    let proxy = Proxy::bind(ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream,
        read_timeout,
        send_timeout,
    })
    .await
    .unwrap();
    let addr = proxy.local_addr();
    let cuts = proxy.cuts();
    tokio::spawn(proxy.run(std::future::pending()));
    (addr, cuts)
}

/// The next session close the server reports.
pub async fn next_close(events: &mut EventStream) -> CloseStatus {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a close in time")
            .expect("server alive");
        if let EventKind::Disconnect { status, .. } = event.kind {
            return status;
        }
    }
}
