//! SockJS over HTTP, mounted at the STOMP endpoint (`<endpoint>/info`, `<endpoint>/iframe.html`,
//! `<endpoint>/<server>/<session>/<transport>`, raw WebSocket at `<endpoint>/websocket`). Protocol
//! details (frames, escaping, preludes, session rules) live in `stompbox-sockjs`; this module maps
//! them onto HTTP requests and responses.

mod outbox;
mod receive;
mod registry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use stompbox_sockjs::{self as sockjs, Route, Transport};

pub(crate) use registry::Registry;

use crate::endpoint::Kind;
use crate::ws::{self, Framing};
use crate::{AppState, SockJsConfig};

/// One SockJS server at a path prefix: the STOMP endpoint, or a conformance-test endpoint.
pub(crate) struct Mount {
    pub(crate) app: Arc<AppState>,
    /// The prefix, e.g. `/test-ws`.
    pub(crate) prefix: String,
    pub(crate) config: SockJsConfig,
    /// The HTTP-transport sessions (`None` when SockJS is off).
    pub(crate) registry: Option<Arc<Registry>>,
    pub(crate) kind: Kind,
}

/// The routes of a mount: the prefix itself and everything below it.
pub(crate) fn routes(mount: Arc<Mount>) -> Router {
    let prefix = mount.prefix.clone();
    Router::new()
        .route(&prefix, any(root))
        .route(&format!("{prefix}/"), any(root))
        .route(&format!("{prefix}/{{*rest}}"), any(dispatch))
        .with_state(mount)
}

/// The sockjs-client build the server serves itself (see `scripts/vendor-js`).
pub(crate) const SOCKJS_CLIENT_JS: &[u8] = include_bytes!("../../assets/vendor/sockjs.min.js");

/// Largest `xhr_send`/`jsonp_send` body read.
const MAX_SEND_BODY: usize = 1 << 20;

/// `GET <endpoint>`: a WebSocket upgrade (STOMP over WebSocket), else SockJS's greeting.
async fn root(
    State(mount): State<Arc<Mount>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if is_upgrade(request.headers()) {
        let gate = &mount.app.gate;
        if let Some(refused) = gate.refuse_origin(request.headers(), request.uri(), remote) {
            return refused;
        }
        return upgrade(&mount, remote, request, Framing::Raw, None).await;
    }
    if !mount.config.enabled {
        return (
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade request\n",
        )
            .into_response();
    }
    greeting(request.method())
}

/// Every path below the endpoint.
async fn dispatch(
    State(mount): State<Arc<Mount>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let endpoint = mount.prefix.as_str();
    let path = request.uri().path().to_string();
    let rest = path.strip_prefix(endpoint).unwrap_or("");
    if rest == "/sockjs.min.js" {
        return javascript(SOCKJS_CLIENT_JS);
    }
    // Every SockJS request and the raw WebSocket below the endpoint (cross-site WebSocket
    // hijacking; a refused CORS preflight also stops the request it asks for).
    let gate = &mount.app.gate;
    if let Some(refused) = gate.refuse_origin(request.headers(), request.uri(), remote) {
        return refused;
    }
    if !mount.config.enabled {
        return if rest == "/websocket" {
            upgrade(&mount, remote, request, Framing::Raw, None).await
        } else {
            not_found()
        };
    }
    match sockjs::route(rest) {
        Route::Greeting => greeting(request.method()),
        Route::Info => info(&mount, request.method(), request.headers()),
        Route::Iframe => iframe(&mount, request.method(), request.headers()),
        Route::RawWebSocket => match *request.method() {
            Method::GET if mount.config.websocket => {
                upgrade(&mount, remote, request, Framing::Raw, None).await
            }
            Method::GET => not_found(),
            _ => method_not_allowed("GET"),
        },
        Route::Session {
            session, transport, ..
        } => {
            let session = session.to_string();
            transport_request(&mount, remote, request, &session, transport).await
        }
        Route::NotFound => not_found(),
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn upgrade(
    mount: &Mount,
    remote: SocketAddr,
    request: Request,
    framing: Framing,
    session_id: Option<String>,
) -> Response {
    // The SockJS suites expect these two refusals word for word.
    let headers = request.headers();
    if !is_upgrade(headers) {
        return bad_request(sockjs::WEBSOCKET_UPGRADE_ONLY);
    }
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return bad_request(sockjs::WEBSOCKET_CONNECTION_UPGRADE);
    }
    let (mut parts, _body) = request.into_parts();
    ws::accept(
        &mut parts,
        mount.app.clone(),
        remote,
        framing,
        mount.kind.clone(),
        session_id,
    )
}

fn greeting(method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET");
    }
    (
        [(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_PLAIN)],
        sockjs::GREETING,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found\n").into_response()
}

/// 405 with `Allow`, and no body or content type (SockJS `verify405`).
fn method_not_allowed(allow: &'static str) -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, allow)]).into_response()
}

fn javascript(body: &'static [u8]) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=UTF-8",
            ),
            (header::CACHE_CONTROL, sockjs::CACHE_YEAR),
        ],
        body,
    )
        .into_response()
}

/// `Access-Control-Allow-Origin` echoing the request's `Origin` (or `*`), with credentials.
fn cors(request: &HeaderMap, response: &mut HeaderMap) {
    let origin = request
        .get(header::ORIGIN)
        .filter(|o| o.as_bytes() != b"null")
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    response.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if let Some(h) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        response.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
    }
}

fn no_cache(response: &mut HeaderMap) {
    response.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(sockjs::CACHE_NO),
    );
}

fn cache_for_a_year(response: &mut HeaderMap) {
    response.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(sockjs::CACHE_YEAR),
    );
    let expires = SystemTime::now() + Duration::from_secs(sockjs::ONE_YEAR_SECS);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(expires)) {
        response.insert(header::EXPIRES, v);
    }
}

/// `Set-Cookie: JSESSIONID=…` when the endpoint needs cookies (sticky load balancing).
fn cookie(mount: &Mount, request: &HeaderMap, response: &mut HeaderMap) {
    if !mount.config.cookie_needed {
        return;
    }
    let value = request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("JSESSIONID="))
        .unwrap_or("dummy")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&format!("JSESSIONID={value}; path=/")) {
        response.insert(header::SET_COOKIE, v);
    }
}

/// `OPTIONS` answer for CORS preflights.
fn options(mount: &Mount, request: &HeaderMap, methods: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    cache_for_a_year(h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(sockjs::ONE_YEAR_SECS),
    );
    cors(request, h);
    cookie(mount, request, h);
    response
}

fn info(mount: &Mount, method: &Method, request: &HeaderMap) -> Response {
    match *method {
        Method::GET => {
            let c = &mount.config;
            let origins = mount.app.gate.info_origins();
            let entropy = entropy();
            let body = sockjs::info_json(c.websocket, c.cookie_needed, &origins, entropy);
            let mut response =
                ([(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_JSON)], body).into_response();
            no_cache(response.headers_mut());
            cors(request, response.headers_mut());
            response
        }
        Method::OPTIONS => options(mount, request, sockjs::INFO_ALLOW),
        _ => method_not_allowed(sockjs::INFO_ALLOW),
    }
}

/// A random number for `/info`'s `entropy` (the std hasher's per-process random keys).
fn entropy() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    RandomState::new().hash_one(nanos) as u32
}

fn iframe(mount: &Mount, method: &Method, request: &HeaderMap) -> Response {
    if method != Method::GET {
        return method_not_allowed("GET");
    }
    let url = if mount.config.client_url.is_empty() {
        format!("{}/sockjs.min.js", mount.prefix)
    } else {
        mount.config.client_url.clone()
    };
    let html = sockjs::iframe_html(&url);
    let etag = sockjs::etag(&html);
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_HTML)], html).into_response()
    };
    let h = response.headers_mut();
    cache_for_a_year(h);
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

async fn transport_request(
    mount: &Mount,
    remote: SocketAddr,
    request: Request,
    session: &str,
    transport: Transport,
) -> Response {
    let method = request.method().clone();
    if transport == Transport::WebSocket {
        if method != Method::GET {
            return method_not_allowed("GET");
        }
        if !mount.config.websocket {
            return not_found();
        }
        let heartbeat = mount.config.heartbeat;
        return upgrade(
            mount,
            remote,
            request,
            Framing::SockJs { heartbeat },
            Some(session.to_string()),
        )
        .await;
    }
    let headers = request.headers().clone();
    if method == Method::OPTIONS && transport.method() == "POST" {
        return options(mount, &headers, "OPTIONS, POST");
    }
    if method.as_str() != transport.method() {
        return method_not_allowed(transport.method());
    }
    let Some(registry) = mount.registry.clone() else {
        return not_found();
    };
    let mut response = if transport.is_receiving() {
        receiving(mount, registry, remote, request, session, transport)
    } else {
        sending(registry, request, session, transport).await
    };
    let h = response.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        no_cache(h);
    }
    cors(&headers, h);
    cookie(mount, &headers, h);
    response
}

fn callback(request: &Request) -> Option<String> {
    let query = request.uri().query()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "c").then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn receiving(
    mount: &Mount,
    registry: Arc<Registry>,
    remote: SocketAddr,
    request: Request,
    session: &str,
    transport: Transport,
) -> Response {
    let callback = if transport.needs_callback() {
        match callback(&request) {
            None => return error_500(sockjs::CALLBACK_REQUIRED),
            Some(c) if !sockjs::is_valid_callback(&c) => {
                return error_500(sockjs::INVALID_CALLBACK);
            }
            Some(c) => c,
        }
    } else {
        String::new()
    };
    let content_type = [(header::CONTENT_TYPE, transport.content_type())];
    let authorization = crate::pump::authorization(request.headers());
    match registry.attach(session, remote, authorization) {
        registry::Attached::Refused(frame) => {
            let mut body = transport.prelude(&callback).unwrap_or_default();
            body.push_str(&transport.wrap(&frame, &callback));
            (content_type, body).into_response()
        }
        registry::Attached::Receiver(s, id) => {
            let limit = mount.config.response_limit;
            let stream = receive::body(registry, s, id, transport, callback, limit);
            (content_type, Body::from_stream(stream)).into_response()
        }
    }
}

async fn sending(
    registry: Arc<Registry>,
    request: Request,
    session: &str,
    transport: Transport,
) -> Response {
    let Some(s) = registry.get(session) else {
        return not_found();
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match axum::body::to_bytes(request.into_body(), MAX_SEND_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large.").into_response();
        }
    };
    let parsed = match transport {
        Transport::JsonpSend => sockjs::parse_jsonp_send(content_type.as_deref(), &body),
        _ => sockjs::parse_send_body(&body),
    };
    let messages = match parsed {
        Ok(m) => m,
        Err(e) => return error_500(e.body()),
    };
    let mut congested = registry.send(&s, &messages);
    while !congested.is_empty() {
        // Back-pressure: the answer (and so sockjs-client's next send) waits for the drain.
        for outbox in &congested {
            std::future::poll_fn(|cx| outbox.poll_drained(cx)).await;
        }
        congested = registry.resume(&s);
    }
    match transport {
        Transport::JsonpSend => (
            [(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_PLAIN)],
            sockjs::JSONP_SEND_OK,
        )
            .into_response(),
        _ => (
            StatusCode::NO_CONTENT,
            [(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_PLAIN)],
        )
            .into_response(),
    }
}

fn bad_request(body: &'static str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_PLAIN)],
        body,
    )
        .into_response()
}

fn error_500(body: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, sockjs::CONTENT_TYPE_PLAIN)],
        body.to_string(),
    )
        .into_response()
}
