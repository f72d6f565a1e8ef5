//! A real `redis-server` of a test's own on a free loopback port, no persistence, killed on
//! drop. Shared by the cluster crate's tests and the binary's (crates/stompbox/tests, through
//! `#[path]`), so it uses nothing but std.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to listen.
const START_WAIT: Duration = Duration::from_secs(5);

/// A `redis-server` of our own: no persistence, loopback only.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

impl Redis {
    /// Starts one on a free port; FAILS (does not skip) when redis-server is not installed.
    pub fn start() -> Redis {
        Redis::start_on(free_port())
    }

    /// Starts one on this port (a restart on the same address).
    pub fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // DEBUG SLEEP stands in for a Redis that is slow for a while.
            .args(["--enable-debug-command", "local"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it with `scripts/test deps` (Debian's redis-server package)"
                )
            });
        let redis = Redis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + START_WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
