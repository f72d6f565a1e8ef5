//! Helpers for the cluster tests: a real `redis-server` on a free loopback port (killed on
//! drop, `redis.rs`), in-process stompbox nodes joined through it, and a raw STOMP-over-TCP client.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

mod redis;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use stompbox_broker::Broker;
use stompbox_cluster::{Cluster, ClusterConfig};
use stompbox_server::{Server, ServerConfig, Shutdown};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits, Version, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use redis::Redis;

pub const WAIT: Duration = Duration::from_secs(5);

/// One stompbox node (STOMP over TCP) joined to a cluster.
pub struct Node {
    pub tcp: SocketAddr,
    pub broker: Broker,
    pub cluster: Cluster,
    stop: Option<oneshot::Sender<Shutdown>>,
    task: Option<JoinHandle<()>>,
}

impl Node {
    pub async fn start(redis_url: &str, name: &str) -> Node {
        Node::start_with(redis_url, name, Duration::from_secs(10)).await
    }

    /// With this `node_timeout` (how soon others take over its queue messages once it died).
    pub async fn start_with(redis_url: &str, name: &str, node_timeout: Duration) -> Node {
        Node::start_custom(redis_url, name, node_timeout, |_| {}).await
    }

    /// With settings of the test's own.
    pub async fn start_custom(
        redis_url: &str,
        name: &str,
        node_timeout: Duration,
        edit: impl FnOnce(&mut ServerConfig),
    ) -> Node {
        let cluster_config = ClusterConfig {
            name: name.to_string(),
            node_timeout,
            ..ClusterConfig::new(redis_url)
        };
        Node::start_joined(cluster_config, edit).await
    }

    /// Joined with this cluster configuration.
    pub async fn start_joined(
        cluster_config: ClusterConfig,
        edit: impl FnOnce(&mut ServerConfig),
    ) -> Node {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tcp_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerConfig::default()
        };
        edit(&mut config);
        let broker = Broker::new(config.broker_config().unwrap());
        let server = Server::bind_with_broker(config, broker.clone())
            .await
            .unwrap();
        let cluster = Cluster::start(&cluster_config, broker.clone())
            .await
            .expect("joining the cluster");
        let tcp = server.tcp_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async move { rx.await.unwrap_or(Shutdown::GoingAway) })
                .await
                .unwrap();
        });
        Node {
            tcp,
            broker,
            cluster,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Dies as with SIGKILL as far as the cluster can tell: its Redis tasks and its listener
    /// stop at once, nothing is given back (its clients' connections are the test's to drop).
    pub fn kill(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Stops as `stompbox serve` does on SIGTERM: the server closes its sessions, then the node
    /// leaves the cluster; returns the queue writes not done in time.
    pub async fn stop_and_leave(mut self) -> usize {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(Shutdown::GoingAway);
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
        self.cluster.leave(WAIT).await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(Shutdown::GoingAway);
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(WAIT, task).await;
        }
    }
}

/// A STOMP 1.2 client over TCP, no heart-beats.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::connect_as(addr, None).await
    }

    /// Connected with this `login` (the default authenticator takes it as the user name).
    pub async fn connect_as(addr: SocketAddr, login: Option<&str>) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut client = Client {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits::default()),
        };
        let mut connect = Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("host", "localhost")
            .with_header("heart-beat", "0,0");
        if let Some(login) = login {
            connect.push_header("login", login);
        }
        client.send(connect).await;
        let connected = client.recv().await;
        assert_eq!(connected.command, Command::Connected, "{connected:?}");
        client
    }

    pub async fn send(&mut self, frame: Frame) {
        let bytes = encode(&frame, Version::V1_2);
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// Subscribes and waits for the receipt, so the subscription is in place.
    pub async fn subscribe(&mut self, id: &str, destination: &str) {
        self.send(
            Frame::new(Command::Subscribe)
                .with_header("id", id)
                .with_header("destination", destination)
                .with_header("receipt", "sub"),
        )
        .await;
        let receipt = self.recv().await;
        assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");
    }

    /// SEND with a receipt, waited for: the message has been routed when this returns.
    pub async fn publish(&mut self, destination: &str, headers: &[(&str, &str)], body: &str) {
        let mut frame = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("receipt", "sent")
            .with_body(body.to_string());
        for (n, v) in headers {
            frame.push_header(*n, *v);
        }
        self.send(frame).await;
        let receipt = self.recv().await;
        assert_eq!(receipt.command, Command::Receipt, "{receipt:?}");
    }

    pub async fn recv(&mut self) -> Frame {
        self.try_recv(WAIT).await.expect("a frame in time")
    }

    /// The next frame within `wait`, or `None`.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.decoder.decode(&mut self.buf).unwrap() {
                Some(Item::Frame(frame)) => return Some(frame),
                Some(Item::HeartBeat) => continue,
                None => {}
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf));
            match read.await {
                Err(_) => return None,
                Ok(Ok(0)) => panic!("connection closed"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
    }
}

/// Waits (at most [`WAIT`]) until `done` holds.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `n` SENDs without receipts (bodies "0", "1", …) from a task of its own, so that the
/// test goes on while the server stops reading; the task gives the client back.
pub fn flood(mut client: Client, destination: &str, n: usize) -> JoinHandle<Client> {
    let destination = destination.to_string();
    tokio::spawn(async move {
        for i in 0..n {
            client
                .send(
                    Frame::new(Command::Send)
                        .with_header("destination", destination.as_str())
                        .with_body(i.to_string()),
                )
                .await;
        }
        client
    })
}
