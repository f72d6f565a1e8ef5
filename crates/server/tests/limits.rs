//! Who may connect and how much: the Origin check (403) on WebSocket upgrades and SockJS
//! requests, `limits.max_connections` (503, `c[1013,"Try Again Later"]`, an ERROR over TCP),
//! `limits.max_inbound_rate` (ERROR, 1008), the frame size limit (ERROR, 1009) and
//! `stomp.max_subscriptions` (ERROR, 1008) — each refusal saying which rule or limit it was.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::time::{Duration, Instant};

use stompbox_broker::ClosedBy;
use stompbox_server::{ConfigError, ServerConfig};
use support::{Client, TestServer, Ws, send, subscribe};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const EVIL: &str = "http://evil.example";

/// The headers of a WebSocket upgrade request, with `Host` naming the server.
fn upgrade_headers<'a>(host: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    headers.extend_from_slice(extra);
    headers
}

/// An upgrade request that is expected to be refused: its response.
async fn refused_upgrade(
    server: &TestServer,
    path: &str,
    extra: &[(&str, &str)],
) -> http::Response {
    let host = server.addr.to_string();
    let r = http::request(
        server.addr,
        "GET",
        path,
        &upgrade_headers(&host, extra),
        b"",
    )
    .await;
    assert_ne!(r.status(), 101, "{path} {extra:?}: {r:?}");
    r
}

/// A WebSocket opened with extra headers (tungstenite sets `Host` to the server's address).
async fn open_ws(server: &TestServer, path: &str, extra: &[(&str, &str)]) -> Ws {
    let mut request = format!("ws://{}{path}", server.addr)
        .into_client_request()
        .unwrap();
    for (k, v) in extra {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = k.parse().unwrap();
        request.headers_mut().insert(name, v.parse().unwrap());
    }
    let (ws, _) = tokio::time::timeout(support::WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("handshake in time")
        .unwrap_or_else(|e| panic!("{path} {extra:?}: {e}"));
    ws
}

/// The value of one series in `/metrics`.
async fn metric(server: &TestServer, series: &str) -> u64 {
    let text = http::get(server.addr, "/metrics").await.text().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} in {text}"))
}

const REFUSED_ORIGIN: &str = "stompbox_refused_connections_total{reason=\"origin\"}";
const REFUSED_CAPACITY: &str = "stompbox_refused_connections_total{reason=\"max_connections\"}";

/// Waits until the broker holds `n` sessions (sessions open after the upgrade, on their task).
async fn until_sessions(server: &TestServer, n: u64) {
    let deadline = Instant::now() + support::WAIT;
    while server.broker.sessions_open() != n {
        assert!(
            Instant::now() < deadline,
            "{} sessions, not {n}",
            server.broker.sessions_open()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- Origin ------------------------------------------------------------------------------------

#[tokio::test]
async fn websocket_upgrades_from_the_same_origin_or_without_origin_are_accepted() {
    let server = TestServer::start().await;
    let same = format!("http://{}", server.addr);
    for extra in [vec![], vec![("Origin", same.as_str())]] {
        for path in [
            "/test-ws",
            "/test-ws/websocket",
            "/test-ws/000/abc/websocket",
        ] {
            drop(open_ws(&server, path, &extra).await);
        }
    }
    // Behind a proxy that forwards the client's Host in X-Forwarded-Host.
    drop(
        open_ws(
            &server,
            "/test-ws",
            &[
                ("Origin", "https://chat.example.com"),
                ("X-Forwarded-Host", "chat.example.com"),
            ],
        )
        .await,
    );
    assert_eq!(metric(&server, REFUSED_ORIGIN).await, 0);
}

#[tokio::test]
async fn a_cross_origin_websocket_upgrade_is_refused_with_403_and_the_reason() {
    let server = TestServer::start().await;
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() + 1);
    let mut refused = 0;
    for origin in [EVIL, other_port.as_str(), "null", "garbage"] {
        for path in [
            "/test-ws",
            "/test-ws/websocket",
            "/test-ws/000/abc/websocket",
        ] {
            let r = refused_upgrade(&server, path, &[("Origin", origin)]).await;
            assert_eq!(r.status(), 403, "{origin} {path}: {r:?}");
            assert!(r.text().contains("allowed_origins"), "{r:?}");
            refused += 1;
        }
    }
    let r = refused_upgrade(&server, "/test-ws", &[("Origin", EVIL)]).await;
    assert!(r.text().contains("evil.example"), "{r:?}");
    assert!(r.text().contains(&server.addr.to_string()), "{r:?}");
    assert_eq!(metric(&server, REFUSED_ORIGIN).await, refused + 1);
    assert_eq!(server.broker.stats().sessions_opened, 0);
}

#[tokio::test]
async fn cross_origin_sockjs_requests_are_refused_with_403() {
    let server = TestServer::start().await;
    let host = server.addr.to_string();
    let sid = sockjs::sid();
    let requests = [
        ("GET", "/test-ws/info".to_string()),
        ("OPTIONS", "/test-ws/info".to_string()),
        ("GET", "/test-ws/iframe.html".to_string()),
        ("POST", sockjs::url(&sid, "xhr")),
        ("OPTIONS", sockjs::url(&sid, "xhr_send")),
        ("POST", sockjs::url(&sid, "xhr_send")),
        ("POST", sockjs::url(&sid, "xhr_streaming")),
        ("GET", sockjs::url(&sid, "eventsource")),
        ("GET", format!("{}?c=cb", sockjs::url(&sid, "jsonp"))),
    ];
    for (method, path) in &requests {
        let headers = [("Host", host.as_str()), ("Origin", EVIL)];
        let r = http::request(server.addr, method, path, &headers, b"").await;
        assert_eq!(r.status(), 403, "{method} {path}: {r:?}");
        assert!(r.text().contains("evil.example"), "{r:?}");
        assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
    }
    // Nothing was opened; the same requests from the page's own origin work.
    assert_eq!(server.broker.stats().sessions_opened, 0);
    let same = format!("http://{host}");
    let headers = [("Host", host.as_str()), ("Origin", same.as_str())];
    let info = http::request(server.addr, "GET", "/test-ws/info", &headers, b"").await;
    assert_eq!(info.status(), 200, "{info:?}");
    assert_eq!(
        info.header("access-control-allow-origin"),
        Some(same.as_str())
    );
    // With no allow-list, /info says what every SockJS server says (clients ignore it).
    assert!(info.text().contains("\"origins\":[\"*:*\"]"), "{info:?}");
    let xhr = http::request(
        server.addr,
        "POST",
        &sockjs::url(&sid, "xhr"),
        &headers,
        b"",
    )
    .await;
    assert_eq!(xhr.text(), "o\n");
    // Without an Origin (sockjs-client under Node, the Python clients): allowed.
    assert_eq!(sockjs::xhr(server.addr, &sockjs::sid()).await, "o\n");
}

#[tokio::test]
async fn the_allow_list_admits_the_origins_it_names() {
    let server = TestServer::start_with(|c| {
        c.allowed_origins = vec!["https://app.example.com".into(), "*.example.org:*".into()];
    })
    .await;
    drop(
        open_ws(
            &server,
            "/test-ws",
            &[("Origin", "https://app.example.com")],
        )
        .await,
    );
    let (addr, host) = (server.addr, server.addr.to_string());
    let info = |origin: &'static str| {
        let host = host.clone();
        async move {
            let headers = [("Host", host.as_str()), ("Origin", origin)];
            http::request(addr, "GET", "/test-ws/info", &headers, b"").await
        }
    };
    let r = info("http://chat.example.org:9000").await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://chat.example.org:9000")
    );
    assert!(
        r.text()
            .contains("\"origins\":[\"https://app.example.com\",\"*.example.org:*\"]"),
        "{r:?}"
    );
    for refused in ["http://app.example.com", "https://example.org", EVIL] {
        assert_eq!(info(refused).await.status(), 403, "{refused}");
    }
    let r = refused_upgrade(
        &server,
        "/test-ws",
        &[("Origin", "https://app.example.com:8443")],
    )
    .await;
    assert_eq!(r.status(), 403, "{r:?}");
}

#[tokio::test]
async fn a_star_admits_every_origin_and_the_old_sockjs_origins_key_still_applies() {
    let server = TestServer::start_with(|c| c.allowed_origins = vec!["*".into()]).await;
    for origin in [EVIL, "null"] {
        drop(open_ws(&server, "/test-ws", &[("Origin", origin)]).await);
        let headers = [("Origin", origin)];
        let r = http::request(server.addr, "GET", "/test-ws/info", &headers, b"").await;
        assert_eq!(r.status(), 200, "{origin}: {r:?}");
        assert!(r.text().contains("\"origins\":[\"*:*\"]"), "{r:?}");
    }
    let server =
        TestServer::start_with(|c| c.sockjs.origins = vec!["app.example.com:443".into()]).await;
    drop(
        open_ws(
            &server,
            "/test-ws",
            &[("Origin", "https://app.example.com")],
        )
        .await,
    );
    let r = refused_upgrade(&server, "/test-ws", &[("Origin", EVIL)]).await;
    assert_eq!(r.status(), 403, "{r:?}");
}

#[test]
fn bad_allow_list_entries_and_unknown_keys_are_clear_config_errors() {
    for (text, field) in [
        ("allowed_origins = [\"a b\"]", "allowed_origins"),
        ("allowed_origins = [\"ftp://x\"]", "allowed_origins"),
        ("[sockjs]\norigins = [\"host:port\"]", "sockjs.origins"),
    ] {
        match ServerConfig::from_toml(text) {
            Err(ConfigError::Invalid { field: f, why }) => {
                assert_eq!(f, field, "{text}");
                assert!(why.contains("expected"), "{why}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    match ServerConfig::from_toml("allowed_origin = []") {
        Err(e @ ConfigError::Parse { .. }) => {
            assert!(e.to_string().contains("allowed_origins"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let config =
        ServerConfig::from_toml("allowed_origins = [\"*\"]\n[limits]\nmax_connections = 7")
            .unwrap();
    assert_eq!(config.limits.max_connections, 7);
    assert_eq!(config.broker_config().unwrap().max_sessions, 7);
    assert_eq!(ServerConfig::default().limits.max_connections, 50_000);
    assert!(ServerConfig::default().allowed_origins.is_empty());
}

// ---- max_connections ---------------------------------------------------------------------------

#[tokio::test]
async fn over_max_connections_a_websocket_upgrade_gets_503_with_the_reason() {
    let server = TestServer::start_with(|c| c.limits.max_connections = 2).await;
    let (a, _) = Client::connect(&server, "a").await;
    let (_b, _) = Client::connect(&server, "b").await;
    until_sessions(&server, 2).await;
    for path in [
        "/test-ws",
        "/test-ws/websocket",
        "/test-ws/000/abc/websocket",
    ] {
        let r = refused_upgrade(&server, path, &[]).await;
        assert_eq!(r.status(), 503, "{path}: {r:?}");
        assert!(r.text().contains("max_connections"), "{r:?}");
        assert!(r.text().contains('2'), "{r:?}");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    assert_eq!(metric(&server, REFUSED_CAPACITY).await, 3);
    // Room again once a session has gone.
    a.close(Some(1000)).await;
    until_sessions(&server, 1).await;
    let (_c, _) = Client::connect(&server, "c").await;
}

#[tokio::test]
async fn over_max_connections_a_new_sockjs_session_is_closed_with_1013() {
    let mut server = TestServer::start_with(|c| c.limits.max_connections = 1).await;
    let (_a, _) = Client::connect(&server, "a").await;
    until_sessions(&server, 1).await;
    let sid = sockjs::sid();
    assert_eq!(sockjs::xhr(server.addr, &sid).await, "o\n");
    assert_eq!(
        sockjs::xhr(server.addr, &sid).await,
        "c[1013,\"Try Again Later\"]\n"
    );
    let (id, status) = server.next_close().await;
    assert_eq!(id, sid);
    assert_eq!((status.code, status.closed_by), (1013, ClosedBy::Server));
    assert_eq!(metric(&server, REFUSED_CAPACITY).await, 1);
    assert_eq!(server.broker.sessions_open(), 1);
}

#[tokio::test]
async fn over_max_connections_a_tcp_connection_gets_an_error_naming_the_limit() {
    let server = TestServer::start_with(|c| {
        c.limits.max_connections = 1;
        c.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (_a, _) = Client::connect(&server, "a").await;
    until_sessions(&server, 1).await;
    let mut tcp = tokio::net::TcpStream::connect(server.tcp_addr.unwrap())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(support::WAIT, tcp.read_to_end(&mut got))
        .await
        .expect("the server closes in time")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("ERROR\n"), "{text:?}");
    assert!(
        text.contains("message:too many connections\\c the server holds at most 1 sessions"),
        "{text:?}"
    );
    until_sessions(&server, 1).await;
}

// ---- Per-session limits ------------------------------------------------------------------------

#[tokio::test]
async fn frames_over_the_inbound_rate_get_an_error_naming_it_then_1008() {
    let mut server = TestServer::start_with(|c| {
        c.limits.max_inbound_rate = 5;
        c.limits.inbound_burst = 2;
    })
    .await;
    let (mut c, _) = Client::connect(&server, "a").await;
    for _ in 0..10 {
        c.send_frame(&send("/topic/a", "x")).await;
    }
    let e = c.error_then_close(1008).await;
    assert_eq!(
        e.header("message"),
        Some("inbound rate limit exceeded: more than 5 frames/s (burst 2)")
    );
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1008, ClosedBy::Server));
    assert!(status.reason.contains("inbound rate"), "{status:?}");
}

#[tokio::test]
async fn a_frame_over_the_size_limit_names_the_limit_then_1009() {
    let mut server = TestServer::start_with(|c| c.limits.max_frame_size = 4096).await;
    let (mut c, _) = Client::connect(&server, "a").await;
    c.send_frame(&send("/topic/a", &"x".repeat(5000))).await;
    let e = c.frame().await;
    assert!(
        e.header("message")
            .unwrap()
            .contains("exceeds the 4096-byte limit (limits.max_frame_size)"),
        "{e:?}"
    );
    let (code, reason) = c.closed().await;
    assert_eq!(code, 1009);
    assert!(reason.contains("4096-byte limit"), "{reason}");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1009, ClosedBy::Server));
}

#[tokio::test]
async fn one_subscription_too_many_names_the_limit_then_1008() {
    let mut server = TestServer::start_with(|c| c.stomp.max_subscriptions = 2).await;
    let (mut c, _) = Client::connect(&server, "a").await;
    for id in ["0", "1", "2"] {
        c.send_frame(&subscribe(id, &format!("/topic/{id}"))).await;
    }
    let e = c.frame().await;
    assert_eq!(
        e.header("message"),
        Some("subscription limit reached: at most 2 subscriptions per session")
    );
    let (code, reason) = c.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("at most 2 subscriptions"), "{reason}");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1008, ClosedBy::Server));
}
