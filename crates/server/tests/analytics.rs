//! Close analytics: abnormal closes after the same server silence are named as an idle timeout
//! on the path, in `/api/stats` and `/metrics`.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
mod support;

use std::time::Duration;

use support::{Client, TestServer};

#[tokio::test]
async fn three_sockets_cut_after_the_same_silence_are_reported_as_an_idle_timeout() {
    let mut server = TestServer::start_with(|c| c.stomp.heart_beat = "0,0".into()).await;
    // Three sessions opened 300 ms apart; each goes silent for 1.5 s, then its socket vanishes,
    // as a proxy's idle timeout would make it.
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(Client::connect(&server, &format!("u{i}")).await.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    for c in clients {
        c.drop_socket();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for _ in 0..3 {
        let (_, status) = server.next_close().await;
        assert_eq!(status.code, 1006);
    }
    let stats: serde_json::Value =
        serde_json::from_str(http::get(server.addr, "/api/stats").await.text()).unwrap();
    let findings = stats["idleTimeouts"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{stats:#}");
    assert_eq!(findings[0]["sessions"], 3);
    let idle = findings[0]["idleSeconds"].as_f64().unwrap();
    assert!((1.4..2.2).contains(&idle), "{idle}");
    assert_eq!(stats["abnormalIdle"]["count"], 3);
    let metrics = http::get(server.addr, "/metrics").await;
    let text = metrics.text();
    assert!(
        text.contains("stompbox_abnormal_close_server_idle_seconds_bucket{le=\"2\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("stompbox_idle_timeout_findings_total 1"),
        "{text}"
    );
    assert!(
        text.contains("stompbox_sessions_closed_total{code=\"1006\",closed_by=\"none\"} 3"),
        "{text}"
    );
}

#[tokio::test]
async fn sockets_killed_at_once_are_not_taken_for_an_idle_timeout() {
    let mut server = TestServer::start_with(|c| c.stomp.heart_beat = "0,0".into()).await;
    for i in 0..3 {
        let (c, _) = Client::connect(&server, &format!("u{i}")).await;
        c.drop_socket();
        server.next_close().await;
    }
    let stats: serde_json::Value =
        serde_json::from_str(http::get(server.addr, "/api/stats").await.text()).unwrap();
    assert!(
        stats["idleTimeouts"].as_array().unwrap().is_empty(),
        "{stats:#}"
    );
}
