//! SockJS protocol 0.3.3 at the STOMP endpoint, section by section of the spec's test suite
//! (`sockjs-protocol-0.3.3.py`), over real HTTP and WebSocket connections with exact bytes.
//! The application behind SockJS is STOMP, so the spec's echo service becomes a STOMP session
//! that subscribes and receives its own SENDs. Session closing, HTTP versions, heartbeats and
//! close events are in `sockjs_sessions.rs`.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::time::{Duration, Instant};

use sockjs::{
    CONNECT, Json, assert_405, assert_cacheable, assert_cors, assert_no_cookie, assert_not_cached,
    messages, send_body, sid, start, start_with, stomp_frames, url, ws_open, ws_recv, ws_send, xhr,
    xhr_connect, xhr_frames, xhr_send, xhr_streaming,
};
use stompbox_stomp::Command;

const GREETING: &str = "Welcome to SockJS!\n";

fn iframe_page(sockjs_url: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
  <script>
    document.domain = document.domain;
    _sockjs_onload = function(){{SockJS.bootstrap_iframe();}};
  </script>
  <script src="{sockjs_url}"></script>
</head>
<body>
  <h2>Don't panic!</h2>
  <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
</body>
</html>"#
    )
}

fn htmlfile_head(callback: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head>
  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head><body><h2>Don't panic!</h2>
  <script>
    document.domain = document.domain;
    var c = parent.{callback};
    c.start();
    function p(d) {{c.message(d);}};
    window.onload = function() {{c.stop();}};
  </script>"#
    )
}

/// SUBSCRIBE to `destination` with a receipt, as a SockJS message.
fn subscribe_frame(destination: &str) -> String {
    format!("SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:sub\n\n\0")
}

/// A SEND frame as a SockJS message.
fn send_frame(destination: &str, body: &str) -> String {
    format!("SEND\ndestination:{destination}\n\n{body}\0")
}

// ---- Greeting and static URLs ----------------------------------------------------------------

#[tokio::test]
async fn the_greeting_is_served_with_and_without_a_trailing_slash() {
    let server = start().await;
    for path in ["/test-ws", "/test-ws/"] {
        let r = http::get(server.addr, path).await;
        assert_eq!(r.status(), 200, "{path}: {r:?}");
        assert_eq!(
            r.head.content_type().as_deref(),
            Some("text/plain;charset=UTF-8")
        );
        assert_eq!(r.text(), GREETING);
        assert_no_cookie(&r.head);
    }
}

#[tokio::test]
async fn other_paths_under_the_endpoint_are_404() {
    let server = start().await;
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"] {
        let r = http::get(server.addr, &format!("/test-ws{suffix}")).await;
        assert_eq!(r.status(), 404, "{suffix}: {r:?}");
    }
}

#[tokio::test]
async fn the_iframe_page_is_served_strongly_cacheable_for_every_version_and_query() {
    let server = start().await;
    for suffix in [
        "/iframe.html",
        "/iframe-a.html",
        "/iframe-.html",
        "/iframe-0.1.2.html",
        "/iframe-0.1.2abc-dirty.2144.html",
        "/iframe-a.html?t=1234",
        "/iframe-0.1.2.html?t=123414",
        "/iframe-0.1.2abc-dirty.2144.html?t=qweqweq123",
    ] {
        let r = http::get(server.addr, &format!("/test-ws{suffix}")).await;
        assert_eq!(r.status(), 200, "{suffix}: {r:?}");
        assert_eq!(
            r.head.content_type().as_deref(),
            Some("text/html;charset=UTF-8")
        );
        assert_cacheable(&r.head);
        assert!(r.header("etag").is_some_and(|e| !e.is_empty()), "{r:?}");
        assert!(r.header("last-modified").is_none(), "{r:?}");
        assert_no_cookie(&r.head);
        let body = r.text().trim();
        let sockjs_url = body
            .split("<script src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("no script src in {body}"));
        assert!(
            sockjs_url.starts_with('/') || sockjs_url.starts_with("http"),
            "{sockjs_url}"
        );
        assert_eq!(body, iframe_page(sockjs_url), "{suffix}");
    }
}

#[tokio::test]
async fn the_iframe_loads_the_sockjs_client_the_server_serves() {
    let server = start().await;
    let r = http::get(server.addr, "/test-ws/iframe.html").await;
    let src = r.text().split("<script src=\"").nth(1).unwrap();
    let src = src.split('"').next().unwrap();
    assert_eq!(src, "/test-ws/sockjs.min.js");
    let js = http::get(server.addr, src).await;
    assert_eq!(js.status(), 200, "{:?}", js.head);
    assert_eq!(
        js.head.content_type().as_deref(),
        Some("application/javascript;charset=UTF-8")
    );
    assert!(js.text().contains("SockJS"), "not sockjs-client");
    assert!(
        js.body.len() > 10_000,
        "sockjs.min.js is {} bytes",
        js.body.len()
    );
}

#[tokio::test]
async fn malformed_iframe_urls_are_404() {
    let server = start().await;
    for suffix in [
        "/iframe.htm",
        "/iframe",
        "/IFRAME.HTML",
        "/IFRAME",
        "/iframe.HTML",
        "/iframe.xml",
        "/iframe-/.html",
    ] {
        let r = http::get(server.addr, &format!("/test-ws{suffix}")).await;
        assert_eq!(r.status(), 404, "{suffix}: {r:?}");
    }
}

#[tokio::test]
async fn the_iframe_etag_is_stable_and_if_none_match_gives_304_without_body() {
    let server = start().await;
    let r1 = http::get(server.addr, "/test-ws/iframe.html").await;
    let r2 = http::get(server.addr, "/test-ws/iframe.html").await;
    let etag = r1.header("etag").expect("an ETag").to_string();
    assert_eq!(r2.header("etag"), Some(etag.as_str()));
    let r = http::request(
        server.addr,
        "GET",
        "/test-ws/iframe.html",
        &[("If-None-Match", &etag)],
        b"",
    )
    .await;
    assert_eq!(r.status(), 304, "{r:?}");
    assert_eq!(r.header("content-type"), None, "{r:?}");
    assert_eq!(r.text(), "");
}

// ---- /info -----------------------------------------------------------------------------------

#[tokio::test]
async fn info_reports_the_capabilities_uncached_with_cors() {
    let server = start().await;
    let r = http::get(server.addr, "/test-ws/info").await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(
        r.head.content_type().as_deref(),
        Some("application/json;charset=UTF-8")
    );
    assert_no_cookie(&r.head);
    assert_not_cached(&r.head);
    assert_cors(&r.head, None);
    let info = Json::parse(r.text());
    assert_eq!(info.get("websocket"), Some(&Json::Bool(true)), "{info:?}");
    assert_eq!(
        info.get("cookie_needed"),
        Some(&Json::Bool(false)),
        "{info:?}"
    );
    assert_eq!(
        info.get("origins"),
        Some(&Json::Array(vec![Json::Str("*:*".into())])),
        "{info:?}"
    );
    let entropy = |info: &Json| match info.get("entropy") {
        Some(Json::Number(n)) if n.fract() == 0.0 && (0.0..=4_294_967_295.0).contains(n) => *n,
        other => panic!("entropy must be an integer in 0..2^32: {other:?}"),
    };
    let first = entropy(&info);
    let again = Json::parse(http::get(server.addr, "/test-ws/info").await.text());
    assert_ne!(
        first,
        entropy(&again),
        "entropy must change between requests"
    );
}

#[tokio::test]
async fn info_answers_options_preflights_with_a_cacheable_204() {
    let server = start().await;
    for origin in [None, Some("test"), Some("null")] {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let r = http::request(server.addr, "OPTIONS", "/test-ws/info", &headers, b"").await;
        assert_eq!(r.status(), 204, "{r:?}");
        assert_cacheable(&r.head);
        let max_age: u64 = r
            .header("access-control-max-age")
            .and_then(|v| v.parse().ok())
            .expect("Access-Control-Max-Age");
        assert!(max_age > 1_000_000, "{r:?}");
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("OPTIONS, GET")
        );
        assert_eq!(r.text(), "");
        assert_cors(&r.head, origin);
    }
}

#[tokio::test]
async fn info_follows_the_websocket_and_cookie_settings() {
    let server = start_with(|c| {
        c.sockjs.websocket = false;
        c.sockjs.cookie_needed = true;
    })
    .await;
    let r = http::get(server.addr, "/test-ws/info").await;
    assert_no_cookie(&r.head);
    let info = Json::parse(r.text());
    assert_eq!(info.get("websocket"), Some(&Json::Bool(false)), "{info:?}");
    assert_eq!(
        info.get("cookie_needed"),
        Some(&Json::Bool(true)),
        "{info:?}"
    );
}

// ---- Session URLs and the protocol over xhr-polling --------------------------------------------

#[tokio::test]
async fn session_urls_accept_any_server_and_session_value() {
    let server = start().await;
    for part in ["/a/a", "/_/_", "/1/1", "/abcdefgh_i-j%20/abcdefg_i-j%20"] {
        let r = http::post(server.addr, &format!("/test-ws{part}/xhr"), "").await;
        assert_eq!((r.status(), r.text()), (200, "o\n"), "{part}");
    }
}

#[tokio::test]
async fn session_paths_that_are_empty_dotted_or_of_another_depth_are_404() {
    let server = start().await;
    for part in ["//", "/a./a", "/a/a.", "/./.", "/", "///"] {
        for method in ["GET", "POST"] {
            let path = format!("/test-ws{part}/xhr");
            let r = http::request(server.addr, method, &path, &[], b"").await;
            assert_eq!(r.status(), 404, "{method} {path}: {r:?}");
        }
    }
}

#[tokio::test]
async fn the_server_id_is_ignored_and_the_session_header_is_the_session_id() {
    let server = start().await;
    let id = sid();
    let r = http::post(server.addr, &format!("/test-ws/000/{id}/xhr"), "").await;
    assert_eq!(r.text(), "o\n");
    let r = http::post(
        server.addr,
        &format!("/test-ws/123/{id}/xhr_send"),
        &send_body(&[CONNECT]),
    )
    .await;
    assert_eq!((r.status(), r.text()), (204, ""));
    let r = http::post(server.addr, &format!("/test-ws/999/{id}/xhr"), "").await;
    let frames = stomp_frames(&messages(r.text()));
    assert_eq!(frames[0].command, Command::Connected, "{frames:?}");
    assert_eq!(frames[0].header("session"), Some(id.as_str()));
}

#[tokio::test]
async fn xhr_polling_opens_and_carries_stomp_frames_in_a_frames() {
    let server = start().await;
    let id = sid();
    let r = http::post(server.addr, &url(&id, "xhr"), "").await;
    assert_eq!((r.status(), r.text()), (200, "o\n"));
    assert_eq!(
        r.head.content_type().as_deref(),
        Some("application/javascript;charset=UTF-8")
    );
    assert_cors(&r.head, None);
    assert_not_cached(&r.head);

    let r = http::post(server.addr, &url(&id, "xhr_send"), &send_body(&[CONNECT])).await;
    assert_eq!((r.status(), r.text()), (204, ""), "{r:?}");
    assert_eq!(
        r.head.content_type().as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    assert_cors(&r.head, None);
    assert_not_cached(&r.head);

    let body = xhr(server.addr, &id).await;
    assert!(
        body.starts_with("a[\"CONNECTED\\nversion:1.2\\n"),
        "{body:?}"
    );
    assert!(body.ends_with("\\n\\n\\u0000\"]\n"), "{body:?}");
    let frames = stomp_frames(&messages(&body));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].header("session"), Some(id.as_str()));
}

#[tokio::test]
async fn a_stomp_frame_may_be_split_across_sockjs_messages_and_sends() {
    let server = start().await;
    let id = sid();
    assert_eq!(xhr(server.addr, &id).await, "o\n");
    xhr_send(server.addr, &id, &["CONNECT\naccept-", "version:1.2\n"]).await;
    xhr_send(server.addr, &id, &["\n\0"]).await;
    let frames = xhr_frames(server.addr, &id).await;
    assert_eq!(frames[0].command, Command::Connected, "{frames:?}");
}

#[tokio::test]
async fn an_idle_xhr_poll_is_answered_with_h_after_the_heartbeat_interval() {
    let server = start_with(|c| c.sockjs.heartbeat = Duration::from_millis(300)).await;
    let id = sid();
    assert_eq!(xhr(server.addr, &id).await, "o\n");
    let started = Instant::now();
    assert_eq!(xhr(server.addr, &id).await, "h\n");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
        "h after {waited:?}, heartbeat is 300 ms"
    );
}

#[tokio::test]
async fn xhr_send_answers_500_to_broken_json_and_to_an_empty_body() {
    let server = start().await;
    let id = sid();
    assert_eq!(xhr(server.addr, &id).await, "o\n");
    let r = http::post(server.addr, &url(&id, "xhr_send"), "[\"x").await;
    assert_eq!(r.status(), 500, "{r:?}");
    assert!(r.text().contains("Broken JSON encoding."), "{r:?}");
    let r = http::post(server.addr, &url(&id, "xhr_send"), "").await;
    assert_eq!(r.status(), 500, "{r:?}");
    assert!(r.text().contains("Payload expected."), "{r:?}");
    // The session is unharmed.
    xhr_send(server.addr, &id, &[CONNECT]).await;
    assert_eq!(
        xhr_frames(server.addr, &id).await[0].command,
        Command::Connected
    );
}

#[tokio::test]
async fn xhr_send_to_an_unknown_session_is_404() {
    let server = start().await;
    let r = http::post(server.addr, &url(&sid(), "xhr_send"), "[\"x\"]").await;
    assert_eq!(r.status(), 404, "{r:?}");
    let r = http::post(server.addr, "/test-ws/000/bad_session/xhr_send", "[\"x\"]").await;
    assert_eq!(r.status(), 404, "{r:?}");
}

#[tokio::test]
async fn xhr_send_accepts_every_content_type() {
    let server = start().await;
    let id = sid();
    xhr_connect(server.addr, &id).await;
    xhr_send(server.addr, &id, &[&subscribe_frame("/topic/ct")]).await;
    assert_eq!(
        xhr_frames(server.addr, &id).await[0].command,
        Command::Receipt
    );
    let types = [
        "text/plain",
        "T",
        "application/json",
        "application/xml",
        "",
        "application/json; charset=utf-8",
        "text/xml; charset=utf-8",
        "text/xml",
    ];
    for ct in types {
        let body = send_body(&[&send_frame("/topic/ct", ct)]);
        let r = http::request(
            server.addr,
            "POST",
            &url(&id, "xhr_send"),
            &[("Content-Type", ct)],
            body.as_bytes(),
        )
        .await;
        assert_eq!(
            (r.status(), r.text()),
            (204, ""),
            "Content-Type {ct:?}: {r:?}"
        );
    }
    let mut bodies = Vec::new();
    while bodies.len() < types.len() {
        for f in xhr_frames(server.addr, &id).await {
            assert_eq!(f.command, Command::Message, "{f:?}");
            bodies.push(String::from_utf8(f.body.to_vec()).unwrap());
        }
    }
    assert_eq!(bodies, types);
}

#[tokio::test]
async fn xhr_echoes_access_control_request_headers() {
    let server = start().await;
    for (request, expected) in [
        (Some("a, b, c"), Some("a, b, c")),
        (Some(""), None),
        (None, None),
    ] {
        let headers: Vec<(&str, &str)> = request
            .map(|v| ("Access-Control-Request-Headers", v))
            .into_iter()
            .collect();
        let r = http::request(server.addr, "POST", &url(&sid(), "xhr"), &headers, b"").await;
        assert_eq!(r.status(), 200);
        assert_cors(&r.head, None);
        // The spec's `assertFalse(r['Access-Control-Allow-Headers'])` passes for an empty value.
        let got = r
            .header("access-control-allow-headers")
            .filter(|v| !v.is_empty());
        assert_eq!(got, expected, "{request:?}: {r:?}");
    }
}

#[tokio::test]
async fn xhr_transports_answer_options_preflights() {
    let server = start().await;
    for transport in ["xhr", "xhr_send", "xhr_streaming", "jsonp_send"] {
        for origin in [None, Some("test"), Some("null")] {
            let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
            let path = format!("/test-ws/abc/abc/{transport}");
            let r = http::request(server.addr, "OPTIONS", &path, &headers, b"").await;
            assert_eq!(r.status(), 204, "{path}: {r:?}");
            assert_cacheable(&r.head);
            assert!(
                r.header("access-control-max-age")
                    .and_then(|v| v.parse::<u64>().ok())
                    .is_some_and(|v| v > 1_000_000),
                "{r:?}"
            );
            assert_eq!(
                r.header("access-control-allow-methods"),
                Some("OPTIONS, POST")
            );
            assert_eq!(r.text(), "");
            assert_cors(&r.head, origin);
        }
    }
}

#[tokio::test]
async fn a_transport_asked_with_the_wrong_method_is_405_with_allow() {
    let server = start().await;
    for (method, transport) in [
        ("GET", "xhr"),
        ("GET", "xhr_send"),
        ("GET", "xhr_streaming"),
        ("POST", "eventsource"),
        ("POST", "htmlfile"),
        ("POST", "jsonp"),
        ("GET", "jsonp_send"),
    ] {
        let r = http::request(server.addr, method, &url(&sid(), transport), &[], b"").await;
        assert_405(&r);
    }
}

// ---- xhr-streaming, eventsource, htmlfile ----------------------------------------------------

#[tokio::test]
async fn xhr_streaming_sends_a_2_kib_prelude_then_newline_framed_frames() {
    let server = start().await;
    let id = sid();
    let (mut c, head) =
        http::open_stream(server.addr, "POST", &url(&id, "xhr_streaming"), &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.content_type().as_deref(),
        Some("application/javascript;charset=UTF-8")
    );
    assert_cors(&head, None);
    assert_not_cached(&head);
    c.expect(&format!("{}\n", "h".repeat(2048))).await;
    c.expect("o\n").await;
    xhr_send(server.addr, &id, &[CONNECT]).await;
    let line = c.line().await;
    assert!(line.starts_with("a[\"CONNECTED\\n"), "{line:?}");
    assert_eq!(
        stomp_frames(&messages(&line))[0].header("session"),
        Some(id.as_str())
    );
}

/// Publishes `body` to `/topic/limit` and reads the a-frame line it arrives in.
async fn publish_and_read(server: &support::TestServer, c: &mut http::Conn, body: &str) -> String {
    server
        .broker
        .publish("/topic/limit", vec![], body.to_string())
        .unwrap();
    c.line().await
}

#[tokio::test]
async fn xhr_streaming_ends_after_the_response_limit_and_the_next_request_continues_the_session() {
    let server = start().await;
    let id = sid();
    let mut c = xhr_streaming(server.addr, &id).await;
    c.expect("o\n").await;
    let mut sent = 2;
    xhr_send(
        server.addr,
        &id,
        &[CONNECT, &subscribe_frame("/topic/limit")],
    )
    .await;
    while sent < 4096 {
        // CONNECTED and RECEIPT may come in one frame or two.
        let line = c.line().await;
        sent += line.len();
        if stomp_frames(&messages(&line)).last().unwrap().command == Command::Receipt {
            break;
        }
    }
    let mut n = 0;
    while sent < 4096 {
        let line = publish_and_read(&server, &mut c, &format!("{n:03}{}", "x".repeat(125))).await;
        assert!(line.starts_with("a[\"MESSAGE\\n"), "{line:?}");
        sent += line.len();
        n += 1;
    }
    // 4096 bytes of frames (the `o` included) went out: the response ends here.
    c.end().await;
    assert!(n > 10, "only {n} messages fit in 4096 bytes?");

    // The session lives on: the next request gets no `o`, only new messages.
    let mut c = xhr_streaming(server.addr, &id).await;
    let line = publish_and_read(&server, &mut c, "after the limit").await;
    let frames = stomp_frames(&messages(&line));
    assert_eq!(frames[0].body.as_ref(), b"after the limit", "{line:?}");
    assert!(server.broker.sessions().iter().any(|s| s.id.as_ref() == id));
}

#[tokio::test]
async fn eventsource_frames_each_frame_as_a_data_event() {
    let server = start().await;
    let id = sid();
    let (mut c, head) = http::open_stream(server.addr, "GET", &url(&id, "eventsource"), &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.content_type().as_deref(),
        Some("text/event-stream;charset=UTF-8")
    );
    assert_not_cached(&head);
    c.expect("\r\n").await;
    c.expect("data: o\r\n\r\n").await;
    xhr_send(server.addr, &id, &[CONNECT, &subscribe_frame("/topic/es")]).await;
    let mut got = Vec::new();
    while got.last().map(|f: &stompbox_stomp::Frame| f.command) != Some(Command::Receipt) {
        let event = c.until("\r\n\r\n").await;
        let frame = event.strip_prefix("data: ").expect("a data line");
        got.extend(stomp_frames(&messages(frame)));
    }
    // The spec's escaping check: leading spaces, NUL, CR and LF survive the event framing.
    server
        .broker
        .publish("/topic/es", vec![], "  \u{0}\n\r ")
        .unwrap();
    let event = c.until("\r\n\r\n").await;
    assert!(event.starts_with("data: a[\"MESSAGE\\n"), "{event:?}");
    let tail = format!("{}\r\n\r\n", r#"\n\n  \u0000\n\r \u0000"]"#);
    assert!(event.ends_with(&tail), "{event:?} should end with {tail:?}");
    assert_eq!(
        event.matches('\n').count(),
        2,
        "only the event's own CRLFs: {event:?}"
    );
}

#[tokio::test]
async fn eventsource_ends_after_the_response_limit() {
    let server = start().await;
    let id = sid();
    let (mut c, _) = http::open_stream(server.addr, "GET", &url(&id, "eventsource"), &[]).await;
    c.expect("\r\n").await;
    c.expect("data: o\r\n\r\n").await;
    xhr_send(server.addr, &id, &[CONNECT, &subscribe_frame("/topic/big")]).await;
    while !c.until("\r\n\r\n").await.contains("RECEIPT") {}
    let big = "x".repeat(4096);
    server
        .broker
        .publish("/topic/big", vec![], big.clone())
        .unwrap();
    let event = c.until("\r\n\r\n").await;
    assert!(event.contains(&big), "{event:?}");
    c.end().await;
}

#[tokio::test]
async fn htmlfile_sends_a_padded_page_then_script_tags() {
    let server = start().await;
    let id = sid();
    let path = format!("{}?c=%63allback", url(&id, "htmlfile"));
    let (mut c, head) = http::open_stream(server.addr, "GET", &path, &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.content_type().as_deref(),
        Some("text/html;charset=UTF-8")
    );
    assert_not_cached(&head);
    let open = "<script>\np(\"o\");\n</script>\r\n";
    let page = c.until(open).await;
    let prelude = page.strip_suffix(open).unwrap();
    assert_eq!(prelude.trim(), htmlfile_head("callback"));
    assert!(
        prelude.len() > 1024,
        "the prelude must be padded past 1 KiB: {}",
        prelude.len()
    );

    xhr_send(server.addr, &id, &[CONNECT]).await;
    let script = c.until("</script>\r\n").await;
    let call = script
        .strip_prefix("<script>\np(")
        .and_then(|s| s.strip_suffix(");\n</script>\r\n"))
        .unwrap_or_else(|| panic!("{script:?}"));
    let frame = Json::parse(call);
    let frames = stomp_frames(&messages(frame.as_str()));
    assert_eq!(frames[0].command, Command::Connected, "{script:?}");
}

#[tokio::test]
async fn htmlfile_ends_after_the_response_limit() {
    let server = start().await;
    let id = sid();
    let path = format!("{}?c=callback", url(&id, "htmlfile"));
    let (mut c, _) = http::open_stream(server.addr, "GET", &path, &[]).await;
    c.until("<script>\np(\"o\");\n</script>\r\n").await;
    xhr_send(server.addr, &id, &[CONNECT, &subscribe_frame("/topic/big")]).await;
    while !c.until("</script>\r\n").await.contains("RECEIPT") {}
    let big = "x".repeat(4096);
    server
        .broker
        .publish("/topic/big", vec![], big.clone())
        .unwrap();
    assert!(c.until("</script>\r\n").await.contains(&big));
    c.end().await;
}

#[tokio::test]
async fn htmlfile_and_jsonp_need_a_valid_callback() {
    let server = start().await;
    for transport in ["htmlfile", "jsonp"] {
        let r = http::get(server.addr, &format!("/test-ws/a/a/{transport}")).await;
        assert_eq!(r.status(), 500, "{r:?}");
        assert!(
            r.text().contains("\"callback\" parameter required"),
            "{r:?}"
        );
        let r = http::get(
            server.addr,
            &format!("/test-ws/a/b/{transport}?c=%3Cscript%3E"),
        )
        .await;
        assert_eq!(r.status(), 500, "{r:?}");
        assert!(r.text().contains("invalid \"callback\" parameter"), "{r:?}");
    }
}

// ---- jsonp -------------------------------------------------------------------------------------

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `d=<payload>` form encoding of a send body.
fn form(payload: &str) -> String {
    let mut out = String::from("d=");
    for b in payload.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn jsonp_send(
    server: &support::TestServer,
    id: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> http::Response {
    http::request(
        server.addr,
        "POST",
        &url(id, "jsonp_send"),
        headers,
        body.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn jsonp_polls_with_a_callback_and_jsonp_send_takes_form_or_raw_bodies() {
    let server = start().await;
    let id = sid();
    let poll = format!("{}?c=%63allback", url(&id, "jsonp"));
    let r = http::get(server.addr, &poll).await;
    assert_eq!((r.status(), r.text()), (200, "callback(\"o\");\r\n"));
    assert_eq!(
        r.head.content_type().as_deref(),
        Some("application/javascript;charset=UTF-8")
    );
    assert_not_cached(&r.head);

    let r = jsonp_send(&server, &id, &[FORM], &form(&send_body(&[CONNECT]))).await;
    assert_eq!((r.status(), r.text()), (200, "ok"), "{r:?}");
    assert_eq!(
        r.head.content_type().as_deref(),
        Some("text/plain;charset=UTF-8")
    );
    assert_not_cached(&r.head);

    let r = http::get(server.addr, &poll).await;
    let call = r
        .text()
        .strip_prefix("callback(")
        .and_then(|s| s.strip_suffix(");\r\n"))
        .unwrap_or_else(|| panic!("{r:?}"));
    let frames = stomp_frames(&messages(Json::parse(call).as_str()));
    assert_eq!(frames[0].command, Command::Connected);

    // A raw (not form-encoded) body is JSON as is: `%61` stays `%61`.
    let raw = send_body(&[
        &subscribe_frame("/topic/j"),
        &send_frame("/topic/j", "%61bc"),
    ]);
    let r = jsonp_send(&server, &id, &[("Content-Type", "text/plain")], &raw).await;
    assert_eq!((r.status(), r.text()), (200, "ok"), "{r:?}");
    let mut got = Vec::new();
    while !got
        .iter()
        .any(|f: &stompbox_stomp::Frame| f.command == Command::Message)
    {
        let r = http::get(server.addr, &format!("{}?c=x", url(&id, "jsonp"))).await;
        let call = r
            .text()
            .strip_prefix("x(")
            .and_then(|s| s.strip_suffix(");\r\n"))
            .unwrap();
        let frame = Json::parse(call);
        if frame.as_str() != "h" {
            got.extend(stomp_frames(&messages(frame.as_str())));
        }
    }
    let message = got.iter().find(|f| f.command == Command::Message).unwrap();
    assert_eq!(message.body.as_ref(), b"%61bc");
}

#[tokio::test]
async fn jsonp_send_answers_500_to_broken_or_missing_payloads() {
    let server = start().await;
    let id = sid();
    let r = http::get(server.addr, &format!("{}?c=x", url(&id, "jsonp"))).await;
    assert_eq!(r.text(), "x(\"o\");\r\n");
    let r = jsonp_send(&server, &id, &[FORM], "d=%5B%22x").await;
    assert_eq!(r.status(), 500, "{r:?}");
    assert!(r.text().contains("Broken JSON encoding."), "{r:?}");
    for body in ["", "d=", "p=p"] {
        let r = jsonp_send(&server, &id, &[FORM], body).await;
        assert_eq!(r.status(), 500, "{body:?}: {r:?}");
        assert!(r.text().contains("Payload expected."), "{body:?}: {r:?}");
    }
    let r = jsonp_send(&server, &id, &[FORM], &form(&send_body(&[CONNECT]))).await;
    assert_eq!(r.text(), "ok");
}

// ---- JSESSIONID --------------------------------------------------------------------------------

fn assert_cookie(head: &http::Head, value: &str) {
    let cookie = head
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no Set-Cookie: {head:?}"));
    let mut parts = cookie.split(';');
    assert_eq!(
        parts.next().map(str::trim),
        Some(format!("JSESSIONID={value}").as_str())
    );
    assert_eq!(
        parts.next().map(|p| p.trim().to_lowercase()).as_deref(),
        Some("path=/")
    );
}

#[tokio::test]
async fn every_http_transport_sets_jsessionid_when_cookies_are_needed() {
    let server = start_with(|c| c.sockjs.cookie_needed = true).await;
    let r = http::get(server.addr, "/test-ws/info").await;
    assert_no_cookie(&r.head);

    let r = http::post(server.addr, &url(&sid(), "xhr"), "").await;
    assert_eq!(r.text(), "o\n");
    assert_cookie(&r.head, "dummy");
    let r = http::request(
        server.addr,
        "POST",
        &url(&sid(), "xhr"),
        &[("Cookie", "JSESSIONID=abcdef")],
        b"",
    )
    .await;
    assert_eq!(r.text(), "o\n");
    assert_cookie(&r.head, "abcdef");

    for (method, path) in [
        ("POST", url(&sid(), "xhr_streaming")),
        ("GET", url(&sid(), "eventsource")),
        ("GET", format!("{}?c=%63allback", url(&sid(), "htmlfile"))),
    ] {
        let (_c, head) = http::open_stream(server.addr, method, &path, &[]).await;
        assert_eq!(head.status, 200, "{path}");
        assert_cookie(&head, "dummy");
    }

    let id = sid();
    let r = http::get(server.addr, &format!("{}?c=%63allback", url(&id, "jsonp"))).await;
    assert_eq!(r.text(), "callback(\"o\");\r\n");
    assert_cookie(&r.head, "dummy");
    let r = jsonp_send(&server, &id, &[FORM], &form(&send_body(&[CONNECT]))).await;
    assert_eq!((r.status(), r.text()), (200, "ok"));
    assert_cookie(&r.head, "dummy");
}

#[tokio::test]
async fn no_cookie_is_set_when_cookies_are_not_needed() {
    let server = start().await;
    let r = http::post(server.addr, &url(&sid(), "xhr"), "").await;
    assert_eq!(r.text(), "o\n");
    assert_no_cookie(&r.head);
}

// ---- WebSocket transports ----------------------------------------------------------------------

#[tokio::test]
async fn the_websocket_transport_frames_o_a_h_and_c() {
    let server = start_with(|c| c.sockjs.heartbeat = Duration::from_millis(200)).await;
    let mut ws = ws_open(server.addr, &url(&sid(), "websocket")).await;
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("o"));
    ws_send(&mut ws, "").await; // ignored
    ws_send(&mut ws, &send_body(&[CONNECT])).await;
    let connected = ws_recv(&mut ws).await.unwrap();
    assert!(
        connected.starts_with("a[\"CONNECTED\\nversion:1.2\\n"),
        "{connected:?}"
    );
    assert!(connected.ends_with("\\n\\n\\u0000\"]"), "{connected:?}");
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("h"));
    // A single JSON string is a message too.
    ws_send(
        &mut ws,
        &sockjs::json_string("DISCONNECT\nreceipt:bye\n\n\0"),
    )
    .await;
    let mut frame = ws_recv(&mut ws).await.unwrap();
    while frame == "h" {
        frame = ws_recv(&mut ws).await.unwrap();
    }
    assert_eq!(frame, "a[\"RECEIPT\\nreceipt-id:bye\\n\\n\\u0000\"]");
    assert_eq!(
        ws_recv(&mut ws).await.as_deref(),
        Some("c[1000,\"DISCONNECT\"]")
    );
    assert_eq!(
        ws_recv(&mut ws).await,
        None,
        "the connection ends after c[…]"
    );
}

#[tokio::test]
async fn the_websocket_transport_drops_the_connection_on_broken_json() {
    let server = start().await;
    let mut ws = ws_open(server.addr, &url(&sid(), "websocket")).await;
    assert_eq!(ws_recv(&mut ws).await.as_deref(), Some("o"));
    ws_send(&mut ws, "[\"a").await;
    assert_eq!(ws_recv(&mut ws).await, None);
}

#[tokio::test]
async fn websocket_sessions_may_reuse_a_session_id_at_the_same_time() {
    let server = start().await;
    let path = url(&sid(), "websocket");
    let mut ws1 = ws_open(server.addr, &path).await;
    assert_eq!(ws_recv(&mut ws1).await.as_deref(), Some("o"));
    let mut ws2 = ws_open(server.addr, &path).await;
    assert_eq!(ws_recv(&mut ws2).await.as_deref(), Some("o"));
    for ws in [&mut ws1, &mut ws2] {
        ws_send(ws, &send_body(&[CONNECT])).await;
        let frames = stomp_frames(&messages(&ws_recv(ws).await.unwrap()));
        assert_eq!(frames[0].command, Command::Connected);
    }
    ws_send(&mut ws1, &send_body(&["DISCONNECT\n\n\0"])).await;
    assert_eq!(
        ws_recv(&mut ws1).await.as_deref(),
        Some("c[1000,\"DISCONNECT\"]")
    );
    // ws2 is unaffected.
    ws_send(
        &mut ws2,
        &send_body(&["SUBSCRIBE\nid:1\ndestination:/topic/w\nreceipt:r\n\n\0"]),
    )
    .await;
    let frames = stomp_frames(&messages(&ws_recv(&mut ws2).await.unwrap()));
    assert_eq!(frames[0].command, Command::Receipt);
    // The id can be used again after closing.
    let mut ws3 = ws_open(server.addr, &path).await;
    assert_eq!(ws_recv(&mut ws3).await.as_deref(), Some("o"));
}

#[tokio::test]
async fn the_websocket_transport_refuses_plain_requests_and_other_methods() {
    let server = start().await;
    let r = http::get(server.addr, "/test-ws/0/0/websocket").await;
    assert_eq!(r.status(), 400, "{r:?}");
    assert!(
        r.text().contains("Can \"Upgrade\" only to \"WebSocket\"."),
        "{r:?}"
    );
    let r = http::request(
        server.addr,
        "GET",
        "/test-ws/0/0/websocket",
        &[("Upgrade", "WebSocket"), ("Connection", "close")],
        b"",
    )
    .await;
    assert_eq!(r.status(), 400, "{r:?}");
    for headers in [
        &[("Upgrade", "WebSocket"), ("Connection", "Upgrade")][..],
        &[],
    ] {
        for path in ["/test-ws/0/0/websocket", "/test-ws/websocket"] {
            let r = http::request(server.addr, "POST", path, headers, b"").await;
            assert_405(&r);
        }
    }
}

#[tokio::test]
async fn the_websocket_transport_is_404_when_disabled() {
    let server = start_with(|c| c.sockjs.websocket = false).await;
    let r = http::request(
        server.addr,
        "GET",
        "/test-ws/0/0/websocket",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status(), 404, "{r:?}");
}

#[tokio::test]
async fn raw_websocket_at_slash_websocket_is_plain_stomp() {
    let server = start().await;
    let mut ws = ws_open(server.addr, "/test-ws/websocket").await;
    ws_send(&mut ws, CONNECT).await;
    let connected = ws_recv(&mut ws).await.unwrap();
    assert!(
        connected.starts_with("CONNECTED\nversion:1.2\n"),
        "no SockJS framing: {connected:?}"
    );
    ws_send(&mut ws, "SUBSCRIBE\nid:1\ndestination:/topic/raw\n\n\0").await;
    ws_send(
        &mut ws,
        "SEND\ndestination:/topic/raw\n\nHello world!\u{ffff}\0",
    )
    .await;
    let message = ws_recv(&mut ws).await.unwrap();
    assert!(message.starts_with("MESSAGE\n"), "{message:?}");
    assert!(
        message.ends_with("\n\nHello world!\u{ffff}\0"),
        "{message:?}"
    );
}

// ---- JSON Unicode encoding ---------------------------------------------------------------------

/// The spec's `escapable_by_server` set from U+00FF up (`server_killer_string`).
fn escapable_by_server(v: u32) -> bool {
    matches!(v, 0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff)
}

#[tokio::test]
async fn messages_from_the_server_escape_the_unicode_ranges_browsers_mangle() {
    let server = start().await;
    let id = sid();
    xhr_connect(server.addr, &id).await;
    xhr_send(server.addr, &id, &[&subscribe_frame("/topic/u")]).await;
    assert_eq!(
        xhr_frames(server.addr, &id).await[0].command,
        Command::Receipt
    );

    let chars: Vec<char> = (255..0x10000)
        .filter(|&v| escapable_by_server(v))
        .filter_map(char::from_u32)
        .collect();
    let killer: String = chars.iter().collect();
    let escaped: String = chars
        .iter()
        .map(|&c| format!("\\u{:04x}", u32::from(c)))
        .collect();
    server
        .broker
        .publish("/topic/u", vec![], killer.clone())
        .unwrap();
    let body = xhr(server.addr, &id).await;
    assert!(
        body.ends_with(&format!("\\n\\n{escaped}\\u0000\"]\n")),
        "the body must be written as \\uXXXX escapes: {body:?}"
    );
    assert!(
        !body.chars().any(|c| escapable_by_server(u32::from(c))),
        "{body:?}"
    );
    let frames = stomp_frames(&messages(&body));
    assert_eq!(frames[0].body.as_ref(), killer.as_bytes());
}

/// The spec's `escapable_by_client` set: what sockjs-client escapes before sending.
const ESCAPABLE_BY_CLIENT: &[(u32, u32)] = &[
    (0x0, 0x1f),
    (0x22, 0x22),
    (0x5c, 0x5c),
    (0x7f, 0x9f),
    (0xad, 0xad),
    (0x300, 0x333),
    (0x33d, 0x346),
    (0x34a, 0x34c),
    (0x350, 0x352),
    (0x357, 0x358),
    (0x35c, 0x362),
    (0x374, 0x374),
    (0x37e, 0x37e),
    (0x387, 0x387),
    (0x591, 0x5af),
    (0x5c4, 0x5c4),
    (0x600, 0x604),
    (0x610, 0x617),
    (0x653, 0x654),
    (0x657, 0x65b),
    (0x65d, 0x65e),
    (0x6df, 0x6e2),
    (0x6eb, 0x6ec),
    (0x70f, 0x70f),
    (0x730, 0x730),
    (0x732, 0x733),
    (0x735, 0x736),
    (0x73a, 0x73a),
    (0x73d, 0x73d),
    (0x73f, 0x741),
    (0x743, 0x743),
    (0x745, 0x745),
    (0x747, 0x747),
    (0x7eb, 0x7f1),
    (0x951, 0x951),
    (0x958, 0x95f),
    (0x9dc, 0x9dd),
    (0x9df, 0x9df),
    (0xa33, 0xa33),
    (0xa36, 0xa36),
    (0xa59, 0xa5b),
    (0xa5e, 0xa5e),
    (0xb5c, 0xb5d),
    (0xe38, 0xe39),
    (0xf43, 0xf43),
    (0xf4d, 0xf4d),
    (0xf52, 0xf52),
    (0xf57, 0xf57),
    (0xf5c, 0xf5c),
    (0xf69, 0xf69),
    (0xf72, 0xf76),
    (0xf78, 0xf78),
    (0xf80, 0xf83),
    (0xf93, 0xf93),
    (0xf9d, 0xf9d),
    (0xfa2, 0xfa2),
    (0xfa7, 0xfa7),
    (0xfac, 0xfac),
    (0xfb9, 0xfb9),
    (0x17b4, 0x17b5),
    (0x1939, 0x193a),
    (0x1a17, 0x1a17),
    (0x1b6b, 0x1b6b),
    (0x1cda, 0x1cdb),
    (0x1dc0, 0x1dcf),
    (0x1dfc, 0x1dfc),
    (0x1dfe, 0x1dfe),
    (0x1f71, 0x1f71),
    (0x1f73, 0x1f73),
    (0x1f75, 0x1f75),
    (0x1f77, 0x1f77),
    (0x1f79, 0x1f79),
    (0x1f7b, 0x1f7b),
    (0x1f7d, 0x1f7d),
    (0x1fbb, 0x1fbb),
    (0x1fbe, 0x1fbe),
    (0x1fc9, 0x1fc9),
    (0x1fcb, 0x1fcb),
    (0x1fd3, 0x1fd3),
    (0x1fdb, 0x1fdb),
    (0x1fe3, 0x1fe3),
    (0x1feb, 0x1feb),
    (0x1fee, 0x1fef),
    (0x1ff9, 0x1ff9),
    (0x1ffb, 0x1ffb),
    (0x1ffd, 0x1ffd),
    (0x2000, 0x20ff),
    (0x2126, 0x2126),
    (0x212a, 0x212b),
    (0x2329, 0x232a),
    (0x2adc, 0x2adc),
    (0x302b, 0x302c),
    (0xaab2, 0xaab3),
    (0xf900, 0xfa0d),
    (0xfa10, 0xfa10),
    (0xfa12, 0xfa12),
    (0xfa15, 0xfa1e),
    (0xfa20, 0xfa20),
    (0xfa22, 0xfa22),
    (0xfa25, 0xfa26),
    (0xfa2a, 0xfa2d),
    (0xfa30, 0xfa6d),
    (0xfa70, 0xfad9),
    (0xfb1d, 0xfb1d),
    (0xfb1f, 0xfb1f),
    (0xfb2a, 0xfb36),
    (0xfb38, 0xfb3c),
    (0xfb3e, 0xfb3e),
    (0xfb40, 0xfb41),
    (0xfb43, 0xfb44),
    (0xfb46, 0xfb4e),
    (0xfeff, 0xfeff),
    (0xfff0, 0xffff),
];

#[tokio::test]
async fn characters_the_client_escapes_are_decoded_by_the_server() {
    let server = start().await;
    let id = sid();
    xhr_connect(server.addr, &id).await;
    xhr_send(server.addr, &id, &[&subscribe_frame("/topic/k")]).await;
    assert_eq!(
        xhr_frames(server.addr, &id).await[0].command,
        Command::Receipt
    );

    let chars: Vec<char> = ESCAPABLE_BY_CLIENT
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .filter_map(char::from_u32)
        .collect();
    let killer: String = chars.iter().collect();
    // The SEND frame's head as plain JSON, its body fully \u-escaped as the spec's client does.
    let head = format!(
        "SEND\ndestination:/topic/k\ncontent-length:{}\n\n",
        killer.len()
    );
    let head_json = sockjs::json_string(&head);
    let body_json: String = chars
        .iter()
        .map(|&c| format!("\\u{:04x}", u32::from(c)))
        .collect();
    let payload = format!("[{},\"{body_json}\\u0000\"]", head_json);
    let r = http::post(server.addr, &url(&id, "xhr_send"), &payload).await;
    assert_eq!(r.status(), 204, "{r:?}");
    let frames = xhr_frames(server.addr, &id).await;
    assert_eq!(frames[0].command, Command::Message, "{frames:?}");
    assert_eq!(frames[0].body.as_ref(), killer.as_bytes());
}
