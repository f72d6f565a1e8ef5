//! Close analytics shared through a real redis-server: each node's report shows every live
//! node and their summed close codes; a node that stops writing drops out after its time to
//! live; a Redis outage makes the report say so, and it recovers by itself.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime};

use stompbox_cluster::share::{CloseEntry, IdleHistogram};
use stompbox_cluster::{ClusterConfig, ClusterReport, NodeId, NodeStats, StatsShare};
use support::Redis;

const INTERVAL: Duration = Duration::from_millis(100);

fn closes(id: &str, closes: &[(u16, &str, u64)]) -> impl Fn(SystemTime) -> NodeStats + use<> {
    let id = id.to_string();
    let closes: Vec<CloseEntry> = closes
        .iter()
        .map(|&(code, by, count)| CloseEntry {
            code,
            name: None,
            closed_by: by.to_string(),
            count,
        })
        .collect();
    move |now| NodeStats {
        node: id.clone(),
        listen: None,
        time_ms: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
        sessions_open: 1,
        sessions_opened: 3,
        closes: closes.clone(),
        abnormal_idle: IdleHistogram::default(),
        idle_timeouts: Vec::new(),
    }
}

fn start(url: &str, cluster: &str, id: &str, list: &[(u16, &str, u64)]) -> StatsShare {
    let config = ClusterConfig {
        name: cluster.to_string(),
        ..ClusterConfig::new(url)
    };
    StatsShare::start(&config, NodeId::from_string(id), INTERVAL, closes(id, list)).unwrap()
}

async fn wait_for(share: &StatsShare, what: &str, done: impl Fn(&ClusterReport) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = share.report();
        if done(&report) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}: {report:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids(report: &ClusterReport) -> Vec<&str> {
    report.nodes.iter().map(|n| n.node.as_str()).collect()
}

#[tokio::test]
async fn every_node_sees_every_node_and_the_summed_closes_until_one_stops() {
    let redis = Redis::start();
    let a = start(&redis.url(), "c", "a", &[(1000, "client", 2)]);
    let b = start(
        &redis.url(),
        "c",
        "b",
        &[(1000, "client", 1), (4001, "client", 3)],
    );
    let other = start(&redis.url(), "elsewhere", "x", &[(1000, "client", 50)]);
    for share in [&a, &b] {
        wait_for(share, "both nodes", |r| ids(r) == ["a", "b"]).await;
        let report = share.report();
        assert!(report.available && report.error.is_none());
        let total = report.total.as_ref().unwrap();
        assert_eq!(
            (total.nodes, total.sessions_open, total.sessions_opened),
            (2, 2, 6)
        );
        let summed: Vec<_> = total
            .closes
            .iter()
            .map(|c| (c.code, c.closed_by.as_str(), c.count))
            .collect();
        assert_eq!(summed, [(1000, "client", 3), (4001, "client", 3)]);
        assert_eq!(total.closes[0].name.as_deref(), Some("Normal Closure"));
    }
    assert_eq!(ids(&other.report()), ["x"], "another cluster stays apart");

    // B stops writing: gone from A's report once its snapshot expires (3 intervals).
    let stopped = tokio::time::Instant::now();
    drop(b);
    wait_for(&a, "B to expire", |r| ids(r) == ["a"]).await;
    assert!(stopped.elapsed() >= INTERVAL * 2, "{:?}", stopped.elapsed());
    let total = a.report().total.clone().unwrap();
    assert_eq!(total.closes.len(), 1);
    assert_eq!(total.closes[0].count, 2);
}

#[tokio::test]
async fn a_redis_outage_is_reported_and_the_share_recovers_by_itself() {
    let mut redis = Redis::start();
    let port = redis.port;
    let a = start(&redis.url(), "c", "a", &[(1000, "client", 1)]);
    wait_for(&a, "the first exchange", |r| r.available).await;
    redis.kill();
    wait_for(&a, "the outage", |r| !r.available).await;
    let report = a.report();
    let error = report.error.as_deref().unwrap();
    assert!(error.starts_with("Redis at redis://127.0.0.1:"), "{error}");
    assert!(report.nodes.is_empty() && report.total.is_none());

    let _redis = Redis::start_on(port);
    wait_for(&a, "the recovery", |r| r.available && ids(r) == ["a"]).await;
}
