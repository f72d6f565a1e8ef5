//! Shared queues, the tokio adapter: every `/queue/…` message is stored in a Redis stream and
//! handed to exactly one consumer on some node, acknowledged end to end (at-least-once).
//!
//! - [`Store`] is the broker's [`SharedQueues`]: it only queues work for the tasks below and
//!   keeps the [`Ledger`] of how many messages this node may take.
//! - The writer task owns one connection and writes in batches (one pipeline per batch): XADD
//!   for a SEND (a script that refuses it when the stream holds `max_queue_depth` unsettled
//!   messages; then the sender's RECEIPT, or an ERROR), XACK and XDEL when a message is settled,
//!   a script that re-adds a message and only then settles the original to give it back. Redis
//!   unreachable: the batch waits and is retried with backoff (receipts wait too). Over
//!   [`GATE_HIGH`] messages waiting the senders are paused; only a sender that cannot be paused
//!   reaches [`WRITE_BACKLOG`], and is refused with an ERROR.
//! - The reader task owns a second connection (XREADGROUP blocks it): for the queues this node
//!   has consumers of, it first claims what dead nodes left unsettled, then reads new messages,
//!   never more than the ledger's demand.
//! - The liveness task keeps this node's key alive; when it expires (the node died, or lost
//!   Redis for longer than `node_timeout`) other nodes claim its unsettled messages, marked
//!   `redelivered`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{
    StreamClaimReply, StreamId, StreamPendingCountReply, StreamPendingReply, StreamReadOptions,
    StreamReadReply,
};
use stompbox_broker::{Broker, Outbox, SharedMessage, SharedQueues, StoreTicket};
use stompbox_stomp::Header;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::envelope;
use crate::gate::Gate;
use crate::ledger::{self, GROUP, Ledger};
use crate::node::NodeId;

/// Queue messages waiting to be written to Redis before new SENDs are refused (only senders
/// that cannot be paused get there: [`Broker::publish`] from Rust code).
pub(crate) const WRITE_BACKLOG: usize = 65_536;
/// Over this many messages waiting to be written, a sending session stops reading…
const GATE_HIGH: usize = 8_192;
/// …until no more than this many are left.
const GATE_LOW: usize = 4_096;
/// How long one XREADGROUP waits for new messages.
const READ_BLOCK: Duration = Duration::from_millis(250);
/// How often a reader looks for dead nodes' unsettled messages.
const CLAIM_EVERY: Duration = Duration::from_millis(500);

/// Queue counters since the node joined.
#[derive(Default)]
pub(crate) struct QueueCounters {
    pub(crate) stored: AtomicU64,
    pub(crate) handed: AtomicU64,
    pub(crate) settled: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) claimed: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// Where the tasks connect and what they are called.
pub(crate) struct QueueLink {
    pub(crate) client: redis::Client,
    pub(crate) url: String,
    pub(crate) cluster: String,
    pub(crate) node: NodeId,
    pub(crate) timeout: Duration,
    pub(crate) node_timeout: Duration,
}

impl QueueLink {
    pub(crate) async fn connect(&self) -> Result<MultiplexedConnection, redis::RedisError> {
        crate::adapter::connect(&self.client, self.timeout, READ_BLOCK).await
    }

    /// Connects, retrying with backoff until it works.
    async fn reconnect(&self, what: &str) -> MultiplexedConnection {
        let conn = crate::adapter::retry(&self.url, || self.connect()).await;
        tracing::warn!("cluster: Redis at {} back for {what}", self.url);
        conn
    }

    fn key(&self, queue: &str) -> String {
        ledger::queue_key(&self.cluster, queue)
    }
}

enum Write {
    Store {
        key: String,
        payload: Bytes,
        ticket: Option<StoreTicket>,
    },
    Settle {
        key: String,
        entry: Arc<str>,
    },
    Release {
        key: String,
        entry: Arc<str>,
        payload: Bytes,
        redelivered: bool,
    },
}

struct Shared {
    ledger: Mutex<Ledger>,
    wake: Notify,
    /// Writes (of every kind) sent to the writer and not yet done.
    unwritten: AtomicUsize,
    counters: QueueCounters,
    /// Queue messages waiting to be written; senders pause above [`GATE_HIGH`].
    backlog: Arc<Gate>,
}

/// The broker's [`SharedQueues`]: hands work to the tasks, never blocks. Clones share
/// everything (the reader task gives messages back through its own).
#[derive(Clone)]
pub(crate) struct Store {
    link: Arc<QueueLink>,
    tx: mpsc::UnboundedSender<Write>,
    shared: Arc<Shared>,
}

impl SharedQueues for Store {
    fn enqueue(
        &self,
        queue: &str,
        headers: &[Header],
        body: &Bytes,
        ticket: Option<StoreTicket>,
    ) -> Result<Option<Arc<dyn Outbox>>, String> {
        let refuse = |why: String| {
            self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            Err(why)
        };
        if self.shared.backlog.waiting() >= WRITE_BACKLOG {
            return refuse(format!(
                "{WRITE_BACKLOG} queue messages are waiting for Redis at {}; try again later",
                self.link.url
            ));
        }
        let payload = match envelope::encode(self.link.node.as_str(), queue, headers, body) {
            Ok(p) => p,
            Err(e) => return refuse(e.to_string()),
        };
        self.shared.backlog.add();
        let write = Write::Store {
            key: self.link.key(queue),
            payload,
            ticket,
        };
        if !self.write(write) {
            return refuse("this node has left the cluster".to_string());
        }
        Ok(self.shared.backlog.if_congested())
    }

    fn consumers(&self, queue: &str, count: usize) {
        self.shared.ledger.lock().set_consumers(queue, count);
        self.shared.wake.notify_one();
    }

    fn settled(&self, queue: &str, entry: &str) {
        self.shared.ledger.lock().done(queue, 1);
        self.write(Write::Settle {
            key: self.link.key(queue),
            entry: Arc::from(entry),
        });
        self.shared.wake.notify_one();
    }

    fn release(&self, queue: &str, messages: Vec<SharedMessage>) {
        self.shared.ledger.lock().done(queue, messages.len());
        for m in messages {
            self.give_back(queue, m);
        }
        self.shared.wake.notify_one();
    }
}

impl Store {
    /// Hands a write to the writer task; `false` once it has stopped.
    fn write(&self, w: Write) -> bool {
        self.shared.unwritten.fetch_add(1, Ordering::Relaxed);
        let sent = self.tx.send(w).is_ok();
        if !sent {
            self.shared.unwritten.fetch_sub(1, Ordering::Relaxed);
        }
        sent
    }

    /// Stores `m` again for any node (flagged if it was delivered before) and settles the
    /// original.
    fn give_back(&self, queue: &str, m: SharedMessage) {
        match envelope::encode(self.link.node.as_str(), queue, &m.headers, &m.body) {
            Ok(payload) => {
                self.write(Write::Release {
                    key: self.link.key(queue),
                    entry: m.entry,
                    payload,
                    redelivered: m.redelivered,
                });
            }
            Err(e) => tracing::warn!("cluster: {queue}: message {} dropped: {e}", m.entry),
        }
    }
}

/// What the node keeps of its queue store: enough to leave the cluster cleanly.
pub(crate) struct QueueHandle {
    link: Arc<QueueLink>,
    shared: Arc<Shared>,
    conn: MultiplexedConnection,
    /// The reader and the liveness task, stopped first when the node leaves.
    stop_first: Vec<JoinHandle<()>>,
}

impl Drop for QueueHandle {
    fn drop(&mut self) {
        for task in &self.stop_first {
            task.abort();
        }
    }
}

impl QueueHandle {
    /// The queue counters so far.
    pub(crate) fn counters(&self) -> &QueueCounters {
        &self.shared.counters
    }

    /// Waits (at most `within`) for the queue writes sent so far — messages given back by the
    /// sessions that just closed, settlements — then deletes this node's liveness key, so the
    /// other nodes claim at once whatever it still held. Returns how many writes were left.
    pub(crate) async fn leave(&self, within: Duration) -> usize {
        for task in &self.stop_first {
            task.abort();
        }
        let deadline = tokio::time::Instant::now() + within;
        let left = loop {
            let left = self.shared.unwritten.load(Ordering::Relaxed);
            if left == 0 || tokio::time::Instant::now() >= deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let key = ledger::alive_key(&self.link.cluster, self.link.node.as_str());
        let mut conn = self.conn.clone();
        let deleted: Result<i64, _> = conn.del(&key).await;
        match (left, deleted) {
            (0, Ok(_)) => tracing::info!(
                "cluster: node {} left; its queue writes are done",
                self.link.node
            ),
            (n, _) => tracing::warn!(
                "cluster: node {} left with {n} queue write(s) not done; other nodes take over its unacknowledged messages after the node timeout",
                self.link.node
            ),
        }
        left
    }
}

/// Installs the store in `broker` and starts its tasks.
pub(crate) fn start(
    link: Arc<QueueLink>,
    broker: &Broker,
    writer: MultiplexedConnection,
    reader: MultiplexedConnection,
) -> Option<(QueueHandle, Vec<JoinHandle<()>>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        ledger: Mutex::new(Ledger::default()),
        wake: Notify::new(),
        unwritten: AtomicUsize::new(0),
        counters: QueueCounters::default(),
        backlog: Gate::new(GATE_HIGH, GATE_LOW),
    });
    let store = Store {
        link: link.clone(),
        tx,
        shared: shared.clone(),
    };
    if !broker.share_queues(store.clone()) {
        return None;
    }
    let stop_first = vec![
        tokio::spawn(read_loop(link.clone(), reader, broker.clone(), store)),
        tokio::spawn(alive_loop(link.clone(), writer.clone())),
    ];
    let tasks = vec![tokio::spawn(write_loop(
        link.clone(),
        writer.clone(),
        rx,
        shared.clone(),
        broker.config().max_queue_depth,
    ))];
    let handle = QueueHandle {
        link,
        shared,
        conn: writer,
        stop_first,
    };
    Some((handle, tasks))
}

fn retryable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal()
}

/// XGROUP CREATE … MKSTREAM, once per key (an existing group is fine).
async fn ensure_group(
    conn: &mut MultiplexedConnection,
    groups: &mut HashSet<String>,
    key: &str,
) -> Result<(), redis::RedisError> {
    if groups.contains(key) {
        return Ok(());
    }
    let created: Result<(), _> = conn.xgroup_create_mkstream(key, GROUP, "0").await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => return Err(e),
        _ => {}
    }
    groups.insert(key.to_string());
    Ok(())
}

/// XADD unless the stream already holds `max_queue_depth` unsettled messages (then nil).
const BOUNDED_XADD: &str = "if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end \
     return redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])";

/// Stores a message again (flagged `r` when it was delivered before), then settles the
/// original: nothing is settled unless the new entry was written.
const GIVE_BACK: &str = "local id \
     if ARGV[3] == '1' then id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2], 'r', '1') \
     else id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2]) end \
     redis.call('XACK', KEYS[1], ARGV[4], ARGV[1]) \
     redis.call('XDEL', KEYS[1], ARGV[1]) \
     return id";

/// What became of one write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    /// The queue's stream already holds `max_queue_depth` unsettled messages.
    Full,
    /// Redis answered with an error.
    Refused(String),
}

/// Writes a batch in one pipeline; one outcome per write. `Err` only when the connection failed
/// (the batch is then retried whole).
async fn write_batch(
    conn: &mut MultiplexedConnection,
    groups: &mut HashSet<String>,
    batch: &[Write],
    max_depth: usize,
) -> Result<Vec<Outcome>, redis::RedisError> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    // Replies each write takes in the pipeline.
    let mut replies = Vec::with_capacity(batch.len());
    for w in batch {
        match w {
            Write::Store { key, payload, .. } => {
                ensure_group(conn, groups, key).await?;
                pipe.cmd("EVAL")
                    .arg(BOUNDED_XADD)
                    .arg(1)
                    .arg(key)
                    .arg(max_depth)
                    .arg(payload.as_ref());
                replies.push(1);
            }
            Write::Settle { key, entry } => {
                pipe.cmd("XACK").arg(key).arg(GROUP).arg(&**entry);
                pipe.cmd("XDEL").arg(key).arg(&**entry);
                replies.push(2);
            }
            Write::Release {
                key,
                entry,
                payload,
                redelivered,
            } => {
                ensure_group(conn, groups, key).await?;
                pipe.cmd("EVAL")
                    .arg(GIVE_BACK)
                    .arg(1)
                    .arg(key)
                    .arg(&**entry)
                    .arg(payload.as_ref())
                    .arg(if *redelivered { "1" } else { "0" })
                    .arg(GROUP);
                replies.push(1);
            }
        }
    }
    let values: Vec<redis::Value> = pipe.query_async(conn).await?;
    let mut values = values.into_iter();
    let outcomes = replies
        .into_iter()
        .map(|n| {
            let mut outcome = Outcome::Done;
            for (k, v) in values.by_ref().take(n).enumerate() {
                match v {
                    redis::Value::Nil if k == 0 => outcome = Outcome::Full,
                    redis::Value::ServerError(e) if outcome == Outcome::Done => {
                        outcome = Outcome::Refused(e.to_string());
                    }
                    _ => {}
                }
            }
            outcome
        })
        .collect();
    Ok(outcomes)
}

async fn write_loop(
    link: Arc<QueueLink>,
    mut conn: MultiplexedConnection,
    mut rx: mpsc::UnboundedReceiver<Write>,
    shared: Arc<Shared>,
    max_depth: usize,
) {
    let mut groups = HashSet::new();
    let mut batch = Vec::new();
    loop {
        if rx.recv_many(&mut batch, 512).await == 0 {
            return;
        }
        let outcomes = loop {
            match write_batch(&mut conn, &mut groups, &batch, max_depth).await {
                Ok(outcomes) => break outcomes,
                Err(e) if retryable(&e) => {
                    tracing::warn!(
                        "cluster: Redis at {} lost for queues ({e}); {} queue write(s) wait, receipts with them",
                        link.url,
                        batch.len()
                    );
                    groups.clear();
                    conn = link.reconnect("queues").await;
                }
                Err(e) => {
                    let e = e.to_string();
                    break batch.iter().map(|_| Outcome::Refused(e.clone())).collect();
                }
            }
        };
        let c = &shared.counters;
        shared.unwritten.fetch_sub(batch.len(), Ordering::Relaxed);
        for (w, outcome) in batch.drain(..).zip(outcomes) {
            match (w, outcome) {
                (Write::Store { ticket, key, .. }, outcome) => {
                    shared.backlog.done(1);
                    let why = match outcome {
                        Outcome::Done => {
                            c.stored.fetch_add(1, Ordering::Relaxed);
                            if let Some(t) = ticket {
                                t.stored();
                            }
                            continue;
                        }
                        Outcome::Full => format!(
                            "the queue is full: {max_depth} messages are not yet acknowledged (limits.max_queue_depth)"
                        ),
                        Outcome::Refused(e) => format!("Redis refused it: {e}"),
                    };
                    c.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("cluster: {key}: {why}");
                    if let Some(t) = ticket {
                        t.failed(&why);
                    }
                }
                (w, Outcome::Refused(e)) => {
                    tracing::warn!(
                        "cluster: Redis refused a queue write ({e}); the message stays unsettled and is claimed again once this node is gone"
                    );
                    drop(w);
                }
                (Write::Settle { .. }, _) => _ = c.settled.fetch_add(1, Ordering::Relaxed),
                (Write::Release { .. }, _) => _ = c.released.fetch_add(1, Ordering::Relaxed),
            }
        }
    }
}

/// Keeps `stompbox:<cluster>:alive:<node>` alive while the node runs.
async fn alive_loop(link: Arc<QueueLink>, mut conn: MultiplexedConnection) {
    let key = ledger::alive_key(&link.cluster, link.node.as_str());
    let ttl = link.node_timeout.as_millis().max(1) as u64;
    loop {
        let set: Result<(), _> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut conn)
            .await;
        if let Err(e) = set {
            tracing::debug!("cluster: liveness key not refreshed: {e}");
            if retryable(&e) {
                if let Ok(c) = link.connect().await {
                    conn = c;
                }
            }
        }
        tokio::time::sleep(link.node_timeout / 3).await;
    }
}

async fn read_loop(
    link: Arc<QueueLink>,
    mut conn: MultiplexedConnection,
    broker: Broker,
    store: Store,
) {
    let mut groups = HashSet::new();
    let mut last_claim = Instant::now() - CLAIM_EVERY;
    loop {
        let wanted = store.shared.ledger.lock().wanted();
        if wanted.is_empty() {
            let _ = tokio::time::timeout(CLAIM_EVERY, store.shared.wake.notified()).await;
            continue;
        }
        let claim = last_claim.elapsed() >= CLAIM_EVERY;
        let result = read_once(
            &link,
            &mut conn,
            &mut groups,
            &broker,
            &store,
            &wanted,
            claim,
        );
        match result.await {
            Ok(()) => {
                if claim {
                    last_claim = Instant::now();
                }
            }
            Err(e) if retryable(&e) => {
                tracing::warn!(
                    "cluster: Redis at {} lost for reading queues ({e}); reconnecting",
                    link.url
                );
                groups.clear();
                conn = link.reconnect("reading queues").await;
            }
            Err(e) => {
                // NOGROUP (the stream was deleted, e.g. Redis restarted empty): make it again.
                tracing::debug!("cluster: reading queues: {e}");
                groups.clear();
                tokio::time::sleep(READ_BLOCK).await;
            }
        }
    }
}

async fn read_once(
    link: &QueueLink,
    conn: &mut MultiplexedConnection,
    groups: &mut HashSet<String>,
    broker: &Broker,
    store: &Store,
    wanted: &[(String, usize)],
    claim: bool,
) -> Result<(), redis::RedisError> {
    let keys: Vec<String> = wanted.iter().map(|(q, _)| link.key(q)).collect();
    for key in &keys {
        ensure_group(conn, groups, key).await?;
    }
    if claim {
        for ((queue, demand), key) in wanted.iter().zip(&keys) {
            claim_dead(link, conn, broker, store, queue, key, *demand).await?;
        }
    }
    let count = wanted.iter().map(|(_, d)| *d).min().unwrap_or(1).max(1);
    let options = StreamReadOptions::default()
        .group(GROUP, link.node.as_str())
        .count(count)
        .block(READ_BLOCK.as_millis() as usize);
    let ids = vec![">"; keys.len()];
    let reply: Option<StreamReadReply> = conn.xread_options(&keys, &ids, &options).await?;
    for stream in reply.map(|r| r.keys).unwrap_or_default() {
        let Some((queue, _)) = wanted.iter().zip(&keys).find(|(_, k)| **k == stream.key) else {
            continue;
        };
        for entry in stream.ids {
            let redelivered = entry.map.contains_key("r");
            hand(broker, store, &queue.0, entry, redelivered);
        }
    }
    Ok(())
}

/// Claims the unsettled messages of `queue` held by nodes whose liveness key has expired.
async fn claim_dead(
    link: &QueueLink,
    conn: &mut MultiplexedConnection,
    broker: &Broker,
    store: &Store,
    queue: &str,
    key: &str,
    mut demand: usize,
) -> Result<(), redis::RedisError> {
    let StreamPendingReply::Data(pending) = conn.xpending(key, GROUP).await? else {
        return Ok(());
    };
    for holder in pending.consumers {
        if demand == 0 {
            break;
        }
        if holder.name == link.node.as_str() {
            continue;
        }
        let alive: bool = conn
            .exists(ledger::alive_key(&link.cluster, &holder.name))
            .await?;
        if alive {
            continue;
        }
        let held: StreamPendingCountReply = conn
            .xpending_consumer_count(key, GROUP, "-", "+", demand, &holder.name)
            .await?;
        let ids: Vec<String> = held.ids.into_iter().map(|p| p.id).collect();
        let claimed: StreamClaimReply = if ids.is_empty() {
            StreamClaimReply::default()
        } else {
            conn.xclaim(key, GROUP, link.node.as_str(), 0, &ids).await?
        };
        let n = claimed.ids.len();
        if n > 0 {
            tracing::warn!(
                "cluster: {queue}: {n} unsettled message(s) of node {} (gone) claimed by this node; delivered as redelivered",
                holder.name
            );
        }
        store
            .shared
            .counters
            .claimed
            .fetch_add(n as u64, Ordering::Relaxed);
        for entry in claimed.ids {
            hand(broker, store, queue, entry, true);
        }
        if ids.len() >= holder.pending {
            let _: Result<i64, _> = conn.xgroup_delconsumer(key, GROUP, &holder.name).await;
        }
        demand = demand.saturating_sub(n);
    }
    Ok(())
}

/// Hands one stream entry to a local consumer, or gives it back (a read that was already
/// blocked when this node's last consumer left can still return entries).
fn hand(broker: &Broker, store: &Store, queue: &str, entry: StreamId, redelivered: bool) {
    let id: Arc<str> = Arc::from(entry.id.as_str());
    let decoded = entry
        .get::<Vec<u8>>("e")
        .map(Bytes::from)
        .ok_or(envelope::EnvelopeError::Truncated("stream entry"))
        .and_then(|b| envelope::decode(&b));
    let c = &store.shared.counters;
    let envelope = match decoded {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("cluster: {queue}: entry {id} is not a stompbox message ({e}); deleted");
            store.write(Write::Settle {
                key: store.link.key(queue),
                entry: id,
            });
            return;
        }
    };
    let message = SharedMessage {
        entry: id,
        headers: envelope.headers,
        body: envelope.body,
        redelivered,
    };
    store.shared.ledger.lock().taken(queue, 1);
    match broker.deliver_shared(queue, message) {
        Ok(()) => _ = c.handed.fetch_add(1, Ordering::Relaxed),
        Err(message) => store.release(queue, vec![message]),
    }
}
