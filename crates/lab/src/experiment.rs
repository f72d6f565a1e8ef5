//! `stompbox lab 1006`: the seed's experiment in one command, on loopback ports chosen at run
//! time. A stompbox server (SockJS heartbeat 25 s and no STOMP heart-beats, like Spring's simple
//! broker in the seed), an idle-timeout proxy in front of it (10 s, like the seed's
//! `proxy_read_timeout 10s`) and a STOMP-over-SockJS client (like the seed's page). First the
//! proxy cuts the idle connection and the server logs 1006; then the seed's fix — a heartbeat
//! shorter than the proxy timeout — keeps a connection up across several timeouts.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stompbox_broker::{Broker, CloseStatus, EventKind, EventStream, hello_handler, log_event};
use stompbox_server::{Server, ServerConfig, Shutdown};
use tokio::sync::oneshot;

use crate::client::{Client, ConnectOptions, Event};
use crate::proxy::{Cut, Proxy, ProxyConfig};

/// The numbers of the experiment. Defaults: the seed's 25 s heartbeat and 10 s proxy timeout,
/// a 5 s heartbeat as the fix, held for 30 s (three proxy timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExperimentConfig {
    /// The server's SockJS heartbeat in the first run. Default: 25 s.
    pub heartbeat: Duration,
    /// The proxy's read timeout (nginx `proxy_read_timeout`). Default: 10 s.
    pub proxy_timeout: Duration,
    /// The heartbeat of the fixed run; must be shorter than `proxy_timeout`. Default: 5 s.
    pub fixed_heartbeat: Duration,
    /// How long the fixed run holds the idle connection. Default: 30 s.
    pub hold: Duration,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        ExperimentConfig {
            heartbeat: Duration::from_secs(25),
            proxy_timeout: Duration::from_secs(10),
            fixed_heartbeat: Duration::from_secs(5),
            hold: Duration::from_secs(30),
        }
    }
}

/// Numbers that make no experiment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The fix must beat the proxy timeout.
    #[error("--fixed-heartbeat ({fixed:?}) must be shorter than --proxy-timeout ({timeout:?})")]
    FixNotShorter {
        /// The fixed heartbeat.
        fixed: Duration,
        /// The proxy timeout.
        timeout: Duration,
    },
    /// Without a heartbeat longer than the timeout there is no 1006 to see.
    #[error(
        "--heartbeat ({heartbeat:?}) must be longer than --proxy-timeout ({timeout:?}) to reproduce the 1006"
    )]
    HeartbeatNotLonger {
        /// The first run's heartbeat.
        heartbeat: Duration,
        /// The proxy timeout.
        timeout: Duration,
    },
    /// Zero durations.
    #[error("durations must be longer than 0 s")]
    Zero,
}

impl ExperimentConfig {
    /// Checks the numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if [
            self.heartbeat,
            self.proxy_timeout,
            self.fixed_heartbeat,
            self.hold,
        ]
        .iter()
        .any(Duration::is_zero)
        {
            return Err(ConfigError::Zero);
        }
        if self.heartbeat <= self.proxy_timeout {
            return Err(ConfigError::HeartbeatNotLonger {
                heartbeat: self.heartbeat,
                timeout: self.proxy_timeout,
            });
        }
        if self.fixed_heartbeat >= self.proxy_timeout {
            return Err(ConfigError::FixNotShorter {
                fixed: self.fixed_heartbeat,
                timeout: self.proxy_timeout,
            });
        }
        Ok(())
    }
}

/// What one run saw.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The server's close status of the session.
    pub server_status: CloseStatus,
    /// The server's `session closed` line.
    pub server_line: String,
    /// How long the server had sent nothing when the session ended.
    pub server_idle: Duration,
    /// The client's close code (1006: the TCP connection ended without a Close frame).
    pub client_code: u16,
    /// How long after CONNECTED the client saw the close.
    pub client_after: Duration,
    /// The proxy's cut, if it cut.
    pub cut: Option<Cut>,
    /// SockJS `h` frames the client received.
    pub heartbeats: u32,
}

/// Both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentReport {
    /// Seed configuration: heartbeat longer than the proxy timeout.
    pub broken: RunReport,
    /// The fix: heartbeat shorter than the proxy timeout.
    pub fixed: RunReport,
}

/// A failure of the experiment's machinery (not of the connection under study).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// Bad numbers.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start.
    #[error("server: {0}")]
    Server(#[from] stompbox_server::ServerError),
    /// The proxy could not start.
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// The client failed.
    #[error("client: {0}")]
    Client(#[from] crate::client::ClientError),
    /// Something expected did not happen in time.
    #[error("{0}")]
    Timeout(String),
}

/// A running server + proxy pair.
struct Rig {
    proxy_addr: SocketAddr,
    events: EventStream,
    cuts: tokio::sync::broadcast::Receiver<Cut>,
    stop_server: oneshot::Sender<Shutdown>,
    stop_proxy: oneshot::Sender<()>,
}

impl Rig {
    async fn start(heartbeat: Duration, proxy_timeout: Duration) -> Result<Rig, LabError> {
        let mut config = ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..ServerConfig::default()
        };
        // Like Spring's simple broker in the seed: no STOMP heart-beats, so the SockJS `h`
        // frame is the only server traffic on an idle connection.
        config.stomp.heart_beat = "0,0".into();
        config.sockjs.heartbeat = heartbeat;
        let broker = Broker::new(
            config
                .broker_config()
                .map_err(stompbox_server::ServerError::from)?,
        );
        broker.add_listener(log_event);
        broker.route("/hello", hello_handler);
        let events = broker.events();
        let server = Server::bind_with_broker(config, broker).await?;
        let upstream = server.local_addr();
        let (stop_server, stopped) = oneshot::channel();
        tokio::spawn(server.run(async move { stopped.await.unwrap_or(Shutdown::GoingAway) }));
        let proxy = Proxy::bind(ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream,
            read_timeout: Some(proxy_timeout),
            send_timeout: None,
        })
        .await?;
        let proxy_addr = proxy.local_addr();
        let cuts = proxy.cuts();
        let (stop_proxy, proxy_stopped) = oneshot::channel::<()>();
        tokio::spawn(proxy.run(async move {
            let _ = proxy_stopped.await;
        }));
        Ok(Rig {
            proxy_addr,
            events,
            cuts,
            stop_server,
            stop_proxy,
        })
    }

    fn url(&self) -> String {
        format!("http://{}/test-ws", self.proxy_addr)
    }

    /// The server's disconnect event for `session`.
    async fn server_close(
        &mut self,
        session: &str,
        limit: Duration,
    ) -> Result<(CloseStatus, Duration, String), LabError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| LabError::Timeout("the server reported no close in time".into()))?
                .ok_or_else(|| LabError::Timeout("the server stopped".into()))?;
            if &*event.session_id != session {
                continue;
            }
            if let EventKind::Disconnect {
                status,
                server_idle,
                ..
            } = &event.kind
            {
                return Ok((status.clone(), *server_idle, event.to_string()));
            }
        }
    }

    fn stop(self) {
        let _ = self.stop_server.send(Shutdown::GoingAway);
        let _ = self.stop_proxy.send(());
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Runs both parts, narrating through `say`.
pub async fn run(
    config: ExperimentConfig,
    say: &mut (dyn FnMut(String) + Send),
) -> Result<ExperimentReport, LabError> {
    config.validate()?;
    let t0 = Instant::now();
    let mut line = |text: String| say(format!("[{:>5.1} s] {text}", t0.elapsed().as_secs_f64()));

    line(format!(
        "Part 1 — the seed's setup: SockJS heartbeat {}, proxy read timeout {} (nginx `proxy_read_timeout {}s`).",
        secs(config.heartbeat),
        secs(config.proxy_timeout),
        config.proxy_timeout.as_secs()
    ));
    let mut rig = Rig::start(config.heartbeat, config.proxy_timeout).await?;
    line(format!(
        "server and idle-timeout proxy up; client connects to {} over SockJS",
        rig.url()
    ));
    let mut client = Client::connect(&rig.url(), ConnectOptions::default()).await?;
    let session = client.session().unwrap_or_default().to_string();
    let connected = Instant::now();
    client.subscribe("sub-0", "/topic/greetings").await?;
    client.send("/app/hello", "{\"name\":\"lab\"}").await?;
    line(format!(
        "CONNECTED (session {session}); subscribed to /topic/greetings and sent /app/hello; now idle"
    ));
    let broken = observe(
        &mut client,
        &mut rig,
        &session,
        connected,
        config.heartbeat + config.proxy_timeout + Duration::from_secs(5),
        &mut line,
    )
    .await?;
    let explanation = stompbox_closecode::lookup(broken.server_status.code)
        .map(|e| format!("{} {}", broken.server_status.code, e.name))
        .unwrap_or_default();
    line(format!("server: {}", broken.server_line));
    if broken.server_status.code == stompbox_closecode::codes::ABNORMAL {
        line(format!(
            "why: the proxy saw no server traffic for {} — the first SockJS heartbeat was due only after {} — and closed both TCP connections without a WebSocket Close frame. Neither side closed, so both report {explanation} (`stompbox explain 1006`).",
            secs(config.proxy_timeout),
            secs(config.heartbeat)
        ));
    } else {
        line(format!(
            "unexpected: the session ended with {explanation}, not 1006 (`stompbox explain {}`)",
            broken.server_status.code
        ));
    }
    rig.stop();

    line(format!(
        "Part 2 — the seed's fix: a heartbeat ({}) shorter than the proxy timeout ({}); holding the idle connection for {}.",
        secs(config.fixed_heartbeat),
        secs(config.proxy_timeout),
        secs(config.hold)
    ));
    let mut rig = Rig::start(config.fixed_heartbeat, config.proxy_timeout).await?;
    let mut client = Client::connect(&rig.url(), ConnectOptions::default()).await?;
    let session = client.session().unwrap_or_default().to_string();
    let connected = Instant::now();
    let mut heartbeats = 0;
    let held = tokio::time::timeout(config.hold, async {
        loop {
            match client.next_event().await {
                Ok(Event::Heartbeat { sockjs: true }) => {
                    heartbeats += 1;
                    line(format!("client: heartbeat `h` #{heartbeats}"));
                }
                Ok(Event::Closed { code, .. }) => return Some(code),
                Ok(_) => {}
                Err(_) => return Some(crate::client::ABNORMAL),
            }
        }
    })
    .await;
    if let Ok(Some(code)) = held {
        return Err(LabError::Timeout(format!(
            "the fixed connection closed with {code} before {} had passed",
            secs(config.hold)
        )));
    }
    line(format!(
        "still connected after {} ({} proxy timeouts) thanks to {heartbeats} heartbeats; disconnecting normally",
        secs(connected.elapsed()),
        config.hold.as_secs_f64() / config.proxy_timeout.as_secs_f64()
    ));
    let client_code = match client.disconnect(Duration::from_secs(5)).await? {
        Event::Closed { code, .. } => code,
        _ => crate::client::NO_STATUS,
    };
    let (server_status, server_idle, server_line) =
        rig.server_close(&session, Duration::from_secs(10)).await?;
    line(format!("server: {server_line}"));
    let cut = rig.cuts.try_recv().ok();
    rig.stop();
    let fixed = RunReport {
        server_status,
        server_line,
        server_idle,
        client_code,
        client_after: connected.elapsed(),
        cut,
        heartbeats,
    };
    line("done: heartbeat below the proxy timeout → no 1006. In production, `stompbox probe URL` measures a path's idle timeout and `stompbox nginx-config` prints a server block with safe timeouts.".to_string());
    Ok(ExperimentReport { broken, fixed })
}

/// Waits for the client's and the server's view of the end of an idle connection.
async fn observe(
    client: &mut Client,
    rig: &mut Rig,
    session: &str,
    connected: Instant,
    limit: Duration,
    line: &mut impl FnMut(String),
) -> Result<RunReport, LabError> {
    let mut heartbeats = 0;
    let client_code = tokio::time::timeout(limit, async {
        loop {
            match client.next_event().await {
                Ok(Event::Heartbeat { sockjs: true }) => heartbeats += 1,
                Ok(Event::Closed { code, clean, .. }) => return (code, clean),
                Ok(Event::Frame(f)) => line(format!(
                    "client: {} {}",
                    f.command,
                    String::from_utf8_lossy(&f.body).trim()
                )),
                Ok(_) => {}
                Err(_) => return (crate::client::ABNORMAL, false),
            }
        }
    })
    .await
    .map_err(|_| LabError::Timeout("the idle connection was not cut in time".into()))?;
    let client_after = connected.elapsed();
    let cut = match tokio::time::timeout(Duration::from_secs(2), rig.cuts.recv()).await {
        Ok(Ok(cut)) => {
            line(format!(
                "proxy: cut the connection after {} without server data",
                secs(cut.idle)
            ));
            Some(cut)
        }
        _ => None,
    };
    line(format!(
        "client: connection closed with {} after {} ({})",
        client_code.0,
        secs(client_after),
        if client_code.1 {
            "a Close frame"
        } else {
            "no Close frame: TCP closed under it"
        }
    ));
    let (server_status, server_idle, server_line) =
        rig.server_close(session, Duration::from_secs(5)).await?;
    Ok(RunReport {
        server_status,
        server_line,
        server_idle,
        client_code: client_code.0,
        client_after,
        cut,
        heartbeats,
    })
}
