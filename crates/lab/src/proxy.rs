//! An idle-timeout TCP forwarder that cuts connections the way nginx's `proxy_read_timeout` and
//! `proxy_send_timeout` do: both sides get a plain TCP close, no WebSocket Close frame — so the
//! server logs 1006, as in the seed.
//!
//! Owns accepting, connecting one upstream connection per client connection, copying bytes both
//! ways (HTTP and upgraded WebSocket alike; nothing is parsed but the first 12 bytes of the
//! upstream's answer), the two timers, and reporting each cut ([`Cut`]: a tracing `info` line
//! and [`Proxy::cuts`]). Must not: rewrite bytes, send anything of its own (no `502`, no Close
//! frame), or keep state beyond one connection.
//!
//! # What the timers mean — nginx's semantics, from its docs and its source
//!
//! nginx's docs (`ngx_http_proxy_module`): `proxy_read_timeout` "Defines a timeout for reading a
//! response from the proxied server. The timeout is set only between two successive read
//! operations … If the proxied server does not transmit anything within this time, the
//! connection is closed." `proxy_send_timeout` "Sets a timeout for transmitting a request to
//! the proxied server. The timeout is set only between two successive write operations … If the
//! proxied server does not receive anything within this time, the connection is closed." Both
//! default to 60 s. The WebSocket proxying page adds that a connection is closed "if the proxied
//! server does not transmit any data within 60 seconds".
//!
//! The source (nginx/nginx `src/http/ngx_http_upstream.c`) is more precise. Once the upstream
//! answered `101 Switching Protocols`, every event on either connection — client readable,
//! client writable, upstream readable, upstream writable — runs
//! `ngx_http_upstream_process_upgraded()`, which ends with
//!
//! ```c
//! if (upstream->write->active && !upstream->write->ready) {
//!     ngx_add_timer(upstream->write, u->conf->send_timeout);
//! } else if (upstream->write->timer_set) {
//!     ngx_del_timer(upstream->write);
//! }
//! ...
//! if (upstream->read->active && !upstream->read->ready) {
//!     ngx_add_timer(upstream->read, u->conf->read_timeout);
//! } else if (upstream->read->timer_set) {
//!     ngx_del_timer(upstream->read);
//! }
//! ```
//!
//! and `ngx_add_timer` (`src/event/ngx_event_timer.h`) moves an armed timer to now + timeout
//! unless the new deadline is within `NGX_TIMER_LAZY_DELAY` (300 ms) of the old one. So:
//!
//! - **Read timeout, upgraded (WebSocket) connection: bytes in either direction re-arm it.** A
//!   client→server message (a STOMP heart-beat, a WebSocket ping from the browser) keeps nginx
//!   from cutting just as a server→client one does; the connection is cut after `read_timeout`
//!   without data *either way*. This proxy does the same.
//! - **Read timeout, before the upgrade (plain HTTP: the handshake, SockJS's `xhr_streaming`,
//!   `eventsource`, polling):** only upstream bytes re-arm it. `ngx_event_pipe` (buffered) and
//!   `ngx_http_upstream_process_non_buffered_request` re-arm `upstream->read` when the upstream
//!   is readable or the client's socket drains after a blocked write; the client's own bytes go
//!   to `ngx_http_upstream_rd_check_broken_connection`, which touches no timer. This proxy treats a connection as upgraded
//!   once the upstream's first bytes are `HTTP/1.x 101`; anything else (including non-HTTP
//!   traffic) keeps upstream-only resets.
//! - **Send timeout: armed only while a write to the upstream is blocked** (`!ready`: the
//!   upstream's receive window is full) and deleted as soon as the socket is writable again;
//!   `ngx_http_upstream_send_request` likewise arms it only on `NGX_AGAIN`. An idle connection
//!   never trips it, whatever its value. This proxy cuts when one write to the upstream makes no
//!   progress for `send_timeout` — an upstream that stopped reading, not one that is quiet.
//!
//! Differences from nginx, all irrelevant to idle cuts: the timers start when the client
//! connection is accepted (nginx arms the read timer once the request is sent, and applies
//! `client_header_timeout` before that); nginx's 300 ms lazy re-arm can cut up to 300 ms
//! *earlier* than `read_timeout` after the last byte when bytes come in bursts, this proxy cuts
//! at `read_timeout` after the last byte; a stalled client (nginx's own `send_timeout`) is not
//! timed; an unreachable upstream gets the client connection closed, not a `502`.
//!
//! `send_timeout` defaults to off here (nginx: 60 s) because with the semantics above a 60 s
//! send timer only fires on an upstream that stops reading for a minute, which no lab
//! experiment wants mixed into an idle-timeout measurement; set it to study stalled servers.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinSet;

/// How many cuts a slow [`Proxy::cuts`] receiver may lag behind before it misses some.
const CUT_CHANNEL: usize = 256;
/// Copy buffer per direction (nginx's `proxy_buffer_size` default is 4 or 8 KiB; bigger only
/// means fewer syscalls).
const BUFFER: usize = 16 * 1024;
/// Bytes of the upstream's first answer that decide whether the connection is upgraded.
const STATUS_PREFIX: usize = "HTTP/1.1 101".len();

/// Where to listen, where to forward, and the two timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Listen address (port 0 picks one; see [`Proxy::local_addr`]).
    pub listen: SocketAddr,
    /// The upstream server; one connection to it per client connection.
    pub upstream: SocketAddr,
    /// nginx's `proxy_read_timeout`: cut after this long without upstream data (without data
    /// either way once the connection is upgraded). `None`: never. nginx's default: 60 s.
    pub read_timeout: Option<Duration>,
    /// nginx's `proxy_send_timeout`: cut when a write to the upstream makes no progress for this
    /// long. `None`: never (the default here; nginx's is 60 s — see the module docs).
    pub send_timeout: Option<Duration>,
}

/// Which timer cut a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeout {
    /// `read_timeout`: the upstream (or, upgraded, both sides) sent nothing for that long.
    Read,
    /// `send_timeout`: a write to the upstream made no progress for that long.
    Send,
}

/// One connection the proxy cut, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The client's address.
    pub client: SocketAddr,
    /// The upstream's address.
    pub upstream: SocketAddr,
    /// Which timer fired.
    pub which: Timeout,
    /// Its configured value.
    pub timeout: Duration,
    /// How long the connection had been idle (read) or stalled (send) when it was cut.
    pub idle: Duration,
    /// Whether the upstream had answered `101 Switching Protocols` (then traffic either way
    /// re-arms the read timer).
    pub upgraded: bool,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idle = self.idle.as_secs_f64();
        let timeout = self.timeout.as_secs_f64();
        write!(
            f,
            "proxy cut {} -> {} after {idle:.2} s ",
            self.client, self.upstream
        )?;
        match (self.which, self.upgraded) {
            (Timeout::Read, false) => {
                write!(f, "without upstream data (read timeout {timeout} s)")
            }
            (Timeout::Read, true) => write!(
                f,
                "without data either way (read timeout {timeout} s, upgraded connection)"
            ),
            (Timeout::Send, _) => {
                write!(
                    f,
                    "unable to write to the upstream (send timeout {timeout} s)"
                )
            }
        }
    }
}

/// What can go wrong starting the proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// A bound proxy; [`Proxy::run`] serves it.
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: ProxyConfig,
    cuts: broadcast::Sender<Cut>,
}

impl Proxy {
    /// Binds the listen address.
    pub async fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let bind_error = |source| ProxyError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let (cuts, _) = broadcast::channel(CUT_CHANNEL);
        Ok(Proxy {
            listener,
            local_addr,
            config,
            cuts,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Every cut from now on. Subscribe before [`Proxy::run`] consumes the proxy.
    pub fn cuts(&self) -> broadcast::Receiver<Cut> {
        self.cuts.subscribe()
    }

    /// Accepts and forwards until `shutdown` completes, then closes every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((client, addr)) => {
                        let config = self.config.clone();
                        let cuts = self.cuts.clone();
                        connections.spawn(forward(client, addr, config, cuts));
                    }
                    Err(e) => {
                        // EMFILE and friends: wait rather than spin; the listener survives.
                        tracing::warn!("proxy accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
    }
}

/// When each side last sent bytes, shared by the two copy loops and the read timer of one
/// connection (same task, so plain atomics suffice).
struct Activity {
    start: Instant,
    /// Nanoseconds after `start` of the last upstream→client bytes.
    upstream: AtomicU64,
    /// Nanoseconds after `start` of the last client→upstream bytes.
    client: AtomicU64,
    /// Whether the upstream answered `101`.
    upgraded: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            upstream: AtomicU64::new(0),
            client: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The moment the read timer was last re-armed.
    fn read_armed(&self) -> Instant {
        let mut at = self.upstream.load(Ordering::Relaxed);
        if self.upgraded.load(Ordering::Relaxed) {
            at = at.max(self.client.load(Ordering::Relaxed));
        }
        self.start + Duration::from_nanos(at)
    }
}

/// How one forwarded connection ended.
enum End {
    Cut(Timeout, Duration),
    ClientClosed,
    UpstreamClosed,
    ClientError(io::Error),
    UpstreamError(io::Error),
}

/// Forwards one client connection until a side closes or a timer fires; then closes both
/// (dropping the sockets: a FIN, or a RST if unread bytes were pending — never a Close frame).
async fn forward(
    mut client: TcpStream,
    client_addr: SocketAddr,
    config: ProxyConfig,
    cuts: broadcast::Sender<Cut>,
) {
    let activity = Activity::new();
    let mut upstream = match TcpStream::connect(config.upstream).await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::warn!(
                "proxy {client_addr} -> {}: cannot connect upstream: {e}",
                config.upstream
            );
            return;
        }
    };
    // Like nginx's `tcp_nodelay on` (its default) for upgraded connections.
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut upstream_read, mut upstream_write) = upstream.split();
    let end = tokio::select! {
        end = to_upstream(&mut client_read, &mut upstream_write, &activity, config.send_timeout) => end,
        end = to_client(&mut upstream_read, &mut client_write, &activity) => end,
        idle = read_timer(&activity, config.read_timeout) => End::Cut(Timeout::Read, idle),
    };
    let upgraded = activity.upgraded.load(Ordering::Relaxed);
    match end {
        End::Cut(which, idle) => {
            let timeout = match which {
                Timeout::Read => config.read_timeout,
                Timeout::Send => config.send_timeout,
            }
            .unwrap_or_default();
            let cut = Cut {
                client: client_addr,
                upstream: config.upstream,
                which,
                timeout,
                idle,
                upgraded,
            };
            tracing::info!("{cut}");
            // No receiver is fine: the log line is the record.
            let _ = cuts.send(cut);
        }
        End::ClientClosed => tracing::debug!("proxy {client_addr}: client closed"),
        End::UpstreamClosed => tracing::debug!("proxy {client_addr}: upstream closed"),
        End::ClientError(e) => tracing::debug!("proxy {client_addr}: client error: {e}"),
        End::UpstreamError(e) => tracing::debug!("proxy {client_addr}: upstream error: {e}"),
    }
}

/// Client → upstream. Each write must make progress within `send_timeout`.
async fn to_upstream(
    from: &mut ReadHalf<'_>,
    to: &mut WriteHalf<'_>,
    activity: &Activity,
    send_timeout: Option<Duration>,
) -> End {
    let mut buf = vec![0; BUFFER];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => return End::ClientClosed,
            Ok(n) => n,
            Err(e) => return End::ClientError(e),
        };
        activity.client.store(activity.now(), Ordering::Relaxed);
        let mut done = 0;
        while done < n {
            let write = to.write(&buf[done..n]);
            let written = match send_timeout {
                Some(limit) => match tokio::time::timeout(limit, write).await {
                    Ok(written) => written,
                    Err(_) => return End::Cut(Timeout::Send, limit),
                },
                None => write.await,
            };
            match written {
                Ok(0) => return End::UpstreamError(io::ErrorKind::WriteZero.into()),
                Ok(w) => done += w,
                Err(e) => return End::UpstreamError(e),
            }
        }
    }
}

/// Upstream → client; notes whether the upstream's first answer is `HTTP/1.x 101`.
async fn to_client(from: &mut ReadHalf<'_>, to: &mut WriteHalf<'_>, activity: &Activity) -> End {
    let mut buf = vec![0; BUFFER];
    let mut status: Vec<u8> = Vec::with_capacity(STATUS_PREFIX);
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => return End::UpstreamClosed,
            Ok(n) => n,
            Err(e) => return End::UpstreamError(e),
        };
        if status.len() < STATUS_PREFIX {
            let take = n.min(STATUS_PREFIX - status.len());
            status.extend_from_slice(&buf[..take]);
            if status.len() == STATUS_PREFIX && is_switching_protocols(&status) {
                activity.upgraded.store(true, Ordering::Relaxed);
            }
        }
        activity.upstream.store(activity.now(), Ordering::Relaxed);
        if let Err(e) = to.write_all(&buf[..n]).await {
            return End::ClientError(e);
        }
    }
}

fn is_switching_protocols(status: &[u8]) -> bool {
    status == b"HTTP/1.1 101" || status == b"HTTP/1.0 101"
}

/// Completes with the idle time once `read_timeout` passed since the read timer was last
/// re-armed; never without a read timeout.
async fn read_timer(activity: &Activity, read_timeout: Option<Duration>) -> Duration {
    let Some(limit) = read_timeout else {
        return std::future::pending().await;
    };
    loop {
        let deadline = activity.read_armed() + limit;
        tokio::time::sleep_until(deadline.into()).await;
        let idle = activity.read_armed().elapsed();
        if idle >= limit {
            return idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_lines_say_which_timer_and_how_long() {
        let cut = Cut {
            client: "127.0.0.1:5555".parse().expect("addr"),
            upstream: "127.0.0.1:8081".parse().expect("addr"),
            which: Timeout::Read,
            timeout: Duration::from_secs(10),
            idle: Duration::from_millis(10_003),
            upgraded: false,
        };
        assert_eq!(
            cut.to_string(),
            "proxy cut 127.0.0.1:5555 -> 127.0.0.1:8081 after 10.00 s without upstream data (read timeout 10 s)"
        );
        let upgraded = Cut {
            upgraded: true,
            ..cut.clone()
        };
        assert!(
            upgraded
                .to_string()
                .ends_with("without data either way (read timeout 10 s, upgraded connection)")
        );
        let send = Cut {
            which: Timeout::Send,
            timeout: Duration::from_millis(1500),
            idle: Duration::from_millis(1500),
            ..cut
        };
        assert!(
            send.to_string()
                .ends_with("after 1.50 s unable to write to the upstream (send timeout 1.5 s)")
        );
    }

    #[test]
    fn only_a_101_answer_upgrades() {
        assert!(is_switching_protocols(b"HTTP/1.1 101"));
        assert!(is_switching_protocols(b"HTTP/1.0 101"));
        assert!(!is_switching_protocols(b"HTTP/1.1 200"));
        assert!(!is_switching_protocols(b"CONNECTED\nve"));
    }

    #[test]
    fn client_bytes_rearm_the_read_timer_only_when_upgraded() {
        let activity = Activity::new();
        activity.upstream.store(1_000, Ordering::Relaxed);
        activity.client.store(5_000, Ordering::Relaxed);
        assert_eq!(
            activity.read_armed(),
            activity.start + Duration::from_nanos(1_000)
        );
        activity.upgraded.store(true, Ordering::Relaxed);
        assert_eq!(
            activity.read_armed(),
            activity.start + Duration::from_nanos(5_000)
        );
    }
}
