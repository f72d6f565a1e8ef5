#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Instant;

use stompbox_broker::{
    BrokerStats, CloseCount, CloseStatus, ClosedBy, EventKind, SessionEvent, Transport,
};

use super::*;

fn close(code: u16, closed_by: &str, count: u64) -> CloseEntry {
    close_entry(code, closed_by, count)
}

fn histogram(counts: [u64; 3], sum_seconds: f64) -> IdleHistogram {
    // Cumulative over the bounds 1 s, 60 s and +Inf.
    let bounds = [Some(1.0), Some(60.0), None];
    let mut cumulative = 0;
    let buckets = bounds
        .into_iter()
        .zip(counts)
        .map(|(le, n)| {
            cumulative += n;
            Bucket {
                le,
                count: cumulative,
            }
        })
        .collect();
    IdleHistogram {
        buckets,
        sum_seconds,
        count: counts.iter().sum(),
    }
}

fn node(id: &str, closes: Vec<CloseEntry>, idle: IdleHistogram) -> NodeStats {
    NodeStats {
        node: id.to_string(),
        listen: Some("127.0.0.1:8081".to_string()),
        time_ms: 1_700_000_000_000,
        sessions_open: 2,
        sessions_opened: 10,
        closes,
        abnormal_idle: idle,
        idle_timeouts: Vec::new(),
    }
}

fn finding(sessions: usize, idle_seconds: f64) -> Finding {
    Finding {
        sessions,
        idle_seconds,
        advice_seconds: 0.0,
    }
}

#[test]
fn keys_name_the_cluster_and_the_node() {
    assert_eq!(node_key("prod", "00ff"), "stompbox:prod:node:00ff");
    assert_eq!(nodes_key("prod"), "stompbox:prod:nodes");
    assert_eq!(ttl(Duration::from_secs(2)), Duration::from_secs(6));
}

#[test]
fn a_snapshot_survives_encoding() {
    let mut n = node(
        "a",
        vec![close(1000, "client", 3)],
        histogram([1, 2, 0], 61.5),
    );
    n.idle_timeouts.push(finding(3, 60.0));
    let bytes = encode(&n);
    assert!(bytes.starts_with(b"{\"format\":1,"), "{bytes:?}");
    assert_eq!(decode(&bytes).unwrap(), n);
}

#[test]
fn garbage_and_other_formats_are_not_snapshots() {
    assert!(matches!(decode(b"\x00\x01"), Err(ShareError::NotJson(_))));
    assert!(matches!(
        decode(b"{\"format\":1}"),
        Err(ShareError::NotJson(_))
    ));
    let newer = String::from_utf8(encode(&node("a", vec![], IdleHistogram::default())))
        .unwrap()
        .replace("\"format\":1", "\"format\":2");
    assert!(matches!(
        decode(newer.as_bytes()),
        Err(ShareError::UnknownFormat(2))
    ));
}

#[test]
fn the_snapshot_of_a_node_is_its_broker_counters_and_analytics() {
    let stats = BrokerStats {
        sessions_open: 1,
        sessions_opened: 4,
        closes: vec![
            CloseCount {
                code: 1000,
                closed_by: ClosedBy::Client,
                count: 2,
            },
            CloseCount {
                code: 1006,
                closed_by: ClosedBy::Nobody,
                count: 1,
            },
        ],
        ..BrokerStats::default()
    };
    let mut analytics = CloseAnalytics::new();
    let event = SessionEvent {
        session_id: Arc::from("s"),
        user: None,
        transport: Transport::WebSocket,
        remote: None,
        time: SystemTime::UNIX_EPOCH,
        kind: EventKind::Disconnect {
            duration: Duration::from_secs(12),
            server_idle: Duration::from_secs(12),
            client_idle: Duration::from_secs(12),
            status: CloseStatus::new(1006, "", ClosedBy::Nobody),
        },
    };
    analytics.observe(&event, Instant::now());
    let at = UNIX_EPOCH + Duration::from_millis(1234);
    let listen = "127.0.0.1:9000".parse().ok();
    let n = NodeStats::from_local(&NodeId::from_string("n1"), listen, at, &stats, &analytics);
    assert_eq!(n.node, "n1");
    assert_eq!(n.listen.as_deref(), Some("127.0.0.1:9000"));
    assert_eq!(n.time_ms, 1234);
    assert_eq!((n.sessions_open, n.sessions_opened), (1, 4));
    assert_eq!(
        n.closes,
        [
            close(1000, "client", 2),
            CloseEntry {
                code: 1006,
                name: Some("Abnormal Closure".to_string()),
                closed_by: "none".to_string(),
                count: 1
            }
        ]
    );
    assert_eq!(n.abnormal_idle.count, 1);
    assert_eq!(
        n.abnormal_idle.buckets.last().map(|b| (b.le, b.count)),
        Some((None, 1))
    );
    let le15 = n.abnormal_idle.buckets.iter().find(|b| b.le == Some(15.0));
    assert_eq!(le15.map(|b| b.count), Some(1));
}

#[test]
fn close_counts_and_histograms_are_summed_over_the_nodes() {
    let a = node(
        "a",
        vec![close(1000, "client", 3), close(1006, "none", 1)],
        histogram([0, 1, 0], 30.0),
    );
    let b = node(
        "b",
        vec![
            close(1000, "client", 2),
            close(1000, "server", 1),
            close(4001, "client", 5),
        ],
        histogram([1, 1, 1], 700.5),
    );
    let t = aggregate(&[a, b]);
    assert_eq!(t.nodes, 2);
    assert_eq!((t.sessions_open, t.sessions_opened), (4, 20));
    assert_eq!(
        t.closes,
        [
            close(1000, "client", 5),
            close(1000, "server", 1),
            close(1006, "none", 1),
            close(4001, "client", 5),
        ]
    );
    assert_eq!(t.closes[0].name.as_deref(), Some("Normal Closure"));
    assert_eq!(t.abnormal_idle, {
        let mut h = histogram([1, 2, 1], 730.5);
        h.count = 4;
        h
    });
}

#[test]
fn no_nodes_sum_to_nothing() {
    assert_eq!(aggregate(&[]), ClusterTotals::default());
}

#[test]
fn findings_of_about_the_same_idle_time_on_several_nodes_become_one() {
    let mut a = node("a", vec![], IdleHistogram::default());
    a.idle_timeouts = vec![finding(3, 60.0), finding(4, 30.0)];
    let mut b = node("b", vec![], IdleHistogram::default());
    b.idle_timeouts = vec![finding(1, 61.0)];
    let t = aggregate(&[a, b]);
    assert_eq!(t.idle_timeouts.len(), 2, "{:?}", t.idle_timeouts);
    let thirty = &t.idle_timeouts[0];
    assert_eq!(
        (thirty.nodes.clone(), thirty.sessions),
        (vec!["a".to_string()], 4)
    );
    assert_eq!(thirty.advice_seconds, 15.0);
    let sixty = &t.idle_timeouts[1];
    assert_eq!(sixty.nodes, ["a", "b"]);
    assert_eq!(sixty.sessions, 4);
    assert!((sixty.idle_seconds - 60.25).abs() < 1e-9, "{sixty:?}");
    assert_eq!(sixty.advice_seconds, 30.0);
}

#[test]
fn collecting_drops_expired_ids_skips_garbage_and_uses_the_fresh_own_snapshot() {
    let mine = node(
        "b",
        vec![close(1000, "client", 9)],
        IdleHistogram::default(),
    );
    let stale_mine = node("b", vec![], IdleHistogram::default());
    let a = node(
        "a",
        vec![close(4001, "client", 1)],
        IdleHistogram::default(),
    );
    let ids = ["c", "b", "a", "x"].map(String::from);
    let values = vec![
        None,
        Some(encode(&stale_mine)),
        Some(encode(&a)),
        Some(b"junk".to_vec()),
    ];
    let got = collect(&mine, &ids, values);
    assert_eq!(got.nodes, [a, mine.clone()]);
    assert_eq!(got.gone, ["c"]);
    assert_eq!(got.malformed.len(), 1);
    assert_eq!(got.malformed[0].0, "x");

    // The set lost this node's id (another node removed it in a race): it is still counted.
    let got = collect(&mine, &[], Vec::new());
    assert_eq!(got.nodes, [mine]);
}

#[test]
fn a_report_carries_the_totals_or_says_why_not() {
    let at = UNIX_EPOCH + Duration::from_secs(5);
    let nodes = vec![
        node(
            "a",
            vec![close(1000, "client", 1)],
            IdleHistogram::default(),
        ),
        node(
            "b",
            vec![close(1000, "client", 2)],
            IdleHistogram::default(),
        ),
    ];
    let r = ClusterReport::read("prod", "a", nodes, at);
    let json = r.to_json();
    assert_eq!(json["available"], true);
    assert_eq!(json["readAtMs"], 5000);
    assert_eq!(json["nodes"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["total"]["nodes"], 2);
    assert_eq!(json["total"]["closes"][0]["count"], 3);
    assert_eq!(json["total"]["closes"][0]["closedBy"], "client");
    assert_eq!(json["total"]["abnormalIdle"]["count"], 0);

    let down = ClusterReport::unavailable("prod", "a", "Redis at redis://x unreachable".into());
    let json = down.to_json();
    assert_eq!(json["available"], false);
    assert_eq!(json["error"], "Redis at redis://x unreachable");
    assert!(json["total"].is_null());
    assert_eq!(json["nodes"].as_array().map(Vec::len), Some(0));
}

#[test]
fn metrics_name_every_counter_with_help_and_type() {
    let stats = ClusterStats {
        published: 7,
        unpublished: 1,
        received: 5,
        own_echoes: 7,
        malformed: 0,
        publisher_up: true,
        subscriber_up: false,
        queue_stored: 3,
        queue_claimed: 2,
        ..ClusterStats::default()
    };
    let report = ClusterReport::read(
        "prod",
        "a",
        vec![node("a", vec![], IdleHistogram::default())],
        UNIX_EPOCH,
    );
    let mut out = String::new();
    render_metrics(&mut out, &stats, &report);
    for line in [
        "# TYPE stompbox_cluster_published_total counter",
        "stompbox_cluster_published_total 7",
        "stompbox_cluster_unpublished_total 1",
        "stompbox_cluster_received_total 5",
        "stompbox_cluster_own_echoes_total 7",
        "stompbox_cluster_malformed_total 0",
        "stompbox_cluster_queue_stored_total 3",
        "stompbox_cluster_queue_refused_total 0",
        "stompbox_cluster_queue_claimed_total 2",
        "# TYPE stompbox_cluster_publisher_up gauge",
        "stompbox_cluster_publisher_up 1",
        "stompbox_cluster_subscriber_up 0",
        "stompbox_cluster_stats_up 1",
        "stompbox_cluster_nodes 1",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?}:\n{out}");
    }
    let helps = out.lines().filter(|l| l.starts_with("# HELP ")).count();
    let types = out.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!((helps, types), (15, 15));
}
