//! The server's half of the RFC 6455 §4.2 opening handshake over an axum request: validate the
//! upgrade request, choose a subprotocol, answer 101 — and keep hyper's upgrade future, so the
//! connection can be served on the bare `TcpStream` rather than through axum's `WebSocket`.
//!
//! Refusals keep the statuses and bodies axum's `WebSocketUpgrade` gave. HTTP/1.1 only.

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use tungstenite::handshake::derive_accept_key;

/// A valid upgrade request, ready to be answered.
pub(crate) struct Upgrade {
    accept: String,
    /// The subprotocol chosen, if any.
    pub(crate) protocol: Option<&'static str>,
    /// Resolves to the connection once hyper has sent the 101.
    pub(crate) on_upgrade: OnUpgrade,
}

/// Why an upgrade request is refused: each knows its status and body (axum's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not HTTP/1.x.
    HttpVersion,
    /// Not `GET`.
    Method,
    /// `Connection` lacks `upgrade`.
    Connection,
    /// `Upgrade` is not `websocket`.
    Upgrade,
    /// No `Sec-WebSocket-Key`.
    Key,
    /// `Sec-WebSocket-Version` is not 13.
    Version,
    /// hyper did not mark the request upgradable.
    NotUpgradable,
}

impl Refusal {
    fn status(self) -> StatusCode {
        match self {
            Refusal::HttpVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Refusal::Method => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn body(self) -> &'static str {
        match self {
            Refusal::HttpVersion => "WebSocket upgrades need HTTP/1.1",
            Refusal::Method => "Request method must be `GET`",
            Refusal::Connection => "Connection header did not include 'upgrade'",
            Refusal::Upgrade => "`Upgrade` header did not include 'websocket'",
            Refusal::Key => "`Sec-WebSocket-Key` header missing",
            Refusal::Version => "`Sec-WebSocket-Version` header did not include '13'",
            Refusal::NotUpgradable => {
                "WebSocket request couldn't be upgraded since no upgrade state was present"
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status(), self.body()).into_response()
    }
}

/// Checks an upgrade request. `protocols` are the subprotocols the endpoint speaks, in order of
/// preference: the first one the client offers is chosen (none when the client offers none of
/// them).
pub(crate) fn validate(parts: &mut Parts, protocols: &[&'static str]) -> Result<Upgrade, Refusal> {
    if parts.version > Version::HTTP_11 {
        return Err(Refusal::HttpVersion);
    }
    if parts.method != Method::GET {
        return Err(Refusal::Method);
    }
    let headers = &parts.headers;
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Refusal::Connection);
    }
    if !is(headers, header::UPGRADE, "websocket") {
        return Err(Refusal::Upgrade);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(Refusal::Key);
    };
    if !is(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(Refusal::Version);
    }
    let accept = derive_accept_key(key.as_bytes());
    let offered: Vec<&[u8]> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let protocol = protocols
        .iter()
        .copied()
        .find(|p| offered.contains(&p.as_bytes()));
    let on_upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or(Refusal::NotUpgradable)?;
    Ok(Upgrade {
        accept,
        protocol,
        on_upgrade,
    })
}

impl Upgrade {
    /// The 101 Switching Protocols answer.
    pub(crate) fn response(&self) -> Response {
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = response.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&self.accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(p) = self.protocol {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        response
    }
}

/// Whether the header (case-insensitively) equals `value`.
fn is(headers: &HeaderMap, name: header::HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// Whether the comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::Request;

    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = Request::get("/ws");
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        parts.extensions.insert(hyper_upgrade_placeholder());
        parts
    }

    /// An `OnUpgrade` that never resolves (a request that hyper did not mark upgradable).
    fn hyper_upgrade_placeholder() -> OnUpgrade {
        let mut request = hyper::Request::new(());
        hyper::upgrade::on(&mut request)
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];

    #[test]
    fn the_rfc_example_key_gets_the_rfc_accept_value() {
        let mut p = parts(&GOOD);
        let upgrade = validate(&mut p, &[]).unwrap();
        let response = upgrade.response();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(
            !response
                .headers()
                .contains_key(header::SEC_WEBSOCKET_PROTOCOL)
        );
    }

    #[test]
    fn the_first_preferred_protocol_the_client_offers_wins() {
        let mut headers = GOOD.to_vec();
        headers.push(("sec-websocket-protocol", "v10.stomp, v11.stomp"));
        headers.push(("sec-websocket-protocol", "mqtt"));
        let upgrade = validate(
            &mut parts(&headers),
            &["v12.stomp", "v11.stomp", "v10.stomp"],
        );
        assert_eq!(upgrade.unwrap().protocol, Some("v11.stomp"));
        let none = validate(&mut parts(&headers), &["v12.stomp"]);
        assert_eq!(none.unwrap().protocol, None);
    }

    #[test]
    fn bad_requests_are_refused_like_axum_did() {
        for (drop, refusal) in [
            ("connection", Refusal::Connection),
            ("upgrade", Refusal::Upgrade),
            ("sec-websocket-key", Refusal::Key),
            ("sec-websocket-version", Refusal::Version),
        ] {
            let headers: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != drop).collect();
            let refused = validate(&mut parts(&headers), &[]).err().unwrap();
            assert_eq!(refused, refusal, "without {drop}");
            assert_eq!(refused.into_response().status(), StatusCode::BAD_REQUEST);
        }
        let mut post = parts(&GOOD);
        post.method = Method::POST;
        let refused = validate(&mut post, &[]).err().unwrap();
        assert_eq!(
            refused.into_response().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let mut not_upgradable = parts(&GOOD);
        not_upgradable.extensions.clear();
        let refused = validate(&mut not_upgradable, &[]).err().unwrap();
        assert_eq!(
            refused.into_response().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
