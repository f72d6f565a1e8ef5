//! Small helpers shared by the transports' connection loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use stompbox_broker::Transport;

use crate::LimitsConfig;
use crate::endpoint::{Endpoint, Kind};
use crate::outbox::ConnOutbox;

/// Opens an endpoint whose outbox is a [`ConnOutbox`] the connection task drains.
pub(crate) fn open(
    kind: &Kind,
    id: Option<&str>,
    transport: Transport,
    remote: SocketAddr,
    limits: &LimitsConfig,
) -> (Box<dyn Endpoint>, Arc<ConnOutbox>) {
    let outbox = Arc::new(ConnOutbox::new(limits.outbox_high_water));
    let endpoint = kind.open(id, transport, remote, outbox.clone(), now());
    (endpoint, outbox)
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
