//! The stompbox server: thin transports (STOMP over WebSocket, STOMP over TCP) around the broker
//! core, plus configuration, `/healthz` and `/metrics`.
//!
//! Transports only move bytes and report how connections end; everything STOMP lives in
//! `stompbox-broker`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod assets;
mod auth_config;
mod authn;
mod cluster_view;
mod config;
mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod http;
mod outbox;
mod pump;
mod slow;
mod sockjs;
mod tcp;
mod testserver;
mod tls;
mod ws;
mod wsconn;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stompbox_broker::{Broker, hello_handler, log_event};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth_config::{AclConfig, AuthConfig, JwtConfig, UserConfig};
pub use cluster_view::{ClusterView, LocalAnalytics};
pub use config::{
    ClusterSection, ConfigError, LimitsConfig, ServerConfig, SockJsConfig, StompConfig,
};
pub use testserver::SockJsTestServer;
pub use tls::TlsConfig;

pub(crate) struct AppState {
    pub(crate) broker: Broker,
    pub(crate) config: ServerConfig,
    pub(crate) tracker: TaskTracker,
    pub(crate) stop_accepting: CancellationToken,
    /// When this server started, and a random id telling restarts apart (`/api/info`).
    pub(crate) started_at: std::time::SystemTime,
    pub(crate) instance: String,
    /// Abnormal-close statistics and idle-timeout findings.
    pub(crate) analytics: Arc<parking_lot::Mutex<stompbox_broker::CloseAnalytics>>,
    /// Recent session closes for `/api/closes`.
    pub(crate) closes: Arc<api::RecentCloses>,
    /// SockJS sessions over HTTP transports (`None` when SockJS is off).
    pub(crate) sockjs: Option<Arc<sockjs::Registry>>,
    /// The Origin check and the connection cap at the HTTP edge, with their refusal counters.
    pub(crate) gate: gate::Gate,
    /// The slow-consumer limits of every outbox, with their close counters.
    pub(crate) send_limits: Arc<slow::SendLimits>,
    /// The cluster this node is part of, if any (`/api/stats`, `/metrics`).
    pub(crate) cluster: std::sync::OnceLock<Arc<dyn ClusterView>>,
}

/// A server error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How the server was asked to stop; decides the close code sessions see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// 1001 "Going Away".
    GoingAway,
    /// 1012 "Service Restart".
    Restart,
}

/// A bound server, ready to [`Server::run`].
pub struct Server {
    app: Arc<AppState>,
    http: TcpListener,
    tcp: Option<TcpListener>,
    tls: Option<tls::Acceptors>,
}

impl Server {
    /// Binds the listeners with a new broker: the seed-style log listener and (unless
    /// `stomp.hello_app = false`) the `/app/hello` demo handler installed.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let broker = Broker::new(config.broker_config()?);
        broker.add_listener(log_event);
        if config.stomp.hello_app {
            broker.route("/hello", hello_handler);
        }
        Server::bind_with_broker(config, broker).await
    }

    /// Binds the listeners around a broker the caller set up (handlers, listeners, auth). A
    /// configured `[auth]` replaces the broker's authenticator, and its ACL rules its authorizer.
    pub async fn bind_with_broker(
        config: ServerConfig,
        broker: Broker,
    ) -> Result<Server, ServerError> {
        config.broker_config()?;
        let tls = config.tls.acceptors()?;
        config.auth.install(&broker)?;
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        let http = bind(config.listen).await?;
        let tcp = match config.tcp_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let send_limits = slow::SendLimits::from_config(&config.limits);
        let sockjs = config.sockjs.enabled.then(|| {
            sockjs::Registry::start(
                endpoint::Kind::Stomp(broker.clone()),
                stompbox_sockjs::SessionConfig {
                    heartbeat: config.sockjs.heartbeat,
                    disconnect_delay: config.sockjs.disconnect_delay,
                    response_limit: config.sockjs.response_limit,
                },
                send_limits.clone(),
            )
        });
        let closes = Arc::new(api::RecentCloses::default());
        let recorder = closes.clone();
        broker.add_listener(move |event| recorder.record(event));
        let analytics = Arc::new(parking_lot::Mutex::new(
            stompbox_broker::CloseAnalytics::new(),
        ));
        let observer = analytics.clone();
        let heartbeat = server_heartbeat(&config);
        broker.add_listener(move |event| {
            let finding = observer.lock().observe(event, std::time::Instant::now());
            if let Some(finding) = finding {
                tracing::warn!(target: "stompbox::analytics", "{}", finding.message(heartbeat));
            }
        });
        let gate = gate::Gate::new(&config)?;
        Ok(Server {
            app: Arc::new(AppState {
                gate,
                analytics,
                started_at: std::time::SystemTime::now(),
                instance: instance_id(),
                closes,
                send_limits,
                sockjs,
                cluster: std::sync::OnceLock::new(),
                broker,
                config,
                tracker: TaskTracker::new(),
                stop_accepting: CancellationToken::new(),
            }),
            http,
            tcp,
            tls,
        })
    }

    /// The HTTP/WebSocket address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr().unwrap_or(self.app.config.listen)
    }

    /// The STOMP/TCP address actually bound, if enabled.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The broker.
    pub fn broker(&self) -> &Broker {
        &self.app.broker
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes every session with 1001
    /// (or 1012 for a restart) after what is queued for it, and waits at most
    /// `shutdown_timeout` (default 5 s) for their close handshakes.
    pub async fn run(
        self,
        shutdown: impl Future<Output = Shutdown> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = self.app.clone();
        let router = http::router(app.clone());
        let tcp_tls = self.tls.as_ref().map(|tls| tls.tcp.clone());
        let tcp_task = self
            .tcp
            .map(|listener| tokio::spawn(tcp::accept_loop(listener, app.clone(), tcp_tls)));
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel();
        let stop = app.stop_accepting.clone();
        let stop_tls = stop.clone();
        let closing = app.clone();
        let graceful = async move {
            let kind = shutdown.await;
            stop.cancel();
            // Close sessions first: streaming SockJS responses only end when their session does,
            // and graceful shutdown waits for them.
            let (code, reason) = match kind {
                Shutdown::GoingAway => (
                    stompbox_closecode::codes::GOING_AWAY,
                    "server shutting down",
                ),
                Shutdown::Restart => (
                    stompbox_closecode::codes::SERVICE_RESTART,
                    "server restarting",
                ),
            };
            let deadline = tokio::time::Instant::now() + closing.config.shutdown_timeout;
            let sessions = closing.broker.shut_down(code, reason);
            tracing::info!(
                "shutting down: not accepting connections; closing {sessions} sessions with {code} {} after what is queued for them (at most {})",
                stompbox_closecode::lookup(code).map_or("", |e| e.name),
                humantime::format_duration(closing.config.shutdown_timeout)
            );
            if let Some(registry) = &closing.sockjs {
                registry.close_all(code, reason);
            }
            let _ = signalled_tx.send(deadline);
        };
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = match self.tls {
            None => axum::serve(self.http, service)
                .with_graceful_shutdown(graceful)
                .into_future(),
            // HTTPS: the same server, on connections that completed their TLS handshake.
            Some(tls) => {
                let listener = tls::Listener::start(self.http, tls.http, stop_tls);
                axum::serve(listener, service)
                    .with_graceful_shutdown(graceful)
                    .into_future()
            }
        };
        let mut serve_task = tokio::spawn(serve);
        let mut deadline = None;
        let stopped_early = tokio::select! {
            biased;
            at = signalled_rx => {
                deadline = at.ok();
                None
            }
            result = &mut serve_task => Some(result),
        };
        // One deadline for everything: HTTP requests, then sessions' close handshakes.
        let deadline =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + app.config.shutdown_timeout);
        let served = match stopped_early {
            // Asked to stop: give open HTTP requests (SockJS streams) until the deadline.
            None => match tokio::time::timeout_at(deadline, &mut serve_task).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!("shutdown deadline passed with HTTP requests still open");
                    serve_task.abort();
                    Ok(Ok(()))
                }
            },
            Some(result) => result,
        };
        // A graceful stop returns Ok after the signal; anything else is an I/O failure.
        match served {
            Ok(result) => result.map_err(ServerError::Io)?,
            Err(e) => return Err(ServerError::Io(std::io::Error::other(e))),
        }
        if let Some(task) = tcp_task {
            let _ = task.await;
        }
        app.tracker.close();
        if tokio::time::timeout_at(deadline, app.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "shutdown deadline passed with {} connections still closing; they are dropped",
                app.tracker.len()
            );
        }
        let left = app.broker.stats();
        let lost = left.pending_messages + left.unacked_messages;
        if lost > 0 {
            tracing::warn!(
                "{lost} queue messages not consumed are dropped: queues are kept in memory only"
            );
        }
        Ok(())
    }
}

/// The heartbeat the server sends on an idle path: SockJS `h` when SockJS is on, else the STOMP
/// heart-beat it offers.
fn server_heartbeat(config: &ServerConfig) -> Option<Duration> {
    if config.sockjs.enabled {
        return Some(config.sockjs.heartbeat);
    }
    stompbox_stomp::HeartBeat::parse(&config.stomp.heart_beat)
        .ok()
        .filter(|h| h.send > 0)
        .map(|h| Duration::from_millis(u64::from(h.send)))
}

/// A random id for this server instance.
pub(crate) fn instance_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("{:016x}", RandomState::new().hash_one(std::process::id()))
}

/// The README's Rust examples compile as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
