//! A connection to Redis that goes silent without closing (a half-open TCP connection: a
//! firewall dropped it, a host vanished) is noticed by the subscriber's PING, not only at the
//! next publish; the node reconnects and topics flow again.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stompbox_cluster::ClusterConfig;
use support::{Client, Node, Redis, wait_for};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP relay to `upstream` whose existing connections can be frozen: bytes stop moving both
/// ways and nothing is closed. Connections made after a freeze relay normally.
struct Relay {
    addr: std::net::SocketAddr,
    /// Bumped by a freeze: connections born in an older generation are frozen.
    generation: Arc<AtomicU64>,
}

/// Copies `from` to `to` until either ends; once the generation moved on, swallows what comes
/// and keeps both open, like a path that went dead.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    generation: Arc<AtomicU64>,
    born: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if generation.load(Ordering::Relaxed) == born && to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    std::future::pending::<()>().await;
}

impl Relay {
    async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let generation = Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let born = current.load(Ordering::Relaxed);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, current.clone(), born));
                tokio::spawn(pump(sr, cw, current.clone(), born));
            }
        });
        Relay { addr, generation }
    }

    /// Freezes every connection made so far.
    fn freeze(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_to_redis_is_noticed_and_replaced() {
    let redis = Redis::start();
    let relay = Relay::start(redis.port).await;
    let through_relay = ClusterConfig {
        name: "ho".to_string(),
        connect_timeout: Duration::from_secs(1),
        ..ClusterConfig::new(format!("redis://{}", relay.addr))
    };
    let a = Node::start(&redis.url(), "ho").await;
    let b = Node::start_joined(through_relay, |_| {}).await;
    let mut on_b = Client::connect(b.tcp).await;
    on_b.subscribe("s", "/topic/path").await;
    let mut sender = Client::connect(a.tcp).await;
    sender.publish("/topic/path", &[], "before").await;
    assert_eq!(&on_b.recv().await.body[..], b"before");

    relay.freeze();
    wait_for("B to notice its silent subscription", || {
        !b.cluster.stats().subscriber_up
    })
    .await;
    wait_for("B to subscribe again", || b.cluster.stats().subscriber_up).await;
    // Topics from A reach B again, through a new connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sender.publish("/topic/path", &[], "after").await;
    assert_eq!(&on_b.recv().await.body[..], b"after");
    a.stop().await;
    b.stop().await;
}
