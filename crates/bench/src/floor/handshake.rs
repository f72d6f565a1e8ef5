//! The WebSocket opening handshake of the floor (RFC 6455 §4.2), sans-IO: bytes of an HTTP
//! request in, the bytes of a `101` or `400` response out.
//!
//! Owns checking `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`,
//! `Sec-WebSocket-Version: 13` and `Sec-WebSocket-Key`, and choosing the STOMP subprotocol. Any
//! path is accepted. Must not read or write sockets.

use tungstenite::handshake::derive_accept_key;

/// Largest request head accepted; browsers and the generator send well under 1 KiB.
pub(super) const MAX_REQUEST: usize = 8 * 1024;

/// Subprotocols the floor speaks, best first.
const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// An accepted upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Upgrade {
    /// Bytes of the request head; anything after them is already WebSocket data.
    pub(super) consumed: usize,
    /// The `101 Switching Protocols` response.
    pub(super) response: String,
}

/// Why a request cannot be upgraded: sent as the body of a `400 Bad Request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Rejection {
    /// The bytes are not an HTTP/1.x request.
    #[error("malformed HTTP request")]
    Malformed,
    /// The request head is longer than [`MAX_REQUEST`] or has too many headers.
    #[error("request head too large")]
    TooLarge,
    /// Not `GET`.
    #[error("WebSocket upgrades use GET")]
    NotGet,
    /// HTTP/1.0.
    #[error("WebSocket upgrades need HTTP/1.1")]
    OldHttp,
    /// No `Upgrade: websocket`.
    #[error("missing `Upgrade: websocket`")]
    NoUpgrade,
    /// No `upgrade` token in `Connection`.
    #[error("missing `Connection: upgrade`")]
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` is absent or not 13.
    #[error("`Sec-WebSocket-Version` must be 13")]
    Version,
    /// No `Sec-WebSocket-Key`.
    #[error("missing `Sec-WebSocket-Key`")]
    NoKey,
}

impl Rejection {
    /// The whole `400` response.
    pub(super) fn response(self) -> String {
        let reason = format!("{self}\n");
        format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n{reason}",
            reason.len()
        )
    }
}

/// Parses the request head at the front of `buf`: `Ok(None)` = incomplete.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Upgrade>, Rejection> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut request = httparse::Request::new(&mut headers);
    let consumed = match request.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST => {
            return Err(Rejection::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Rejection::TooLarge),
        Err(_) => return Err(Rejection::Malformed),
    };
    if request.method != Some("GET") {
        return Err(Rejection::NotGet);
    }
    if request.version != Some(1) {
        return Err(Rejection::OldHttp);
    }
    let values = |name: &'static str| {
        request
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    if !values("upgrade").any(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(Rejection::NoUpgrade);
    }
    if !values("connection").any(|v| v.eq_ignore_ascii_case("upgrade")) {
        return Err(Rejection::NoConnectionUpgrade);
    }
    if !values("sec-websocket-version").eq(["13"]) {
        return Err(Rejection::Version);
    }
    let key = values("sec-websocket-key").next().unwrap_or_default();
    if key.is_empty() {
        return Err(Rejection::NoKey);
    }
    let offered: Vec<&str> = values("sec-websocket-protocol").collect();
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(protocol) = SUBPROTOCOLS.iter().find(|p| offered.contains(p)) {
        response.push_str("Sec-WebSocket-Protocol: ");
        response.push_str(protocol);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    Ok(Some(Upgrade { consumed, response }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = "GET /any/path HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v10.stomp, v11.stomp\r\n\
        Sec-WebSocket-Protocol: v12.stomp\r\n\r\n";

    #[test]
    fn a_good_request_gets_101_with_the_rfc_accept_key_and_the_best_stomp_version() {
        let upgrade = parse(format!("{GOOD}after").as_bytes()).unwrap().unwrap();
        assert_eq!(upgrade.consumed, GOOD.len());
        assert_eq!(
            upgrade.response,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: v12.stomp\r\n\r\n"
        );
    }

    #[test]
    fn no_known_subprotocol_means_no_protocol_header() {
        let request = GOOD.replace("v12.stomp", "mqtt").replace("v1", "x");
        let upgrade = parse(request.as_bytes()).unwrap().unwrap();
        assert!(!upgrade.response.contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        for end in 0..GOOD.len() {
            assert_eq!(parse(&GOOD.as_bytes()[..end]), Ok(None), "prefix {end}");
        }
    }

    #[test]
    fn bad_requests_are_rejected_with_a_reason() {
        let cases = [
            (GOOD.replace("GET", "POST"), Rejection::NotGet),
            (GOOD.replace("HTTP/1.1", "HTTP/1.0"), Rejection::OldHttp),
            (
                GOOD.replace("Upgrade: WebSocket\r\n", ""),
                Rejection::NoUpgrade,
            ),
            (
                GOOD.replace("keep-alive, Upgrade", "close"),
                Rejection::NoConnectionUpgrade,
            ),
            (
                GOOD.replace("Version: 13", "Version: 8"),
                Rejection::Version,
            ),
            (GOOD.replace("Sec-WebSocket-Key", "X"), Rejection::NoKey),
            (
                "\x16\x03\x01 TLS hello\r\n\r\n".to_owned(),
                Rejection::Malformed,
            ),
        ];
        for (request, rejection) in cases {
            assert_eq!(parse(request.as_bytes()), Err(rejection), "{request}");
        }
        let response = Rejection::NoUpgrade.response();
        assert!(response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(response.ends_with("\r\n\r\nmissing `Upgrade: websocket`\n"));
    }

    #[test]
    fn an_endless_head_is_too_large() {
        let mut request = b"GET / HTTP/1.1\r\nX: ".to_vec();
        request.resize(MAX_REQUEST, b'a');
        assert_eq!(parse(&request), Err(Rejection::TooLarge));
    }
}
