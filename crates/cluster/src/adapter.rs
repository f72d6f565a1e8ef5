//! The tokio adapter: one multiplexed Redis connection publishes this node's topic messages,
//! a dedicated pub/sub connection receives the others'. Both reconnect with [`Backoff`] and say
//! in the log when they are lost and back; messages that could not be published meanwhile are
//! counted and reported. Routing decisions live in [`crate::node`], encoding in
//! [`crate::envelope`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub};
use stompbox_broker::{Broker, MessageObserver, Outbox};
use stompbox_stomp::Header;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::gate::Gate;
use crate::node::{self, Backoff, Inbound, NodeId};
use crate::queues::{self, QueueHandle, QueueLink};
use crate::{ClusterConfig, ClusterError, envelope};

/// Messages waiting to be published; beyond this they are dropped and counted as unpublished
/// rather than buffered without bound. Client senders are paused long before (at
/// [`PUBLISH_GATE_HIGH`]); only senders that cannot be paused ([`Broker::publish`] from Rust
/// code) get here.
const PUBLISH_BACKLOG: usize = 65_536;

/// At most this many messages go to Redis in one pipeline.
const PUBLISH_BATCH: usize = 256;
/// Over this many messages waiting to be published, a sending session stops reading…
const PUBLISH_GATE_HIGH: usize = 8_192;
/// …until no more than this many are left.
const PUBLISH_GATE_LOW: usize = 4_096;

/// This node's counters, since it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterStats {
    /// Topic messages published to Redis.
    pub published: u64,
    /// Topic messages that could not be published (Redis down, or the backlog full).
    pub unpublished: u64,
    /// Other nodes' messages delivered to this node's subscribers.
    pub received: u64,
    /// This node's own messages that came back and were dropped.
    pub own_echoes: u64,
    /// Messages on the channel that were not envelopes, or named no topic.
    pub malformed: u64,
    /// Whether the publishing connection is up.
    pub publisher_up: bool,
    /// Whether the subscription is up.
    pub subscriber_up: bool,
    /// Queue messages SENT on this node and stored in Redis.
    pub queue_stored: u64,
    /// Queue messages SENT on this node that were refused (backlog full, or Redis refused).
    pub queue_refused: u64,
    /// Queue messages handed to this node's consumers (claimed ones included).
    pub queue_handed: u64,
    /// Queue messages settled (acknowledged, or delivered with `ack:auto`) in Redis.
    pub queue_settled: u64,
    /// Queue messages given back to the cluster (no consumer left here).
    pub queue_released: u64,
    /// Unacknowledged queue messages of dead nodes claimed by this node.
    pub queue_claimed: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    unpublished: AtomicU64,
    received: AtomicU64,
    own_echoes: AtomicU64,
    malformed: AtomicU64,
    publisher_up: AtomicBool,
    subscriber_up: AtomicBool,
}

/// A node's membership in a cluster. Dropping it stops its Redis tasks (the broker keeps
/// serving its own subscribers; its topic messages are then counted as unpublished).
pub struct Cluster {
    node: NodeId,
    channel: String,
    counters: Arc<Counters>,
    queue_handle: QueueHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Link {
    client: redis::Client,
    url: String,
    channel: String,
    timeout: Duration,
}

/// The Redis client for `config`: plain `redis://`, or TLS for `rediss://` (trusting
/// `config.redis_ca` when set, else the system's roots).
pub(crate) fn open_client(config: &ClusterConfig) -> Result<redis::Client, ClusterError> {
    let invalid_url = |e: redis::RedisError| ClusterError::InvalidUrl {
        url: node::redact_url(&config.redis_url),
        reason: e.to_string(),
    };
    let Some(path) = &config.redis_ca else {
        return redis::Client::open(config.redis_url.as_str()).map_err(invalid_url);
    };
    let invalid_ca = |reason: String| ClusterError::InvalidCa {
        path: path.display().to_string(),
        reason,
    };
    if !config.redis_url.starts_with("rediss://") {
        return Err(invalid_ca(
            "a CA file is for rediss:// (TLS) URLs only".to_string(),
        ));
    }
    let pem = std::fs::read(path).map_err(|e| invalid_ca(e.to_string()))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(invalid_ca("no PEM certificate in it".to_string()));
    }
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(config.redis_url.as_str(), certificates).map_err(invalid_url)
}

/// A multiplexed connection that gives up connecting after `timeout` and waits at most
/// `timeout + longest_command` for an answer (a blocking read takes up to `longest_command`).
pub(crate) async fn connect(
    client: &redis::Client,
    timeout: Duration,
    longest_command: Duration,
) -> Result<MultiplexedConnection, redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout + longest_command));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Tries `attempt` with backoff (100 ms doubling to 5 s) until it succeeds; failures are
/// logged at debug level.
pub(crate) async fn retry<T, E, Fut>(url: &str, mut attempt: impl FnMut() -> Fut) -> T
where
    E: std::fmt::Display,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new();
    loop {
        tokio::time::sleep(backoff.next_delay()).await;
        match attempt().await {
            Ok(done) => return done,
            Err(e) => tracing::debug!("cluster: Redis at {url} still unreachable: {e}"),
        }
    }
}

impl Link {
    async fn publisher(&self) -> Result<MultiplexedConnection, String> {
        connect(&self.client, self.timeout, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())
    }

    async fn subscriber(&self) -> Result<PubSub, String> {
        let attempt = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

impl Cluster {
    /// Connects to Redis (both connections, subscribed before this returns), then forwards the
    /// broker's topic messages to the other nodes and theirs to the broker's subscribers. Needs
    /// a tokio runtime.
    pub async fn start(config: &ClusterConfig, broker: Broker) -> Result<Cluster, ClusterError> {
        let url = node::redact_url(&config.redis_url);
        node::check_cluster_name(&config.name).map_err(|why| ClusterError::InvalidName {
            name: config.name.clone(),
            why,
        })?;
        let client = open_client(config)?;
        let link = Arc::new(Link {
            client,
            url: url.clone(),
            channel: node::topic_channel(&config.name),
            timeout: config.connect_timeout,
        });
        let unreachable = |what, reason| ClusterError::Unreachable {
            url: url.clone(),
            what,
            reason,
        };
        let publisher = link
            .publisher()
            .await
            .map_err(|r| unreachable("publish", r))?;
        let subscriber = link
            .subscriber()
            .await
            .map_err(|r| unreachable("subscribe", r))?;
        let node = NodeId::random();
        let queue_link = Arc::new(QueueLink {
            client: link.client.clone(),
            url: url.clone(),
            cluster: config.name.clone(),
            node: node.clone(),
            timeout: config.connect_timeout,
            node_timeout: config.node_timeout,
        });
        let queues_unreachable = |e: redis::RedisError| unreachable("queues", e.to_string());
        let queue_writer = queue_link.connect().await.map_err(queues_unreachable)?;
        let queue_reader = queue_link.connect().await.map_err(queues_unreachable)?;

        // Every connection is up: now the broker's hooks.
        let counters = Arc::new(Counters::default());
        counters.publisher_up.store(true, Ordering::Relaxed);
        counters.subscriber_up.store(true, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PUBLISH_BACKLOG);
        let backlog = Gate::new(PUBLISH_GATE_HIGH, PUBLISH_GATE_LOW);
        let forwarder = Forwarder {
            node: node.clone(),
            tx,
            counters: counters.clone(),
            backlog: backlog.clone(),
        };
        if !broker.observe_messages(forwarder) {
            return Err(ClusterError::AlreadyJoined);
        }
        let Some((queue_handle, mut tasks)) =
            queues::start(queue_link, &broker, queue_writer, queue_reader)
        else {
            return Err(ClusterError::AlreadyJoined);
        };
        tasks.extend([
            tokio::spawn(publish_loop(
                link.clone(),
                publisher,
                rx,
                counters.clone(),
                backlog,
            )),
            tokio::spawn(subscribe_loop(
                link.clone(),
                subscriber,
                broker,
                node.clone(),
                counters.clone(),
            )),
        ]);
        tracing::info!(
            "cluster: node {node} joined `{}` through Redis at {url} (channel {})",
            config.name,
            link.channel
        );
        Ok(Cluster {
            node,
            channel: link.channel.clone(),
            counters,
            queue_handle,
            tasks,
        })
    }

    /// This node's id.
    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The Redis channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Leaves the cluster cleanly, after the server closed its sessions: waits at most `within`
    /// for the queue writes they caused (messages given back, settlements), then removes this
    /// node's liveness key so the other nodes claim at once what it still held. Returns how many
    /// writes were not done in time (their messages are claimed after the node timeout).
    pub async fn leave(&self, within: Duration) -> usize {
        self.queue_handle.leave(within).await
    }

    /// The counters so far.
    pub fn stats(&self) -> ClusterStats {
        let (c, q) = (&self.counters, self.queue_handle.counters());
        ClusterStats {
            published: c.published.load(Ordering::Relaxed),
            unpublished: c.unpublished.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            own_echoes: c.own_echoes.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            publisher_up: c.publisher_up.load(Ordering::Relaxed),
            subscriber_up: c.subscriber_up.load(Ordering::Relaxed),
            queue_stored: q.stored.load(Ordering::Relaxed),
            queue_refused: q.refused.load(Ordering::Relaxed),
            queue_handed: q.handed.load(Ordering::Relaxed),
            queue_settled: q.settled.load(Ordering::Relaxed),
            queue_released: q.released.load(Ordering::Relaxed),
            queue_claimed: q.claimed.load(Ordering::Relaxed),
        }
    }
}

/// The broker's observer: encodes each topic message once and queues it for the publisher.
struct Forwarder {
    node: NodeId,
    tx: mpsc::Sender<Bytes>,
    counters: Arc<Counters>,
    /// Messages queued for the publisher; senders pause while too many are.
    backlog: Arc<Gate>,
}

impl MessageObserver for Forwarder {
    fn on_message(
        &self,
        destination: &str,
        headers: &[Header],
        body: &Bytes,
    ) -> Option<Arc<dyn Outbox>> {
        let queued = envelope::encode(self.node.as_str(), destination, headers, body)
            .map_err(|e| tracing::warn!("cluster: {destination}: not forwarded: {e}"))
            .and_then(|payload| self.tx.try_send(payload).map_err(|_| ()));
        match queued {
            Ok(()) => {
                self.backlog.add();
                self.backlog.if_congested()
            }
            Err(()) => {
                self.counters.unpublished.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

async fn publish_loop(
    link: Arc<Link>,
    mut conn: MultiplexedConnection,
    mut rx: mpsc::Receiver<Bytes>,
    counters: Arc<Counters>,
    backlog: Arc<Gate>,
) {
    let mut batch = Vec::new();
    loop {
        // Up: publish each message once; what queued up meanwhile goes in one pipeline.
        let (error, failed) = loop {
            if rx.recv_many(&mut batch, PUBLISH_BATCH).await == 0 {
                return;
            }
            let mut pipe = redis::pipe();
            for payload in &batch {
                pipe.cmd("PUBLISH")
                    .arg(&link.channel)
                    .arg(payload.as_ref())
                    .ignore();
            }
            let sent: Result<(), _> = pipe.query_async(&mut conn).await;
            let n = batch.len() as u64;
            backlog.done(batch.len());
            batch.clear();
            match sent {
                Ok(()) => counters.published.fetch_add(n, Ordering::Relaxed),
                // Whether any of the batch got through is unknown: counted as lost.
                Err(e) => break (e, n),
            };
        };
        counters.publisher_up.store(false, Ordering::Relaxed);
        let lost_before = counters.unpublished.load(Ordering::Relaxed);
        counters.unpublished.fetch_add(failed, Ordering::Relaxed);
        tracing::warn!(
            "cluster: Redis at {} lost for publishing ({error}); serving this node's subscribers only, reconnecting",
            link.url
        );
        // Down: count what cannot be published, retry with backoff.
        let mut backoff = Backoff::new();
        conn = loop {
            let wait = tokio::time::sleep(backoff.next_delay());
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    next = rx.recv() => match next {
                        Some(_) => {
                            backlog.done(1);
                            counters.unpublished.fetch_add(1, Ordering::Relaxed);
                        }
                        None => return,
                    },
                }
            }
            match link.publisher().await {
                Ok(conn) => break conn,
                Err(e) => tracing::debug!("cluster: Redis at {} still unreachable: {e}", link.url),
            }
        };
        counters.publisher_up.store(true, Ordering::Relaxed);
        let lost = counters.unpublished.load(Ordering::Relaxed) - lost_before;
        tracing::warn!(
            "cluster: Redis at {} back for publishing; {lost} topic message(s) could not be published while it was down (other nodes never got them)",
            link.url
        );
    }
}

async fn subscribe_loop(
    link: Arc<Link>,
    mut pubsub: PubSub,
    broker: Broker,
    node: NodeId,
    counters: Arc<Counters>,
) {
    loop {
        let why = receive(&link, pubsub, &broker, &node, &counters).await;
        counters.subscriber_up.store(false, Ordering::Relaxed);
        tracing::warn!(
            "cluster: Redis at {} lost for subscribing ({why}); other nodes' topic messages do not reach this node until it is back, reconnecting",
            link.url
        );
        pubsub = retry(&link.url, || link.subscriber()).await;
        counters.subscriber_up.store(true, Ordering::Relaxed);
        tracing::warn!(
            "cluster: Redis at {} back; resubscribed to {} (messages other nodes published meanwhile are lost)",
            link.url,
            link.channel
        );
    }
}

/// Delivers the channel's messages until the connection is lost — closed, or silent: a PING
/// every `timeout` must be answered within `timeout` (a half-open connection would otherwise
/// look like a quiet channel for ever). Returns why it ended.
async fn receive(
    link: &Link,
    pubsub: PubSub,
    broker: &Broker,
    node: &NodeId,
    counters: &Counters,
) -> String {
    let (mut sink, mut messages) = pubsub.split();
    let mut keepalive = tokio::time::interval(link.timeout);
    keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    keepalive.tick().await;
    loop {
        tokio::select! {
            msg = messages.next() => match msg {
                Some(msg) => {
                    let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
                    deliver(&payload, broker, node, counters);
                }
                None => return "connection closed".to_string(),
            },
            _ = keepalive.tick() => {
                match tokio::time::timeout(link.timeout, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e.to_string(),
                    Err(_) => {
                        return format!("no answer to PING within {:?}", link.timeout);
                    }
                }
            }
        }
    }
}

/// One message from the channel: another node's goes to this node's subscribers.
fn deliver(payload: &Bytes, broker: &Broker, node: &NodeId, counters: &Counters) {
    let envelope = match envelope::decode(payload) {
        Ok(e) => e,
        Err(e) => {
            counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("cluster: ignoring a message on the channel: {e}");
            return;
        }
    };
    match node::classify(&envelope, node) {
        Inbound::OwnEcho => {
            counters.own_echoes.fetch_add(1, Ordering::Relaxed);
        }
        Inbound::Deliver => {
            match broker.deliver_remote(&envelope.destination, envelope.headers, envelope.body) {
                Ok(()) => counters.received.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::debug!("cluster: message from node {}: {e}", envelope.origin);
                    counters.malformed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
    }
}
