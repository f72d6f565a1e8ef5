//! TLS (`[tls]`): HTTPS and WSS on `listen`, and STOMP over TLS on `tcp_listen`, with rustls
//! from PEM certificate and key files.
//!
//! The handshake of each connection runs in a task of its own, bounded by
//! [`HANDSHAKE_TIMEOUT`], so that a slow or silent client never holds up the accepting of others;
//! a failed handshake is a debug log line and a dropped connection, not a server error. For
//! HTTPS, connections that completed their handshake are handed to the same axum server as
//! plain HTTP ([`Listener`]), with its graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::ConfigError;

/// A connection that completed its TLS handshake.
pub(crate) type Stream = tokio_rustls::server::TlsStream<TcpStream>;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const BOTH: &str = "not set, but {} is: TLS needs both (--tls-cert and --tls-key)";

/// Handshaken HTTPS connections waiting for the HTTP server to take them.
const QUEUE: usize = 64;

/// `[tls]`: serve HTTPS and WSS (and STOMP over TLS on `tcp_listen`) with this certificate.
/// Both or neither must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, the server's certificate first (e.g. Let's
    /// Encrypt's `fullchain.pem`). Default: none (plain HTTP and WebSocket).
    pub cert: Option<PathBuf>,
    /// PEM file with the certificate's private key (PKCS#8 `PRIVATE KEY`, PKCS#1
    /// `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`). Default: none.
    pub key: Option<PathBuf>,
}

/// The acceptors for each listener (they differ in ALPN only).
#[derive(Clone)]
pub(crate) struct Acceptors {
    /// HTTPS: ALPN `http/1.1` (WebSocket upgrades need HTTP/1.1).
    pub(crate) http: TlsAcceptor,
    /// STOMP over TLS: no ALPN.
    pub(crate) tcp: TlsAcceptor,
}

impl TlsConfig {
    /// Whether TLS is configured.
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some()
    }

    /// Both files or neither (no file is read).
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        match (&self.cert, &self.key) {
            (Some(_), None) => Err(invalid("tls.key", BOTH.replace("{}", "tls.cert"))),
            (None, Some(_)) => Err(invalid("tls.cert", BOTH.replace("{}", "tls.key"))),
            _ => Ok(()),
        }
    }

    /// Reads both files and checks that they make a usable certificate and key: the error
    /// names the setting and the file and says what is wrong with it.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.acceptors().map(|_| ())
    }

    /// The acceptors for these files, or `None` when TLS is off.
    pub(crate) fn acceptors(&self) -> Result<Option<Acceptors>, ConfigError> {
        self.validate()?;
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Ok(None);
        };
        let mut config = server_config(cert, key)?;
        let tcp = TlsAcceptor::from(Arc::new(config.clone()));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Acceptors {
            http: TlsAcceptor::from(Arc::new(config)),
            tcp,
        }))
    }
}

fn invalid(field: &'static str, why: String) -> ConfigError {
    ConfigError::Invalid { field, why }
}

fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| invalid(field, format!("cannot read {}: {e}", path.display())))
}

/// A rustls server configuration (ring's cryptography, TLS 1.2 and 1.3, no client
/// certificates) for a certificate chain and its key.
fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, ConfigError> {
    let chain = certificates(cert)?;
    let private_key = private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Loads the key and checks that it belongs to the first certificate.
    let certified = rustls::sign::CertifiedKey::from_der(chain, private_key, &provider).map_err(
        |e| match e {
            rustls::Error::InconsistentKeys(_) => invalid(
                "tls.key",
                format!(
                    "the key in {} does not belong to the certificate in {}",
                    key.display(),
                    cert.display()
                ),
            ),
            rustls::Error::InvalidCertificate(e) => invalid(
                "tls.cert",
                format!(
                    "the first certificate in {} cannot be used: {e}",
                    cert.display()
                ),
            ),
            e => invalid(
                "tls.key",
                format!("the key in {} cannot be used: {e}", key.display()),
            ),
        },
    )?;
    let resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_no_client_auth().with_cert_resolver(resolver))
        .map_err(|e| invalid("tls.cert", format!("no TLS version to offer: {e}")))
}

/// The certificates of a PEM file, in order.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = read("tls.cert", path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                "tls.cert",
                format!("{} is not valid PEM: {e}", path.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(invalid(
            "tls.cert",
            format!(
                "{} holds no certificate (a PEM block `-----BEGIN CERTIFICATE-----`)",
                path.display()
            ),
        ));
    }
    Ok(chain)
}

/// The first private key of a PEM file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = read("tls.key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let why = match e {
            pem::Error::NoItemsFound => format!(
                "{} holds no private key (a PEM block `-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)",
                path.display()
            ),
            e => format!("{} is not valid PEM: {e}", path.display()),
        };
        invalid("tls.key", why)
    })
}

/// Completes the server side of a TLS handshake within [`HANDSHAKE_TIMEOUT`]; `None` (logged at
/// debug level) when it fails, times out, or the server stops meanwhile.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
    stop: &CancellationToken,
) -> Option<Stream> {
    let _ = stream.set_nodelay(true);
    tokio::select! {
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match done {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(target: "stompbox::tls", "TLS handshake with {remote} failed: {error}");
                None
            }
            Err(_) => {
                tracing::debug!(
                    target: "stompbox::tls",
                    "TLS handshake with {remote} timed out after {HANDSHAKE_TIMEOUT:?}"
                );
                None
            }
        },
        () = stop.cancelled() => None,
    }
}

/// HTTPS connections for `axum::serve`: a task accepts TCP connections and runs each handshake
/// in a task of its own; those that complete wait in a channel for the server to take them.
/// The task stops when the server stops accepting (the listener is dropped) or `stop` is
/// cancelled.
pub(crate) struct Listener {
    incoming: mpsc::Receiver<(Stream, SocketAddr)>,
    local_addr: Option<SocketAddr>,
}

/// What `axum::serve` gets: [`Listener`] wrapped by `tap_io` (doing nothing), for which axum
/// provides `ConnectInfo<SocketAddr>`.
pub(crate) type Tapped = axum::serve::TapIo<Listener, fn(&mut Stream)>;

impl Listener {
    /// Starts accepting on `tcp`.
    pub(crate) fn start(
        tcp: TcpListener,
        acceptor: TlsAcceptor,
        stop: CancellationToken,
    ) -> Tapped {
        let local_addr = tcp.local_addr().ok();
        let (tx, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(accept_loop(tcp, acceptor, stop, tx));
        let listener = Listener {
            incoming,
            local_addr,
        };
        listener.tap_io(untouched as fn(&mut Stream))
    }
}

fn untouched(_: &mut Stream) {}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    stop: CancellationToken,
    tx: mpsc::Sender<(Stream, SocketAddr)>,
) {
    loop {
        let (stream, remote) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: say so and keep accepting.
                    tracing::warn!("HTTPS accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
            () = tx.closed() => return,
        };
        let (acceptor, stop, tx) = (acceptor.clone(), stop.clone(), tx.clone());
        tokio::spawn(async move {
            if let Some(stream) = handshake(&acceptor, stream, remote, &stop).await {
                // An error means the server stopped taking connections: this one is dropped.
                let _ = tx.send((stream, remote)).await;
            }
        });
    }
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Stream, SocketAddr) {
        match self.incoming.recv().await {
            Some(accepted) => accepted,
            // The accepting task has ended (the server is stopping): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local_addr
            .ok_or_else(|| io::Error::other("the HTTPS listener has no local address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(cert: Option<&str>, key: Option<&str>) -> TlsConfig {
        TlsConfig {
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
        }
    }

    fn field_and_why(config: &TlsConfig) -> (&'static str, String) {
        match config.check() {
            Err(ConfigError::Invalid { field, why }) => (field, why),
            other => panic!("{config:?}: {other:?}"),
        }
    }

    #[test]
    fn off_unless_set_and_both_are_needed() {
        assert!(!config(None, None).enabled());
        assert!(config(None, None).check().is_ok());
        assert_eq!(field_and_why(&config(Some("c.pem"), None)).0, "tls.key");
        assert_eq!(field_and_why(&config(None, Some("k.pem"))).0, "tls.cert");
    }

    #[test]
    fn a_missing_file_is_named() {
        let (field, why) = field_and_why(&config(
            Some("/nonexistent/cert.pem"),
            Some("/nonexistent/key.pem"),
        ));
        assert_eq!(field, "tls.cert");
        assert!(why.contains("/nonexistent/cert.pem"), "{why}");
    }

    #[test]
    fn a_file_that_is_not_pem_is_named() {
        // Cargo.toml: text, but no PEM block in it.
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let (field, why) = field_and_why(&config(Some(manifest), Some(manifest)));
        assert_eq!(field, "tls.cert");
        assert!(
            why.contains("holds no certificate") && why.contains(manifest),
            "{why}"
        );
    }
}
