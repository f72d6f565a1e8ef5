//! A node killed with SIGKILL (issue 8): three `stompbox serve --cluster` nodes A, B and C
//! joined through a real redis-server, all on loopback ports of their choosing. A's clients —
//! one watched by `stompbox probe`, one subscribed to a topic — see their connection end
//! without a Close frame: 1006 (and the probe, finding A refusing new connections, says the
//! server went away rather than advising a heartbeat). B and C go on sharing topics, and A's subscriber reconnects to
//! B and gets messages again.
#![allow(clippy::unwrap_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "../../cluster/tests/support/redis.rs"]
mod redis;
mod support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Redis;
use stompbox_lab::client::{Client, ConnectOptions, Event};
use stompbox_stomp::{Command as Stomp, Frame};
use support::serve::Serve;

/// How long any one step may take.
const WAIT: Duration = Duration::from_secs(10);
const TOPIC: &str = "/topic/killed-node";

/// A child process killed (SIGKILL) on drop.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The sessions a node holds that have completed CONNECT (from its `/api/sessions`).
fn connected_sessions(http: &str) -> usize {
    let Ok(mut tcp) = std::net::TcpStream::connect(http) else {
        return 0;
    };
    let _ = tcp.set_read_timeout(Some(WAIT));
    let request = format!("GET /api/sessions HTTP/1.0\r\nHost: {http}\r\n\r\n");
    let mut response = String::new();
    if tcp.write_all(request.as_bytes()).is_err() || tcp.read_to_string(&mut response).is_err() {
        return 0;
    }
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["sessions"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| !s["version"].is_null()).count())
}

async fn connect(serve: &Serve) -> Client {
    Client::connect(&serve.ws_url(), ConnectOptions::default())
        .await
        .unwrap()
}

/// The next STOMP frame, skipping heart-beats and pings; panics on a close or after [`WAIT`].
async fn next_frame(client: &mut Client) -> Frame {
    let next = async {
        loop {
            match client.next_event().await.unwrap() {
                Event::Frame(frame) => return frame,
                Event::Closed { code, reason, .. } => panic!("closed: {code} {reason}"),
                Event::Heartbeat { .. } | Event::Ping => {}
            }
        }
    };
    tokio::time::timeout(WAIT, next)
        .await
        .expect("a frame in time")
}

/// Sends `frame` with a receipt and waits for it: the server has handled the frame.
async fn with_receipt(client: &mut Client, frame: Frame, receipt: &str) {
    client
        .send_frame(&frame.with_header("receipt", receipt))
        .await
        .unwrap();
    let answer = next_frame(client).await;
    assert_eq!(answer.command, Stomp::Receipt, "{answer:?}");
    assert_eq!(answer.header("receipt-id"), Some(receipt), "{answer:?}");
}

async fn subscribe(client: &mut Client) {
    let frame = Frame::new(Stomp::Subscribe)
        .with_header("id", "0")
        .with_header("destination", TOPIC);
    with_receipt(client, frame, "subscribed").await;
}

async fn publish(client: &mut Client, body: &str) {
    let frame = Frame::new(Stomp::Send)
        .with_header("destination", TOPIC)
        .with_body(body.to_string());
    with_receipt(client, frame, "sent").await;
}

/// The next frame is a MESSAGE with this body.
async fn expect_message(client: &mut Client, body: &str) {
    let frame = next_frame(client).await;
    assert_eq!(frame.command, Stomp::Message, "{frame:?}");
    assert_eq!(frame.body.as_ref(), body.as_bytes(), "{frame:?}");
}

#[test]
fn a_killed_nodes_clients_see_1006_and_reconnect_to_the_nodes_that_go_on() {
    let redis = Redis::start();
    let url = redis.url();
    let cluster = ["--cluster", url.as_str(), "--cluster-name", "killed-node"];
    let mut a = Serve::start(&cluster);
    let b = Serve::start(&cluster);
    let c = Serve::start(&cluster);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // A is part of the cluster: its subscriber gets what is sent on B, C's what is sent on A.
    let (mut on_a, mut on_c) = rt.block_on(async {
        let mut on_a = connect(&a).await;
        let mut on_c = connect(&c).await;
        subscribe(&mut on_a).await;
        subscribe(&mut on_c).await;
        let mut sender = connect(&b).await;
        publish(&mut sender, "before, from B").await;
        expect_message(&mut on_a, "before, from B").await;
        expect_message(&mut on_c, "before, from B").await;
        let mut sender = connect(&a).await;
        publish(&mut sender, "before, from A").await;
        expect_message(&mut on_a, "before, from A").await;
        expect_message(&mut on_c, "before, from A").await;
        drop(sender);
        (on_a, on_c)
    });

    // The probe: a silent client of A, watching how its connection ends.
    let probe = Command::new(env!("CARGO_BIN_EXE_stompbox"))
        .args(["probe", &a.ws_url(), "--max-wait", "60s", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut probe = Reaped(probe);
    let deadline = Instant::now() + WAIT;
    // on_a's session and the probe's (A's sender, dropped, may take a moment to be gone).
    while connected_sessions(&a.http) != 2 {
        assert!(Instant::now() < deadline, "the probe did not connect to A");
        std::thread::sleep(Duration::from_millis(50));
    }

    a.kill();

    // The probe says 1006: the TCP connection ended without a Close frame.
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = probe.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the probe did not notice A died");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    probe
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "probe: {status}: {out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["cut"], true, "{report:#}");
    assert_eq!(report["closeCode"], 1006, "{report:#}");
    assert_eq!(report["cleanClose"], false, "{report:#}");
    let how = report["closeExplained"].as_str().unwrap();
    assert!(how.starts_with("1006: no Close frame"), "{how}");
    // A is gone for good: the probe's new connection is refused, so this is not an idle timeout.
    assert_eq!(report["serverWentAway"], true, "{report:#}");
    assert_eq!(report["reachableAfterClose"], false, "{report:#}");
    assert!(report["recommendedHeartbeatMs"].is_null(), "{report:#}");

    rt.block_on(async {
        // A's subscriber: 1006 too.
        let closed = tokio::time::timeout(WAIT, on_a.next_event()).await;
        let Ok(Ok(Event::Closed { code, clean, .. })) = closed else {
            panic!("A's subscriber: {closed:?}")
        };
        assert_eq!((code, clean), (1006, false));

        // B and C go on: sent on B after A died, received on C.
        let mut on_b = connect(&b).await;
        publish(&mut on_b, "after, from B").await;
        expect_message(&mut on_c, "after, from B").await;

        // A's subscriber reconnects elsewhere (B) and gets messages again, sent on C.
        let mut again = connect(&b).await;
        subscribe(&mut again).await;
        let mut sender = connect(&c).await;
        publish(&mut sender, "after, from C").await;
        expect_message(&mut again, "after, from C").await;
        expect_message(&mut on_c, "after, from C").await;
    });
    drop((b, c, redis));
}
