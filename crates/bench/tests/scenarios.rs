//! The scenarios end to end against an in-process stompbox server on 127.0.0.1:0, with the
//! worker as a thread (`--workers 0`); crates/stompbox/tests/bench.rs covers worker processes.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use stompbox_bench::{BenchCommand, Probe, Report};
use stompbox_server::{Server, ServerConfig, Shutdown};
use tokio::sync::oneshot;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
}

/// A server with this STOMP heart-beat offer; dropping the sender stops it.
async fn server(heart_beat: &str) -> (String, oneshot::Sender<Shutdown>) {
    let mut config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    };
    config.stomp.heart_beat = heart_beat.to_string();
    // Tests share two cores with each other: do not close a client whose heart-beat is late.
    config.stomp.heartbeat_grace = 10.0;
    let server = Server::bind(config).await.unwrap();
    let url = format!("ws://{}/test-ws", server.local_addr());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(server.run(async move { rx.await.unwrap_or(Shutdown::GoingAway) }));
    (url, tx)
}

/// The scenarios measure time: run them one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn bench(args: &[&str]) -> Report {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).unwrap();
    stompbox_bench::execute(&cli.command).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_paced_and_unthrottled_deliver_every_message_with_latencies() {
    let (url, _stop) = server("10000,10000").await;
    // Paced; unthrottled with the default backlog bound; unthrottled with a tight one.
    for (rate, backlog) in [("200", "250ms"), ("0", "250ms"), ("0", "20ms")] {
        let args = format!(
            "fanout --url {url} --subscribers 20 --publishers 1 --rate {rate} --backlog {backlog} --duration 2s --warmup 500ms --workers 0 --json"
        );
        let report = bench(&args.split(' ').collect::<Vec<_>>()).await;
        let Report::Fanout(r) = report else {
            panic!("not a fan-out report")
        };
        assert!(r.published > 0, "rate {rate}: {r:?}");
        assert_eq!(r.expected, r.published * 20, "rate {rate}");
        assert_eq!(r.delivered, r.expected, "rate {rate}: {r:?}");
        assert_eq!(r.lost, 0);
        assert_eq!(r.dropped, 0);
        assert_eq!(r.latency_ms.count, r.delivered);
        assert!(r.latency_ms.p50 > 0.0 && r.latency_ms.max >= r.latency_ms.p999);
        assert!(r.deliveries_per_s > 0.0);
        if rate == "200" {
            // 200/s for 2 s: the pacing is even, so the window holds about 400.
            assert!((380..=420).contains(&r.published), "{}", r.published);
        }
        // The server's RSS comes from its /metrics (process_resident_memory_bytes).
        assert!(r.server.rss_before_bytes.unwrap() > 1_000_000);
        assert!(r.server.rss_after_bytes.is_some());
        let table = Report::Fanout(r).table();
        assert!(
            table.contains("deliveries/s") && table.contains("p99.9"),
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_over_topics_counts_each_topics_subscribers() {
    let (url, _stop) = server("10000,10000").await;
    let Report::Fanout(r) = bench(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "10",
        "--publishers",
        "2",
        "--topics",
        "3",
        "--rate",
        "300",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--workers",
        "0",
    ])
    .await
    else {
        panic!()
    };
    // Subscribers per topic are 4, 3, 3 and publishers go round-robin over the topics.
    assert!(
        r.expected > r.published * 3 && r.expected < r.published * 4,
        "{r:?}"
    );
    assert_eq!(r.delivered, r.expected);
}

/// Several `--subscribe-url`s (here two names of one server, as a cluster's nodes would be):
/// subscribers are spread over them, the latency is given per URL, and the server figures are
/// summed over the servers' `/metrics` and listed per server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_spreads_subscribers_over_several_urls_and_reports_each() {
    let (url, _stop) = server("10000,10000").await;
    let other = url.replace("127.0.0.1", "localhost");
    let args = format!(
        "fanout --url {url} --subscribe-url {url} --subscribe-url {other} --subscribers 10 --topics 2 --rate 100 --duration 1s --warmup 0s --workers 0"
    );
    let Report::Fanout(r) = bench(&args.split(' ').collect::<Vec<_>>()).await else {
        panic!("not a fan-out report")
    };
    assert_eq!(r.delivered, r.expected, "{r:?}");
    assert!(r.published > 0, "{r:?}");
    let by_url: Vec<_> = r
        .latency_by_url
        .iter()
        .map(|u| (u.url.as_str(), u.subscribers))
        .collect();
    // Subscriber k takes topic k mod 2 and URL (k / 2) mod 2: each topic has both URLs.
    assert_eq!(by_url, [(url.as_str(), 6), (other.as_str(), 4)], "{r:?}");
    let samples: u64 = r.latency_by_url.iter().map(|u| u.latency_ms.count).sum();
    assert_eq!(samples, r.delivered);
    assert_eq!(r.server.nodes.len(), 2, "{r:?}");
    let rss: u64 = r
        .server
        .nodes
        .iter()
        .map(|n| n.rss_after_bytes.unwrap())
        .sum();
    assert_eq!(r.server.rss_after_bytes, Some(rss));
    let table = Report::Fanout(r).table();
    assert!(table.contains(&format!("  at {other}")), "{table}");
    assert!(table.contains("sum of 2 processes"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_stay_alive_and_heart_beats_keep_time_both_ways() {
    let (url, _stop) = server("1000,1000").await;
    let Report::Idle(r) = bench(&[
        "idle",
        "--url",
        &url,
        "--sessions",
        "50",
        "--heartbeat",
        "1s",
        "--hold",
        "3s",
        "--workers",
        "0",
    ])
    .await
    else {
        panic!()
    };
    assert_eq!(r.connected, 50, "{r:?}");
    assert_eq!(r.alive_at_end, 50, "{r:?}");
    assert_eq!(r.dropped, 0);
    assert!(r.connect_rate.unwrap() > 0.0);
    let h = &r.heartbeat;
    assert_eq!((h.server_interval_ms, h.client_interval_ms), (1000, 1000));
    assert!(h.server_received >= 100, "{h:?}");
    // Timeliness is a benchmark figure (it depends on how busy the machine is), not a test
    // verdict: here it only has to be computed.
    let fraction = |f: Option<f64>| f.is_some_and(|f| (0.0..=1.0).contains(&f));
    assert!(fraction(h.server_on_time_fraction), "{h:?}");
    assert!(h.client_sent >= 100, "{h:?}");
    assert!(fraction(h.client_on_time_fraction), "{h:?}");
    assert!(r.rss_connected_bytes.is_some() && r.rss_per_session_bytes.is_some());
    assert!(Report::Idle(r).table().contains("heart-beats"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_reported_not_hung_on() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let cli = Cli::try_parse_from([
        "bench",
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "3",
        "--workers",
        "0",
        "--duration",
        "1s",
    ])
    .unwrap();
    let e = stompbox_bench::execute(&cli.command).await.unwrap_err();
    assert!(e.to_string().contains("could not subscribe"), "{e:#}");
}

/// A front for `upstream` that closes its first `refuse` connections at once (as a server with
/// a full accept queue does) and relays the rest. (The generator's first connection may be its
/// `/metrics` probe rather than a subscriber.)
async fn refusing_front(upstream: std::net::SocketAddr, refuse: usize) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut seen = 0;
        while let Ok((mut client, _)) = listener.accept().await {
            seen += 1;
            if seen <= refuse {
                drop(client);
                continue;
            }
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_set_ups_are_retried_and_reported() {
    let (url, _stop) = server("0,0").await;
    let upstream = url.trim_start_matches("ws://").trim_end_matches("/test-ws");
    let front = refusing_front(upstream.parse().unwrap(), 2).await;
    let url = format!("ws://{front}/test-ws");
    let report = bench(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "3",
        "--workers",
        "0",
        "--rate",
        "5",
        "--warmup",
        "0s",
        "--duration",
        "1s",
    ])
    .await;
    let Report::Fanout(r) = report else {
        panic!("not a fan-out report")
    };
    assert_eq!(r.lost, 0);
    let note = r.generator.notes.join("; ");
    assert!(
        note.contains("set-up attempts failed") && note.contains("3 connections set up, 0 gave up"),
        "{note}"
    );
}

#[tokio::test]
async fn the_metrics_endpoint_reports_process_memory_and_cpu() {
    let (url, _stop) = server("10000,10000").await;
    let metrics = url
        .replace("ws://", "http://")
        .replace("/test-ws", "/metrics");
    let sample = Probe::Metrics(metrics).sample().await;
    assert!(sample.rss_bytes.unwrap() > 1_000_000, "{sample:?}");
    assert!(sample.cpu_seconds.unwrap() >= 0.0, "{sample:?}");
}
