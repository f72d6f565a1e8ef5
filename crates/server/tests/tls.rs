//! TLS (`[tls]`) with a self-signed certificate made at test time: STOMP over `wss://`, HTTPS
//! routes, STOMP over TLS on the TCP listener, what a client that does not speak TLS gets,
//! graceful shutdown, and the errors for unusable certificate and key files.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use stompbox_server::{ConfigError, Server, ServerConfig, ServerError, Shutdown, TlsConfig};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};
use support::{TestServer, WAIT};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A self-signed certificate for `localhost` and its key, as PEM files in a directory of their
/// own (removed on drop).
struct Certs {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

impl Certs {
    fn new() -> Certs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "stompbox-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        let der = made.cert.der().clone();
        Certs {
            dir,
            cert,
            key,
            der,
        }
    }

    fn config(&self) -> TlsConfig {
        TlsConfig {
            cert: Some(self.cert.clone()),
            key: Some(self.key.clone()),
        }
    }

    /// A file in this directory holding `text`.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A client that trusts this certificate only, offering `alpn`.
    fn connector(&self, alpn: &[&str]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    async fn connect(&self, addr: std::net::SocketAddr, alpn: &[&str]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(WAIT, self.connector(alpn).connect(name, tcp))
            .await
            .expect("TLS handshake in time")
            .expect("TLS handshake succeeds")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_server(certs: &Certs) -> TestServer {
    let tls = certs.config();
    TestServer::start_with(move |c| {
        c.tls = tls;
        c.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

/// Reads until the peer closes (or fails, or `WAIT` passes); what arrived.
async fn read_all(io: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(WAIT, io.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// `GET path` over HTTPS with `Connection: close`: the whole response as text.
async fn https_get(certs: &Certs, server: &TestServer, path: &str) -> String {
    let mut tls = certs.connect(server.addr, &["h2", "http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.unwrap();
    String::from_utf8(read_all(&mut tls).await).unwrap()
}

/// A STOMP client over `wss://`.
struct Wss {
    ws: WebSocketStream<TlsStream<TcpStream>>,
    decoder: Decoder,
    buf: BytesMut,
}

impl Wss {
    async fn open(certs: &Certs, server: &TestServer) -> Wss {
        let tls = certs.connect(server.addr, &["http/1.1"]).await;
        let url = format!("wss://localhost:{}/test-ws", server.addr.port());
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "v12.stomp".parse().unwrap());
        let (ws, response) =
            tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, tls))
                .await
                .expect("upgrade in time")
                .expect("upgrade succeeds");
        assert_eq!(
            response.headers().get("Sec-WebSocket-Protocol").unwrap(),
            "v12.stomp"
        );
        Wss {
            ws,
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn frame(&mut self) -> Frame {
        loop {
            match self.decoder.decode(&mut self.buf).unwrap() {
                Some(Item::Frame(f)) => return f,
                Some(Item::HeartBeat) => continue,
                None => {}
            }
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
            {
                Some(Ok(Message::Text(t))) => self.buf.extend_from_slice(t.as_bytes()),
                other => panic!("expected a STOMP frame, got {other:?}"),
            }
        }
    }

    /// The code of the server's Close frame (answered: read on to the end).
    async fn close_code(mut self) -> u16 {
        let code = loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a close in time")
            {
                Some(Ok(Message::Close(Some(close)))) => break u16::from(close.code),
                Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected a Close frame, got {other:?}"),
            }
        };
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
        code
    }
}

const CONNECT: &str = "CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0";

#[tokio::test]
async fn stomp_over_wss_and_the_https_routes_then_a_graceful_restart() {
    let certs = Certs::new();
    let server = tls_server(&certs).await;
    let mut c = Wss::open(&certs, &server).await;
    c.send(CONNECT).await;
    assert_eq!(c.frame().await.command, Command::Connected);
    c.send("SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0")
        .await;
    assert_eq!(c.frame().await.command, Command::Receipt);
    // A second session publishes; the first receives over TLS.
    let mut p = Wss::open(&certs, &server).await;
    p.send(CONNECT).await;
    p.frame().await;
    p.send("SEND\ndestination:/topic/t\n\nover tls\0").await;
    let m = c.frame().await;
    assert_eq!(m.command, Command::Message);
    assert_eq!(&m.body[..], b"over tls");

    let health = https_get(&certs, &server, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("ok\n"), "{health}");
    let metrics = https_get(&certs, &server, "/metrics").await;
    assert!(metrics.contains("stompbox_sessions_open 2"), "{metrics}");
    let info = https_get(&certs, &server, "/test-ws/info").await;
    assert!(info.contains("\"websocket\":true"), "{info}");

    // Shutdown over TLS as over plain WebSocket: every session gets 1012.
    let (_, c, p) = tokio::join!(
        server.stop(Shutdown::Restart),
        c.close_code(),
        p.close_code()
    );
    assert_eq!((c, p), (1012, 1012));
}

#[tokio::test]
async fn stomp_over_tls_on_the_tcp_listener() {
    let certs = Certs::new();
    let server = tls_server(&certs).await;
    // STOMP clients offer no ALPN.
    let mut tls = certs.connect(server.tcp_addr.unwrap(), &[]).await;
    tls.write_all(
        format!(
            "{CONNECT}SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0SEND\ndestination:/topic/t\n\nhi\0"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    while frames.len() < 2 {
        if let Some(Item::Frame(f)) = decoder.decode(&mut buf).unwrap() {
            frames.push(f);
            continue;
        }
        let n = tokio::time::timeout(WAIT, tls.read_buf(&mut buf))
            .await
            .expect("in time")
            .unwrap();
        assert!(n > 0, "closed after {frames:?}");
    }
    assert_eq!(frames[0].command, Command::Connected);
    assert_eq!(frames[1].command, Command::Message);
    assert_eq!(&frames[1].body[..], b"hi");
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_dropped_and_silent_clients_hold_up_no_one() {
    let certs = Certs::new();
    let server = tls_server(&certs).await;
    // Connected, never says anything: its handshake waits in a task of its own.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // At most a TLS alert, then the end of the connection; never an HTTP answer.
    let got = read_all(&mut plain).await;
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(got.len() < 64, "{got:?}");
    // The server goes on serving.
    let health = https_get(&certs, &server, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let mut c = Wss::open(&certs, &server).await;
    c.send(CONNECT).await;
    assert_eq!(c.frame().await.command, Command::Connected);
}

/// `Server::bind` with `[tls]` set to `cert` and `key`: the setting and the reason it names.
async fn refused(cert: &Path, key: &Path) -> (&'static str, String) {
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: TlsConfig {
            cert: Some(cert.to_path_buf()),
            key: Some(key.to_path_buf()),
        },
        ..ServerConfig::default()
    };
    match Server::bind(config).await {
        Err(ServerError::Config(ConfigError::Invalid { field, why })) => (field, why),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("{} with {} was accepted", cert.display(), key.display()),
    }
}

#[tokio::test]
async fn unusable_certificate_and_key_files_are_named_with_what_is_wrong() {
    let certs = Certs::new();
    let other = Certs::new();
    let missing = certs.dir.join("missing.pem");
    let (field, why) = refused(&missing, &certs.key).await;
    assert_eq!(field, "tls.cert");
    assert!(
        why.contains("cannot read") && why.contains("missing.pem"),
        "{why}"
    );

    let (field, why) = refused(&certs.cert, &missing).await;
    assert_eq!(field, "tls.key");
    assert!(why.contains("missing.pem"), "{why}");

    let text = certs.file("notes.txt", "not a certificate\n");
    let (field, why) = refused(&text, &certs.key).await;
    assert_eq!(field, "tls.cert");
    assert!(
        why.contains("holds no certificate") && why.contains("notes.txt"),
        "{why}"
    );

    // The certificate where the key should be (a common mix-up).
    let (field, why) = refused(&certs.cert, &certs.cert).await;
    assert_eq!(field, "tls.key");
    assert!(
        why.contains("holds no private key") && why.contains("cert.pem"),
        "{why}"
    );

    let broken = certs.file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n%%% not base64 %%%\n-----END CERTIFICATE-----\n",
    );
    let (field, why) = refused(&broken, &certs.key).await;
    assert_eq!(field, "tls.cert");
    assert!(why.contains("broken.pem"), "{why}");

    // PEM, but not a certificate inside.
    let garbage = certs.file(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let (field, why) = refused(&garbage, &certs.key).await;
    assert_eq!(field, "tls.cert");
    assert!(
        why.contains("cannot be used") && why.contains("garbage.pem"),
        "{why}"
    );

    let (field, why) = refused(&certs.cert, &other.key).await;
    assert_eq!(field, "tls.key");
    assert!(why.contains("does not belong"), "{why}");
}

#[tokio::test]
async fn without_tls_the_listener_stays_plain() {
    let server = TestServer::start().await;
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let got = read_all(&mut plain).await;
    assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
}
