//! Small helpers shared by the transports' connection loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use stompbox_broker::{Outbound, Transport};
use tokio::sync::mpsc;

use crate::endpoint::{Endpoint, Kind};

/// Opens an endpoint whose outbox is a channel the connection task drains.
pub(crate) fn open(
    kind: &Kind,
    id: Option<&str>,
    transport: Transport,
    remote: SocketAddr,
) -> (Box<dyn Endpoint>, mpsc::UnboundedReceiver<Outbound>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let endpoint = kind.open(id, transport, remote, Arc::new(tx), now());
    (endpoint, rx)
}

/// The current time on tokio's clock (so `tokio::time::pause` drives sessions in tests).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Sleeps until `deadline`, or forever when there is none.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
