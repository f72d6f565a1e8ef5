//! The binary as users run it: `explain` output and exit codes, `serve` flags, and the
//! `session closed` log line.
#![allow(clippy::unwrap_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn stompbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stompbox"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = stompbox().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn explain_1006_names_the_proxy_timeout_in_english_and_chinese() {
    let (code, out, _) = run(&["explain", "1006"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("1006 Abnormal Closure"), "{out}");
    assert!(out.contains("proxy_read_timeout"), "{out}");
    assert!(
        out.contains("stompbox probe") && out.contains("stompbox stats"),
        "{out}"
    );
    let (code, out, _) = run(&["explain", "1006", "--lang", "zh"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("proxy_read_timeout") && out.contains("心跳"),
        "{out}"
    );
}

#[test]
fn explain_all_prints_the_registry_table() {
    let (code, out, _) = run(&["explain", "--all"]);
    assert_eq!(code, 0);
    for needle in [
        "1000", "1006", "1014", "2010", "3000", "4408", "4500", "4000",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
}

#[test]
fn explain_rejects_bad_input_with_exit_status_2() {
    for (args, needle) in [
        (&["explain", "abc"][..], "abc"),
        (&["explain", "70000"], "70000"),
        (&["explain", "1006", "--lang", "fr"], "--lang"),
        (&["explain"], "CODE"),
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(needle),
            "{args:?} should mention {needle}: {err}"
        );
    }
}

#[test]
fn serve_rejects_bad_flags_naming_them() {
    for (args, needle) in [
        (&["serve", "--heart-beat", "fast"][..], "--heart-beat"),
        (&["serve", "--listen", "nowhere"], "--listen"),
        (
            &["serve", "--config", "/nonexistent/stompbox.toml"],
            "--config",
        ),
        (&["serve", "--endpoint", "ws"], "--endpoint"),
        (&["serve", "--max-frame-size", "0"], "max_frame_size"),
        (
            &[
                "serve",
                "--tls-cert",
                "/nonexistent/cert.pem",
                "--tls-key",
                "/nonexistent/key.pem",
            ],
            "--tls-cert",
        ),
        (&["serve", "--tls-cert", "/nonexistent/cert.pem"], "tls.key"),
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            err.contains(needle),
            "{args:?} should mention {needle}: {err}"
        );
    }
}

/// A running `stompbox serve` whose stderr lines arrive on a channel.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    fn start(extra: &[&str]) -> (Serve, String) {
        let mut child = stompbox()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let lines = support::stderr_lines(&mut child);
        let mut serve = Serve { child, lines };
        let line = serve.wait_for("listening");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap()
            .trim_end_matches(',')
            .to_string();
        (serve, url)
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("stompbox serve did not exit within 5 s of SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects over WebSocket, sends CONNECT, returns the socket and the session id.
async fn stomp_connect(
    url: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("CONNECT\naccept-version:1.2\n\n\0"))
        .await
        .unwrap();
    let connected = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let session = connected
        .lines()
        .find_map(|l| l.strip_prefix("session:"))
        .unwrap()
        .to_string();
    (ws, session)
}

#[test]
fn serve_logs_a_dropped_session_as_code_1006_like_the_seeds_listener() {
    let (mut serve, url) = Serve::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let session = rt.block_on(async {
        let (ws, session) = stomp_connect(&url).await;
        drop(ws); // no Close frame: what nginx's proxy_read_timeout does
        session
    });
    let line = serve.wait_for("session closed");
    assert!(line.contains(&format!("sessionId={session}")), "{line}");
    assert!(line.contains("code=1006"), "{line}");
    assert!(line.contains("closedBy=none(abnormal)"), "{line}");
    assert!(line.contains("transport=websocket"), "{line}");
    assert!(line.contains("duration="), "{line}");
    assert_eq!(serve.terminate(), 0);
}

#[test]
fn sigterm_closes_open_sessions_with_1001_and_exits_cleanly() {
    use futures_util::StreamExt;
    let (mut serve, url) = Serve::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut ws, session) = rt.block_on(stomp_connect(&url));
    let pid = serve.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let code = rt.block_on(async {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f))))) => {
                    break u16::from(f.code);
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("expected a Close frame, got {other:?}"),
            }
        }
    });
    assert_eq!(code, 1001);
    let line = serve.wait_for("session closed");
    assert!(
        line.contains(&format!("sessionId={session}")) && line.contains("code=1001"),
        "{line}"
    );
    assert!(line.contains("closedBy=server"), "{line}");
    drop(ws);
    assert_eq!(serve.terminate(), 0);
}

#[test]
fn the_health_check_answers() {
    let (serve, url) = Serve::start(&[]);
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok\n"), "{response}");
    drop(serve);
}

#[test]
fn stats_prints_a_running_servers_close_analytics() {
    let (serve, url) = Serve::start(&[]);
    let http = url.replace("ws://", "http://").replace("/test-ws", "");
    let (code, out, err) = run(&["stats", "--url", &http]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("closes by code"), "{out}");
    assert!(out.contains("no idle timeout detected"), "{out}");
    let (code, _, err) = run(&["stats", "--url", "ftp://x"]);
    assert_eq!(code, 2);
    assert!(err.contains("--url"), "{err}");
    drop(serve);
}

#[test]
fn lab_refuses_numbers_that_make_no_experiment_naming_the_flag() {
    let (code, _, err) = run(&["lab", "1006", "--fixed-heartbeat", "20s"]);
    assert_eq!(code, 2);
    assert!(err.contains("--fixed-heartbeat"), "{err}");
    let (code, _, err) = run(&["lab", "1007"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn probe_refuses_a_bad_url_with_exit_status_2() {
    let (code, _, err) = run(&["probe", "ftp://example"]);
    assert_eq!(code, 2, "{err}");
}
