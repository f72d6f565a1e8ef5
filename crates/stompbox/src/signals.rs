//! SIGINT and SIGTERM for `stompbox serve`: the first starts a graceful shutdown; a SIGINT during
//! it (Ctrl-C again) exits at once with status 130. A repeated SIGTERM is only logged: service
//! managers send SIGTERM once and SIGKILL after their own grace period, and a second SIGTERM from
//! a script must not cut the shutdown short.

use stompbox_server::Shutdown;

/// The process's SIGINT and SIGTERM listeners. Installed before the server says it listens: a
/// signal that came earlier would kill the process without a shutdown.
pub(crate) struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the listeners (inside a tokio runtime).
    #[cfg(unix)]
    pub(crate) fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Installs the listeners (Ctrl-C only, off Unix).
    #[cfg(not(unix))]
    pub(crate) fn install() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    /// The next signal: its name, and whether it is an interrupt (SIGINT, Ctrl-C).
    #[cfg(unix)]
    async fn next(&mut self) -> (&'static str, bool) {
        tokio::select! {
            Some(()) = self.int.recv() => ("SIGINT", true),
            Some(()) = self.term.recv() => ("SIGTERM", false),
            // Both streams ended (the runtime is going away): no more signals.
            else => std::future::pending().await,
        }
    }

    /// The next Ctrl-C.
    #[cfg(not(unix))]
    async fn next(&mut self) -> (&'static str, bool) {
        let _ = tokio::signal::ctrl_c().await;
        ("Ctrl-C", true)
    }

    /// Waits for the first signal and answers `kind`. From then on, a SIGINT ends the process
    /// at once (status 130), without waiting for sessions to close.
    pub(crate) async fn shutdown(mut self, kind: Shutdown) -> Shutdown {
        let (name, _) = self.next().await;
        tracing::info!("{name} received: shutting down gracefully (Ctrl-C again exits at once)");
        tokio::spawn(async move {
            loop {
                match self.next().await {
                    (name, true) => {
                        tracing::warn!(
                            "{name} received during shutdown: exiting now with status 130, without waiting for sessions to close"
                        );
                        std::process::exit(130);
                    }
                    (name, false) => tracing::info!(
                        "{name} received during shutdown: already shutting down (SIGINT exits at once)"
                    ),
                }
            }
        });
        kind
    }
}
