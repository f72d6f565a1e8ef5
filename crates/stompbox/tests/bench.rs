//! `stompbox bench` as users run it: worker processes, `--server-pid`, the raw floor, and
//! usage errors naming the flag.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn stompbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stompbox"))
}

/// `stompbox serve --listen 127.0.0.1:0` with these extra flags; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = stompbox()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("serve exited before listening")
                .unwrap();
            if let Some(at) = line.find("ws://") {
                break line[at..].split([',', ' ']).next().unwrap().to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = stompbox()
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn fanout_with_worker_processes_delivers_everything_and_reads_server_cpu() {
    let server = Server::start(&[]);
    let pid = server.child.id().to_string();
    let r = bench_json(&[
        "fanout",
        "--url",
        &server.url,
        "--subscribers",
        "40",
        "--workers",
        "2",
        "--publishers",
        "2",
        "--rate",
        "500",
        "--duration",
        "2s",
        "--warmup",
        "500ms",
        "--server-pid",
        &pid,
        "--source-addr-count",
        "2",
    ]);
    let published = r["published"].as_u64().unwrap();
    assert!(published > 900, "{r}");
    assert_eq!(r["expected"].as_u64().unwrap(), published * 40, "{r}");
    assert_eq!(r["delivered"], r["expected"], "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["server"]["cpu_seconds"].as_f64().is_some(), "{r}");
    assert!(
        r["server"]["rss_after_bytes"].as_u64().unwrap() > 1_000_000,
        "{r}"
    );
    assert_eq!(r["generator"]["workers"], 2);
    assert_eq!(r["generator"]["worker_mode"], "processes");
    assert_eq!(r["generator"]["source_addrs"][1], "127.0.0.2");
}

#[test]
fn idle_sessions_in_worker_processes_keep_their_heart_beats() {
    // A generous grace: tests share two cores, a late client heart-beat must not end the run.
    let server = Server::start(&["--heart-beat", "1000,1000", "--heartbeat-grace", "10"]);
    let r = bench_json(&[
        "idle",
        "--url",
        &server.url,
        "--sessions",
        "60",
        "--heartbeat",
        "1s",
        "--hold",
        "3s",
        "--workers",
        "2",
    ]);
    assert_eq!(r["connected"], 60, "{r}");
    assert_eq!(r["alive_at_end"], 60, "{r}");
    assert_eq!(r["dropped"], 0, "{r}");
    let hb = &r["heartbeat"];
    assert!(hb["server_received"].as_u64().unwrap() >= 120, "{r}");
    assert!(hb["client_sent"].as_u64().unwrap() >= 120, "{r}");
    assert!(r["rss_per_session_bytes"].as_u64().is_some(), "{r}");
}

#[test]
fn raw_floor_runs_the_fanout_against_its_own_broadcaster() {
    let r = bench_json(&[
        "raw-floor",
        "--subscribers",
        "30",
        "--workers",
        "2",
        "--rate",
        "300",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
    ]);
    assert_eq!(r["scenario"], "raw-floor", "{r}");
    assert!(r["published"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["delivered"], r["expected"], "{r}");
    assert!(r["server"]["cpu_seconds"].as_f64().is_some(), "{r}");
}

#[test]
fn bench_refuses_bad_input_naming_the_flag() {
    for (args, needle) in [
        (
            &["fanout", "--url", "ws://10.1.2.3:8081/test-ws"][..],
            "--url",
        ),
        (&["fanout", "--url", "ws://example.com/x"], "--url"),
        (&["fanout", "--size", "5"], "--size"),
        (&["fanout", "--duration", "0s"], "--duration"),
        (
            &["fanout", "--source-addrs", "192.168.1.5"],
            "--source-addrs",
        ),
        (
            &["fanout", "--subscribers", "30000", "--workers", "1"],
            "--workers 2",
        ),
        (&["idle", "--sessions", "0"], "--sessions"),
        (&["idle", "--heartbeat", "5ms"], "--heartbeat"),
        (&["floor-server", "--listen", "0.0.0.0:0"], "--listen"),
    ] {
        let out = stompbox().arg("bench").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?} should name {needle}: {err}");
    }
}

#[test]
fn floor_server_says_where_it_listens() {
    let mut child = stompbox()
        .args(["bench", "floor-server", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on 127.0.0.1:"), "{line}");
}
