//! A running `stompbox serve` (the real binary) on ports of its choosing, and its log.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a log line or an exit may take.
const WAIT: Duration = Duration::from_secs(10);

/// `stompbox serve` with HTTP/WebSocket and STOMP over TCP on loopback ports of its choosing,
/// heart-beats off, log level info; killed (SIGKILL) on drop.
pub(crate) struct Serve {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
    /// `127.0.0.1:port` of HTTP/WebSocket and of STOMP over TCP.
    pub(crate) http: String,
    pub(crate) tcp: String,
}

impl Serve {
    /// Starts one with these extra flags and waits until it listens.
    pub(crate) fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stompbox"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tcp-listen",
                "127.0.0.1:0",
            ])
            .args(["--heart-beat", "0,0", "--log", "info"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting stompbox serve: {e}"));
        let lines = super::stderr_lines(&mut child);
        let mut serve = Serve {
            child,
            lines,
            http: String::new(),
            tcp: String::new(),
        };
        let listening = serve.wait_for("listening");
        serve.http = listening
            .split("ws://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no ws:// address in {listening:?}"))
            .to_string();
        let tcp = serve.wait_for("STOMP over TCP at");
        serve.tcp = tcp.rsplit(' ').next().unwrap_or_default().to_string();
        serve
    }

    /// `ws://127.0.0.1:port/test-ws`.
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/test-ws", self.http)
    }

    /// The next log line containing `needle` (within 10 s of the previous line); the panic
    /// says what was logged instead, and how the process ended if it did.
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let Ok(line) = self.lines.recv_timeout(WAIT) else {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "no log line containing {needle:?} (process {}); logged:\n{}",
                    status.map_or("still running".to_string(), |s| s.to_string()),
                    seen.join("\n")
                );
            };
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, …).
    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap_or_else(|e| panic!("running kill: {e}"));
        assert!(ok.success(), "kill -{name} {pid} failed");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The exit status, waiting at most `within`.
    pub(crate) fn exit_status(&mut self, within: Duration) -> i32 {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("stompbox serve still running {within:?} after the signal");
    }

    /// The log lines not read yet, up to the process's end.
    pub(crate) fn rest(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(WAIT) {
            rest.push(line);
        }
        rest
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}
