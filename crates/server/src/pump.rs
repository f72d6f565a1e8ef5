//! Small helpers shared by the transports' connection loops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, header};
use stompbox_broker::Transport;

use crate::endpoint::{Endpoint, Kind};
use crate::outbox::ConnOutbox;
use crate::slow::SendLimits;

/// Opens an endpoint whose outbox is a [`ConnOutbox`] the connection task drains.
pub(crate) fn open(
    kind: &Kind,
    id: Option<&str>,
    transport: Transport,
    remote: SocketAddr,
    limits: &Arc<SendLimits>,
) -> (Box<dyn Endpoint>, Arc<ConnOutbox>) {
    let opening = Opening {
        session_id: id.map(str::to_string),
        authorization: None,
    };
    open_from(kind, opening, transport, remote, limits)
}

/// What the HTTP request that opened a connection says about its session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Opening {
    /// The session id chosen by the client (SockJS URLs), if any.
    pub(crate) session_id: Option<String>,
    /// The request's `Authorization` header, for the authenticator at CONNECT.
    pub(crate) authorization: Option<String>,
}

impl Opening {
    pub(crate) fn new(session_id: Option<String>, headers: &HeaderMap) -> Opening {
        Opening {
            session_id,
            authorization: authorization(headers),
        }
    }
}

/// The `Authorization` header, when it is present and text.
pub(crate) fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(str::to_string)
}

/// [`open`] with what the opening request said.
pub(crate) fn open_from(
    kind: &Kind,
    opening: Opening,
    transport: Transport,
    remote: SocketAddr,
    limits: &Arc<SendLimits>,
) -> (Box<dyn Endpoint>, Arc<ConnOutbox>) {
    let outbox = Arc::new(ConnOutbox::new(limits.clone()));
    let endpoint = kind.open(
        opening.session_id.as_deref(),
        opening.authorization,
        transport,
        remote,
        outbox.clone(),
        now(),
    );
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
