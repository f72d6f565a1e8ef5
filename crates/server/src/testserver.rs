//! `stompbox sockjs-test-server`: the endpoints SockJS protocol test suites expect (as every
//! SockJS server ships them), with plain echo instead of STOMP behind them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use stompbox_broker::Broker;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::endpoint::Kind;
use crate::sockjs::{self, Mount, Registry};
use crate::{AppState, ServerConfig, ServerError, SockJsConfig};

/// The test suites' server: `/echo` (echo, `response_limit` 4096 bytes),
/// `/disabled_websocket_echo` (no websocket transport), `/cookie_needed_echo` (`cookie_needed`,
/// `JSESSIONID` on every session response) and `/close` (every new session closed at once with
/// `c[3000,"Go away!"]`), each with its raw `/websocket`.
pub struct SockJsTestServer {
    listener: TcpListener,
    app: Arc<AppState>,
}

impl SockJsTestServer {
    /// Binds the listener.
    pub async fn bind(addr: SocketAddr) -> Result<SockJsTestServer, ServerError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        // The suites send cross-site and `null` origins: every origin is allowed here.
        let config = ServerConfig {
            allowed_origins: vec!["*".to_string()],
            ..ServerConfig::default()
        };
        let app = Arc::new(AppState {
            broker: Broker::new(config.broker_config()?),
            gate: crate::gate::Gate::new(&config)?,
            send_limits: crate::slow::SendLimits::from_config(&config.limits),
            config,
            tracker: TaskTracker::new(),
            stop_accepting: CancellationToken::new(),
            sockjs: None,
            closes: Default::default(),
            analytics: Default::default(),
            cluster: Default::default(),
            started_at: std::time::SystemTime::now(),
            instance: crate::instance_id(),
        });
        Ok(SockJsTestServer { listener, app })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let base = SockJsConfig::default();
        let mounts = [
            (
                "/echo",
                Kind::Echo,
                SockJsConfig {
                    response_limit: 4096,
                    ..base.clone()
                },
            ),
            (
                "/disabled_websocket_echo",
                Kind::Echo,
                SockJsConfig {
                    websocket: false,
                    ..base.clone()
                },
            ),
            (
                "/cookie_needed_echo",
                Kind::Echo,
                SockJsConfig {
                    cookie_needed: true,
                    ..base.clone()
                },
            ),
            ("/close", Kind::Close, base.clone()),
        ];
        let mut router = Router::new();
        for (prefix, kind, config) in mounts {
            let registry = Registry::start(
                kind.clone(),
                stompbox_sockjs::SessionConfig {
                    heartbeat: config.heartbeat,
                    disconnect_delay: config.disconnect_delay,
                    response_limit: config.response_limit,
                },
                self.app.send_limits.clone(),
            );
            router = router.merge(sockjs::routes(Arc::new(Mount {
                app: self.app.clone(),
                prefix: prefix.to_string(),
                config,
                registry: Some(registry),
                kind,
            })));
        }
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        Ok(())
    }
}
