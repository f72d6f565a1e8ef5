//! Close analytics across a cluster (issue 8): two `stompbox serve --cluster` nodes joined
//! through a real redis-server; sessions closed with 1000 on A and with 4001 and 1006 on B.
//! `/api/stats` and `stompbox stats` on EITHER node show both nodes and the summed close codes,
//! `/metrics` has the `stompbox_cluster_*` series, and a node killed with SIGKILL drops out of
//! the other's figures once its snapshot expires.
#![allow(clippy::unwrap_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "../../cluster/tests/support/redis.rs"]
mod redis;
mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use redis::Redis;
use serde_json::Value;
use support::serve::Serve;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Snapshots are written every 2 s and live 6 s: a killed node is gone within about 8 s.
const EXPIRY: Duration = Duration::from_secs(15);

fn http_get(http: &str, path: &str) -> String {
    let mut tcp = std::net::TcpStream::connect(http).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

fn stats(http: &str) -> Value {
    serde_json::from_str(&http_get(http, "/api/stats")).unwrap()
}

/// `(code, closedBy, count)` of the cluster's totals.
fn cluster_closes(v: &Value) -> Vec<(u64, String, u64)> {
    v["cluster"]["total"]["closes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let by = c["closedBy"].as_str().unwrap_or_default().to_string();
            (
                c["code"].as_u64().unwrap(),
                by,
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn node_ids(v: &Value) -> Vec<String> {
    let nodes = v["cluster"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut ids: Vec<String> = nodes
        .iter()
        .map(|n| n["node"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Polls `/api/stats` until `done`, for at most `within`.
fn wait_for_stats(
    http: &str,
    within: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = stats(http);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A STOMP session over WebSocket that ends with a Close frame of `code`, or (`None`) with
/// its socket dropped, no Close frame: a 1006 for the server.
async fn session_closed_with(serve: &Serve, code: Option<u16>) {
    let (mut ws, _) = tokio_tungstenite::connect_async(serve.ws_url())
        .await
        .unwrap();
    ws.send(Message::text(
        "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0",
    ))
    .await
    .unwrap();
    let connected = ws.next().await.unwrap().unwrap();
    assert!(
        connected.to_text().unwrap().starts_with("CONNECTED"),
        "{connected:?}"
    );
    let Some(code) = code else {
        drop(ws);
        return;
    };
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    // The server's Close frame answers.
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_close() {
            break;
        }
    }
}

fn stompbox_stats(http: &str, json: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stompbox"));
    cmd.args(["stats", "--url", &format!("http://{http}")]);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn either_node_shows_the_clusters_close_codes_until_a_node_is_killed() {
    let redis = Redis::start();
    let cluster = ["--cluster", &redis.url(), "--cluster-name", "stats"];
    let a = Serve::start(&cluster);
    let mut b = Serve::start(&cluster);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        session_closed_with(&a, Some(1000)).await;
        session_closed_with(&b, Some(4001)).await;
        session_closed_with(&b, None).await;
    });

    let expected = vec![
        (1000, "client".to_string(), 1),
        (1006, "none".to_string(), 1),
        (4001, "client".to_string(), 1),
    ];
    let id_a = stats(&a.http)["cluster"]["node"]
        .as_str()
        .unwrap()
        .to_string();
    let id_b = stats(&b.http)["cluster"]["node"]
        .as_str()
        .unwrap()
        .to_string();
    let mut both = vec![id_a.clone(), id_b.clone()];
    both.sort();
    for node in [&a, &b] {
        let v = wait_for_stats(&node.http, EXPIRY, "both nodes' closes", |v| {
            node_ids(v) == both && cluster_closes(v) == expected
        });
        let cluster = &v["cluster"];
        assert_eq!(cluster["name"], "stats");
        assert_eq!(cluster["available"], true);
        assert_eq!(cluster["total"]["nodes"], 2);
        assert_eq!(cluster["total"]["sessionsOpened"], 3);
        assert_eq!(cluster["total"]["abnormalIdle"]["count"], 1);
        // Each node's own figures are unchanged by the cluster.
        let own: u64 = v["closes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["count"].as_u64().unwrap())
            .sum();
        assert_eq!(own, if node.http == a.http { 1 } else { 2 }, "{v:#}");

        let out = stompbox_stats(&node.http, false);
        assert!(out.contains("cluster `stats`: 2 node(s)"), "{out}");
        assert!(out.contains(&id_a) && out.contains(&id_b), "{out}");
        assert!(out.contains(&a.http) && out.contains(&b.http), "{out}");
        let table = out
            .split("cluster closes by code (all nodes):")
            .nth(1)
            .unwrap_or_else(|| panic!("no cluster close table:\n{out}"));
        for (code, by) in [(1000, "client"), (1006, "none"), (4001, "client")] {
            let row = table
                .lines()
                .find(|l| l.trim_start().starts_with(&code.to_string()));
            assert!(
                row.is_some_and(|l| l.contains(by) && l.trim_end().ends_with(" 1")),
                "{code} by {by} missing from the cluster's closes:\n{out}"
            );
        }
        let json: Value = serde_json::from_str(&stompbox_stats(&node.http, true)).unwrap();
        assert_eq!(cluster_closes(&json), expected);
    }

    let metrics = http_get(&a.http, "/metrics");
    for needle in [
        "# TYPE stompbox_cluster_published_total counter",
        "\nstompbox_cluster_published_total ",
        "\nstompbox_cluster_unpublished_total 0\n",
        "\nstompbox_cluster_received_total ",
        "\nstompbox_cluster_own_echoes_total ",
        "\nstompbox_cluster_malformed_total 0\n",
        "\nstompbox_cluster_publisher_up 1\n",
        "\nstompbox_cluster_subscriber_up 1\n",
        "\nstompbox_cluster_stats_up 1\n",
        "\nstompbox_cluster_nodes 2\n",
    ] {
        assert!(metrics.contains(needle), "missing {needle:?}:\n{metrics}");
    }

    // B killed: A goes on alone once B's snapshot expires; B's closes leave the totals.
    b.kill();
    let v = wait_for_stats(&a.http, EXPIRY, "B to drop out", |v| {
        node_ids(v) == [id_a.clone()]
    });
    assert_eq!(cluster_closes(&v), [(1000, "client".to_string(), 1)]);
    let out = stompbox_stats(&a.http, false);
    assert!(out.contains("cluster `stats`: 1 node(s)"), "{out}");
    assert!(http_get(&a.http, "/metrics").contains("\nstompbox_cluster_nodes 1\n"));
}

#[test]
fn a_single_node_has_no_cluster_section_or_series() {
    let a = Serve::start(&[]);
    assert!(stats(&a.http).get("cluster").is_none());
    let out = stompbox_stats(&a.http, false);
    assert!(!out.contains("cluster"), "{out}");
    assert!(!http_get(&a.http, "/metrics").contains("stompbox_cluster_"));
}
