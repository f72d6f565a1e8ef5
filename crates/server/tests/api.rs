//! The console's JSON API and the embedded files, over real HTTP.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
mod support;

use support::{Client, TestServer};

fn json(r: &http::Response) -> serde_json::Value {
    serde_json::from_str(r.text()).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

#[tokio::test]
async fn api_sessions_lists_open_sessions_with_their_version() {
    let server = TestServer::start().await;
    let (_c, connected) = Client::connect(&server, "alice").await;
    let r = http::get(server.addr, "/api/sessions").await;
    assert_eq!(r.status(), 200);
    let v = json(&r);
    let s = &v["sessions"][0];
    assert_eq!(s["id"], connected.header("session").unwrap());
    assert_eq!(s["user"], "alice");
    assert_eq!(s["transport"], "websocket");
    assert_eq!(s["version"], "1.2");
}

#[tokio::test]
async fn api_closes_shows_a_dropped_session_as_1006_newest_first() {
    let mut server = TestServer::start().await;
    let (a, _) = Client::connect(&server, "a").await;
    a.close(Some(1000)).await;
    server.next_close().await;
    let (b, connected) = Client::connect(&server, "b").await;
    b.drop_socket();
    server.next_close().await;
    let v = json(&http::get(server.addr, "/api/closes?limit=10").await);
    let closes = v["closes"].as_array().unwrap();
    assert_eq!(closes.len(), 2);
    assert_eq!(closes[0]["id"], connected.header("session").unwrap());
    assert_eq!(closes[0]["code"], 1006);
    assert_eq!(closes[0]["closedBy"], "none");
    assert_eq!(closes[1]["code"], 1000);
    assert_eq!(closes[1]["closedBy"], "client");
    let one = json(&http::get(server.addr, "/api/closes?limit=1").await);
    assert_eq!(one["closes"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn api_closecodes_explains_in_english_and_chinese_and_refuses_bad_codes() {
    let server = TestServer::start().await;
    let en = json(&http::get(server.addr, "/api/closecodes/1006").await);
    assert_eq!(en["name"], "Abnormal Closure");
    assert_eq!(en["onWire"], false);
    assert!(en["causes"].to_string().contains("proxy_read_timeout"));
    let zh = json(&http::get(server.addr, "/api/closecodes/1006?lang=zh").await);
    assert!(zh["causes"].to_string().contains("心跳"));
    let range = json(&http::get(server.addr, "/api/closecodes/4123").await);
    assert_eq!(range["range"], "4000-4999");
    for bad in [
        "/api/closecodes/abc",
        "/api/closecodes/70000",
        "/api/closecodes/1000?lang=fr",
    ] {
        let r = http::get(server.addr, bad).await;
        assert_eq!(r.status(), 400, "{bad}: {r:?}");
        assert!(json(&r)["error"].is_string());
    }
}

#[tokio::test]
async fn the_console_the_seed_page_and_the_libraries_are_served_by_the_server() {
    let server = TestServer::start().await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/console.js", "application/javascript"),
        ("/console.css", "text/css"),
        ("/seed.html", "text/html"),
        ("/lib/sockjs.min.js", "application/javascript"),
        ("/lib/stomp.umd.min.js", "application/javascript"),
        ("/lib/stomp-2.3.3.min.js", "application/javascript"),
    ] {
        let r = http::get(server.addr, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with(content_type),
            "{path}: {r:?}"
        );
    }
    let lib = http::get(server.addr, "/lib/sockjs.min.js").await;
    assert!(lib.text().contains("SockJS"));
}

#[tokio::test]
async fn api_info_names_the_endpoint_and_the_instance_and_bad_limits_get_json_errors() {
    let server = TestServer::start().await;
    let v = json(&http::get(server.addr, "/api/info").await);
    assert_eq!(v["endpoint"], "/test-ws");
    assert_eq!(v["sockjs"]["heartbeatMs"], 25_000);
    assert!(v["instance"].as_str().unwrap().len() == 16);
    for bad in ["/api/closes?limit=abc", "/api/closes?limit=-1"] {
        let r = http::get(server.addr, bad).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(json(&r)["error"].as_str().unwrap().contains("limit"));
    }
}
