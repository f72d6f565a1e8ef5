//! A server in a cluster shows what its `ClusterView` knows: a `cluster` section in
//! `/api/stats` and the cluster's series in `/metrics`; a single server shows neither.
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{Value, json};
use stompbox_server::{ClusterView, Server, ServerConfig, Shutdown};
use tokio::sync::oneshot;

struct FakeCluster;

impl ClusterView for FakeCluster {
    fn stats(&self) -> Value {
        json!({ "name": "prod", "available": true, "nodes": [{ "node": "a" }, { "node": "b" }] })
    }

    fn render_metrics(&self, out: &mut String) {
        out.push_str("# HELP stompbox_cluster_nodes Live nodes.\n# TYPE stompbox_cluster_nodes gauge\nstompbox_cluster_nodes 2\n");
    }
}

async fn start(view: Option<Arc<dyn ClusterView>>) -> (SocketAddr, oneshot::Sender<Shutdown>) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    let server = Server::bind(config).await.unwrap();
    if let Some(view) = view {
        assert!(server.set_cluster_view(view));
        assert!(
            !server.set_cluster_view(Arc::new(FakeCluster)),
            "only the first view is taken"
        );
    }
    let addr = server.local_addr();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        server
            .run(async move { rx.await.unwrap_or(Shutdown::GoingAway) })
            .await
            .unwrap();
    });
    (addr, tx)
}

async fn stats(addr: SocketAddr) -> Value {
    serde_json::from_str(http::get(addr, "/api/stats").await.text()).unwrap()
}

#[tokio::test]
async fn a_clustered_server_adds_the_cluster_to_its_stats_and_metrics() {
    let (addr, stop) = start(Some(Arc::new(FakeCluster))).await;
    let v = stats(addr).await;
    assert_eq!(v["cluster"]["name"], "prod", "{v:#}");
    assert_eq!(v["cluster"]["nodes"].as_array().map(Vec::len), Some(2));
    // This node's own figures are still there, unchanged.
    assert_eq!(v["sessionsOpened"], 0);
    assert!(v["closes"].is_array() && v["abnormalIdle"]["buckets"].is_array());
    let metrics = http::get(addr, "/metrics").await;
    let text = metrics.text();
    assert!(text.contains("\nstompbox_cluster_nodes 2\n"), "{text}");
    assert!(text.contains("stompbox_sessions_open 0"), "{text}");
    let _ = stop.send(Shutdown::GoingAway);
}

#[tokio::test]
async fn a_single_server_shows_no_cluster() {
    let (addr, stop) = start(None).await;
    let v = stats(addr).await;
    assert!(v.get("cluster").is_none(), "{v:#}");
    let metrics = http::get(addr, "/metrics").await;
    assert!(!metrics.text().contains("stompbox_cluster_"));
    let _ = stop.send(Shutdown::GoingAway);
}
