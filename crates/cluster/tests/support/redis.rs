//! A real `redis-server` of a test's own on a free loopback port, no persistence, killed on
//! drop. Shared by the cluster crate's tests and the binary's (crates/stompbox/tests, through
//! `#[path]`), so it uses nothing but std.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long redis-server may take to listen.
const START_WAIT: Duration = Duration::from_secs(5);

/// A `redis-server` of our own: no persistence, loopback only.
pub struct Redis {
    pub port: u16,
    /// With [`Redis::start_tls`]: the port that speaks TLS (`port` stays plain, for checks).
    pub tls_port: Option<u16>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The `process_id` of the Redis answering on `port`, if one answers.
fn pid_on(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains("process_id:") || !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&reply);
    let line = text.lines().find(|l| l.starts_with("process_id:"))?;
    line["process_id:".len()..].trim().parse().ok()
}

impl Redis {
    /// Starts one on a free port; FAILS (does not skip) when redis-server is not installed.
    /// The port is free when chosen but another process may take it before redis-server binds
    /// it: then another port is tried.
    pub fn start() -> Redis {
        for _ in 0..5 {
            if let Some(redis) = Redis::try_start_on(free_port()) {
                return redis;
            }
        }
        panic!("redis-server could not listen on any of 5 free ports");
    }

    /// Starts one on this port (a restart on the same address).
    pub fn start_on(port: u16) -> Redis {
        Redis::try_start_on(port).unwrap_or_else(|| panic!("redis-server did not listen on {port}"))
    }

    /// Also listening with TLS on a port of its own, with this certificate and key (PEM files).
    pub fn start_tls(cert: &str, key: &str) -> Redis {
        let tls_port = free_port();
        let tls = [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
        ]
        .map(str::to_string);
        let mut redis = Redis::try_start(free_port(), &tls)
            .unwrap_or_else(|| panic!("redis-server with TLS did not start"));
        redis.tls_port = Some(tls_port);
        redis
    }

    /// `None` when the redis-server started exited, or another process answers on `port`.
    fn try_start_on(port: u16) -> Option<Redis> {
        Redis::try_start(port, &[])
    }

    fn try_start(port: u16, extra: &[String]) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // DEBUG SLEEP stands in for a Redis that is slow for a while.
            .args(["--enable-debug-command", "local"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it with `scripts/test deps` (Debian's redis-server package)"
                )
            });
        let pid = child.id();
        let mut redis = Redis {
            port,
            tls_port: None,
            child: Some(child),
        };
        let deadline = Instant::now() + START_WAIT;
        // Ours answers, not some other listener that took the port first.
        while pid_on(port) != Some(pid) {
            let exited = redis
                .child
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() >= deadline {
                redis.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `rediss://127.0.0.1:<tls port>` (after [`Redis::start_tls`]).
    pub fn tls_url(&self) -> String {
        let port = self.tls_port.expect("started with start_tls");
        format!("rediss://127.0.0.1:{port}")
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
