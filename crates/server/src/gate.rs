//! Who may open a connection, decided at the HTTP edge before any session exists: the page's
//! `Origin` (403: cross-site WebSocket hijacking, for WebSocket upgrades and every SockJS
//! request) and the connection cap (503 for WebSocket upgrades). Each refusal is logged at warn
//! and counted for `stompbox_refused_connections_total{reason}`.
//!
//! The rules live below this adapter: `stompbox_sockjs::OriginPolicy` judges origins, and the
//! broker counts sessions and closes one opened over `max_sessions` with 1013 (which is how
//! SockJS sessions and TCP connections over the cap are refused, and WebSocket sessions that
//! raced past the 503 check).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use stompbox_broker::Broker;
use stompbox_sockjs::{OriginPolicy, PatternError, request_target};

use crate::{ConfigError, ServerConfig};

/// The origin policy and the refusal counters of one server.
pub(crate) struct Gate {
    origins: OriginPolicy,
    refused_origin: AtomicU64,
    refused_capacity: AtomicU64,
}

/// The origin policy the configuration describes: `allowed_origins` and the deprecated
/// `sockjs.origins` together. Also the validation of both lists.
pub(crate) fn origin_policy(config: &ServerConfig) -> Result<OriginPolicy, ConfigError> {
    let invalid = |field: &'static str| {
        move |e: PatternError| ConfigError::Invalid {
            field,
            why: e.to_string(),
        }
    };
    OriginPolicy::new(&config.sockjs.origins).map_err(invalid("sockjs.origins"))?;
    let all: Vec<&String> = config
        .allowed_origins
        .iter()
        .chain(&config.sockjs.origins)
        .collect();
    OriginPolicy::new(&all).map_err(invalid("allowed_origins"))
}

impl Gate {
    pub(crate) fn new(config: &ServerConfig) -> Result<Gate, ConfigError> {
        if !config.sockjs.origins.is_empty() {
            tracing::warn!(
                "sockjs.origins is deprecated: use the top-level allowed_origins (it applies to WebSocket upgrades too); both lists apply"
            );
        }
        Ok(Gate {
            origins: origin_policy(config)?,
            refused_origin: AtomicU64::new(0),
            refused_capacity: AtomicU64::new(0),
        })
    }

    /// What `/info` reports as `origins`.
    pub(crate) fn info_origins(&self) -> Vec<&str> {
        self.origins.info_origins()
    }

    /// `None` when the request's `Origin` may use the endpoint, else the 403 to answer.
    pub(crate) fn refuse_origin(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        remote: SocketAddr,
    ) -> Option<Response> {
        // A value that is not visible ASCII is no origin at all (and no Host to compare with).
        let origin = headers
            .get(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or(""));
        let host = text(headers, header::HOST).or_else(|| uri.authority().map(|a| a.as_str()));
        let target = request_target(
            host,
            text(headers, "x-forwarded-host"),
            text(headers, header::FORWARDED),
        );
        let refused = self.origins.check(origin, target).err()?;
        self.refused_origin.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "stompbox::gate",
            %remote,
            path = uri.path(),
            "403 refused: {refused}"
        );
        let body = format!(
            "{refused}. To allow it, add it to allowed_origins (--allowed-origins, STOMPBOX_ALLOWED_ORIGINS).\n"
        );
        Some(plain(StatusCode::FORBIDDEN, body))
    }

    /// `None` while fewer than `limits.max_connections` sessions are open, else the 503 to
    /// answer a WebSocket upgrade with.
    pub(crate) fn refuse_over_capacity(
        &self,
        broker: &Broker,
        remote: SocketAddr,
    ) -> Option<Response> {
        let max = broker.config().max_sessions;
        if max == 0 || broker.sessions_open() < max as u64 {
            return None;
        }
        self.refused_capacity.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "stompbox::gate",
            %remote,
            "503 refused WebSocket upgrade: {max} sessions are open (limits.max_connections)"
        );
        let body = format!(
            "Too many connections: {max} sessions are open (limits.max_connections). Try again later.\n"
        );
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, body);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        Some(response)
    }

    /// `stompbox_refused_connections_total`, with the sessions the broker refused (1013)
    /// counted under `max_connections` too.
    pub(crate) fn render_metrics(&self, out: &mut String, broker_refused: u64) {
        let name = "stompbox_refused_connections_total";
        let _ = writeln!(
            out,
            "# HELP {name} Connections refused: Origin not allowed (403), or over limits.max_connections (503, or closed with 1013).\n# TYPE {name} counter\n{name}{{reason=\"origin\"}} {}\n{name}{{reason=\"max_connections\"}} {}",
            self.refused_origin.load(Ordering::Relaxed),
            self.refused_capacity.load(Ordering::Relaxed) + broker_refused,
        );
    }
}

/// A header's value, if it is visible ASCII.
fn text<K: header::AsHeaderName>(headers: &HeaderMap, name: K) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}
