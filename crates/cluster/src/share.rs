//! Close analytics shared between the nodes of a cluster: what each node writes to Redis (its
//! [`NodeStats`], the figures of its own `/api/stats`), how the nodes' snapshots are read back
//! and summed into the cluster's ([`ClusterTotals`]), the [`ClusterReport`] a node serves, and
//! the `stompbox_cluster_*` Prometheus series. Pure functions and data, no I/O and no clock:
//! the Redis side is [`crate::StatsShare`].
//!
//! Each node writes its snapshot under [`node_key`] with a time to live of a few intervals and
//! adds its id to the set [`nodes_key`]; a node that stops writing (killed, or cut off from
//! Redis) drops out of every node's report once its key expires. Counts are since each node
//! started: a node that leaves takes its closes out of the cluster's totals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stompbox_broker::{BrokerStats, CloseAnalytics, IdleTimeoutFinding};

use crate::{ClusterStats, NodeId};

/// How often a node writes its snapshot and reads the others'. Default: 2 s.
pub const SHARE_INTERVAL: Duration = Duration::from_secs(2);

/// A snapshot lives this many intervals in Redis: a node missing two writes in a row is still
/// shown, one that stopped is gone after three.
pub const TTL_INTERVALS: u32 = 3;

/// The snapshot format written to Redis; other formats are skipped as malformed.
const FORMAT: u32 = 1;

/// The Redis key of one node's snapshot: `stompbox:<cluster name>:node:<node id>`.
pub fn node_key(cluster: &str, node: &str) -> String {
    format!("stompbox:{cluster}:node:{node}")
}

/// The Redis set of the ids of the nodes that wrote a snapshot: `stompbox:<cluster name>:nodes`.
pub fn nodes_key(cluster: &str) -> String {
    format!("stompbox:{cluster}:nodes")
}

/// How long a snapshot written every `interval` lives in Redis.
pub fn ttl(interval: Duration) -> Duration {
    interval * TTL_INTERVALS
}

/// Sessions closed with one code, by one closer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseEntry {
    /// The close code.
    pub code: u16,
    /// Its name in the close-code registry, if it has one.
    pub name: Option<String>,
    /// Who closed: `client`, `server` or `none` (abnormal).
    pub closed_by: String,
    /// How many sessions.
    pub count: u64,
}

/// One bucket of a cumulative histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound in seconds; `None` is +Inf.
    pub le: Option<f64>,
    /// Closes at or under the bound (cumulative).
    pub count: u64,
}

/// Server silence before the sessions that ended without a Close frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleHistogram {
    /// Cumulative buckets, +Inf last.
    pub buckets: Vec<Bucket>,
    /// Sum of the idle times, in seconds.
    pub sum_seconds: f64,
    /// How many abnormal closes.
    pub count: u64,
}

/// An idle timeout a node detected on the path to its clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// How many abnormal closes share this idle time.
    pub sessions: usize,
    /// Their mean server idle time, in seconds.
    pub idle_seconds: f64,
    /// The heartbeat to stay under, in seconds.
    pub advice_seconds: f64,
}

/// An idle timeout seen by one or more nodes (findings of about the same idle time merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFinding {
    /// The nodes that detected it.
    pub nodes: Vec<String>,
    /// How many abnormal closes, over those nodes.
    pub sessions: usize,
    /// Their mean server idle time, in seconds.
    pub idle_seconds: f64,
    /// The heartbeat to stay under, in seconds.
    pub advice_seconds: f64,
}

/// One node's close analytics: what it writes to Redis, and what the others show of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// The node's id.
    pub node: String,
    /// Its HTTP listen address, if known.
    pub listen: Option<String>,
    /// When it wrote this, in milliseconds since the Unix epoch (its clock).
    pub time_ms: u64,
    /// Sessions open on it now.
    pub sessions_open: u64,
    /// Sessions it opened since it started.
    pub sessions_opened: u64,
    /// Its closed sessions by code and closer.
    pub closes: Vec<CloseEntry>,
    /// Its abnormal closes by server idle time.
    pub abnormal_idle: IdleHistogram,
    /// The idle timeouts it detected.
    pub idle_timeouts: Vec<Finding>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl NodeStats {
    /// The snapshot of this node's broker counters and close analytics at `now`.
    pub fn from_local(
        node: &NodeId,
        listen: Option<SocketAddr>,
        now: SystemTime,
        stats: &BrokerStats,
        analytics: &CloseAnalytics,
    ) -> NodeStats {
        let (buckets, sum_seconds, count) = analytics.histogram();
        NodeStats {
            node: node.as_str().to_string(),
            listen: listen.map(|a| a.to_string()),
            time_ms: unix_ms(now),
            sessions_open: stats.sessions_open,
            sessions_opened: stats.sessions_opened,
            closes: stats
                .closes
                .iter()
                .map(|c| close_entry(c.code, c.closed_by.label(), c.count))
                .collect(),
            abnormal_idle: IdleHistogram {
                buckets: buckets
                    .into_iter()
                    .map(|(le, count)| Bucket {
                        le: le.is_finite().then_some(le),
                        count,
                    })
                    .collect(),
                sum_seconds,
                count,
            },
            idle_timeouts: analytics
                .findings()
                .iter()
                .map(|f| Finding {
                    sessions: f.sessions,
                    idle_seconds: f.idle.as_secs_f64(),
                    advice_seconds: f.advice().as_secs_f64(),
                })
                .collect(),
        }
    }
}

fn close_entry(code: u16, closed_by: &str, count: u64) -> CloseEntry {
    CloseEntry {
        code,
        name: stompbox_closecode::lookup(code).map(|e| e.name.to_string()),
        closed_by: closed_by.to_string(),
        count,
    }
}

/// Why a value read from Redis is not a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// Not the JSON of a snapshot.
    #[error("not a node snapshot: {0}")]
    NotJson(#[from] serde_json::Error),
    /// A snapshot in a format this version does not know (a newer node).
    #[error("snapshot format {0}, this node reads format {FORMAT}")]
    UnknownFormat(u32),
}

#[derive(Serialize)]
struct WireOut<'a> {
    format: u32,
    #[serde(flatten)]
    stats: &'a NodeStats,
}

#[derive(Deserialize)]
struct WireIn {
    format: u32,
    #[serde(flatten)]
    stats: NodeStats,
}

/// The bytes a node writes to Redis: its snapshot as JSON, with a format number.
pub fn encode(stats: &NodeStats) -> Vec<u8> {
    let wire = WireOut {
        format: FORMAT,
        stats,
    };
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// A snapshot read from Redis.
pub fn decode(bytes: &[u8]) -> Result<NodeStats, ShareError> {
    let wire: WireIn = serde_json::from_slice(bytes)?;
    if wire.format != FORMAT {
        return Err(ShareError::UnknownFormat(wire.format));
    }
    Ok(wire.stats)
}

/// What one read of the cluster's snapshots gave.
#[derive(Debug, Default)]
pub struct Collected {
    /// The live nodes' snapshots (this node's own fresh one included), sorted by node id.
    pub nodes: Vec<NodeStats>,
    /// Ids in the set whose snapshot expired: to be removed from it.
    pub gone: Vec<String>,
    /// Ids whose snapshot could not be read, and why.
    pub malformed: Vec<(String, ShareError)>,
}

/// Sorts the values MGET returned for the ids of the set: this node's own entry is replaced by
/// its fresh snapshot `mine` (and added if the set lost it).
pub fn collect(mine: &NodeStats, ids: &[String], values: Vec<Option<Vec<u8>>>) -> Collected {
    let mut out = Collected::default();
    for (id, value) in ids.iter().zip(values) {
        if *id == mine.node {
            continue;
        }
        match value.map(|bytes| decode(&bytes)) {
            None => out.gone.push(id.clone()),
            Some(Ok(stats)) => out.nodes.push(stats),
            Some(Err(e)) => out.malformed.push((id.clone(), e)),
        }
    }
    out.nodes.push(mine.clone());
    out.nodes.sort_by(|a, b| a.node.cmp(&b.node));
    out
}

/// The cluster's figures: every live node's summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterTotals {
    /// Live nodes.
    pub nodes: usize,
    /// Sessions open on all of them.
    pub sessions_open: u64,
    /// Sessions they opened since they started.
    pub sessions_opened: u64,
    /// Closed sessions by code and closer, summed.
    pub closes: Vec<CloseEntry>,
    /// Abnormal closes by server idle time, bucket by bucket.
    pub abnormal_idle: IdleHistogram,
    /// The idle timeouts the nodes detected, those of about the same idle time merged.
    pub idle_timeouts: Vec<ClusterFinding>,
}

/// Sums the nodes' snapshots. Histogram buckets are summed by bound (nodes of one version
/// share the bounds).
pub fn aggregate(nodes: &[NodeStats]) -> ClusterTotals {
    let mut closes: BTreeMap<(u16, &str), u64> = BTreeMap::new();
    // Bounds keyed by their bits (same order as the values for non-negative floats); +Inf last.
    let mut buckets: BTreeMap<(bool, u64), u64> = BTreeMap::new();
    let mut totals = ClusterTotals {
        nodes: nodes.len(),
        ..ClusterTotals::default()
    };
    for n in nodes {
        totals.sessions_open += n.sessions_open;
        totals.sessions_opened += n.sessions_opened;
        for c in &n.closes {
            *closes.entry((c.code, c.closed_by.as_str())).or_default() += c.count;
        }
        for b in &n.abnormal_idle.buckets {
            let key = (b.le.is_none(), b.le.map_or(0, f64::to_bits));
            *buckets.entry(key).or_default() += b.count;
        }
        totals.abnormal_idle.sum_seconds += n.abnormal_idle.sum_seconds;
        totals.abnormal_idle.count += n.abnormal_idle.count;
    }
    totals.closes = closes
        .into_iter()
        .map(|((code, by), count)| close_entry(code, by, count))
        .collect();
    totals.abnormal_idle.buckets = buckets
        .into_iter()
        .map(|((inf, bits), count)| Bucket {
            le: (!inf).then(|| f64::from_bits(bits)),
            count,
        })
        .collect();
    totals.idle_timeouts = merge_findings(nodes);
    totals
}

/// Idle times this close count as one: 5 % or 0.75 s, whichever is larger (the broker's rule
/// for telling one idle timeout from another).
fn tolerance(idle: f64) -> f64 {
    (idle * 0.05).max(0.75)
}

/// The nodes' findings, shortest idle time first; findings of about the same idle time (a
/// proxy timeout in front of several nodes) become one, with the sessions summed and the idle
/// time averaged over them.
fn merge_findings(nodes: &[NodeStats]) -> Vec<ClusterFinding> {
    let mut all: Vec<(&str, &Finding)> = nodes
        .iter()
        .flat_map(|n| n.idle_timeouts.iter().map(move |f| (n.node.as_str(), f)))
        .collect();
    all.sort_by(|a, b| a.1.idle_seconds.total_cmp(&b.1.idle_seconds));
    let mut merged: Vec<ClusterFinding> = Vec::new();
    for (node, f) in all {
        match merged.last_mut() {
            Some(m) if (f.idle_seconds - m.idle_seconds).abs() <= tolerance(m.idle_seconds) => {
                let total = m.sessions + f.sessions;
                let weight = |s: usize| s.max(1) as f64;
                m.idle_seconds = (m.idle_seconds * weight(m.sessions)
                    + f.idle_seconds * weight(f.sessions))
                    / (weight(m.sessions) + weight(f.sessions));
                m.sessions = total;
                if !m.nodes.iter().any(|n| n == node) {
                    m.nodes.push(node.to_string());
                }
            }
            _ => merged.push(ClusterFinding {
                nodes: vec![node.to_string()],
                sessions: f.sessions,
                idle_seconds: f.idle_seconds,
                advice_seconds: 0.0,
            }),
        }
    }
    for m in &mut merged {
        let finding = IdleTimeoutFinding {
            sessions: m.sessions,
            idle: Duration::from_secs_f64(m.idle_seconds.max(0.0)),
        };
        m.advice_seconds = finding.advice().as_secs_f64();
    }
    merged
}

/// What a node knows of its cluster's statistics: the `cluster` section of its `/api/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// The cluster's name.
    pub name: String,
    /// This node's id.
    pub node: String,
    /// Whether the last exchange with Redis worked; when not, `nodes` is empty and `total`
    /// absent (this node's own figures are the rest of `/api/stats`).
    pub available: bool,
    /// Why the cluster's figures are unavailable.
    pub error: Option<String>,
    /// When the snapshots were read, in milliseconds since the Unix epoch (this node's clock).
    pub read_at_ms: Option<u64>,
    /// Every live node's snapshot, sorted by node id.
    pub nodes: Vec<NodeStats>,
    /// The cluster's totals.
    pub total: Option<ClusterTotals>,
}

impl ClusterReport {
    /// Before the first exchange with Redis.
    pub fn pending(name: &str, node: &str) -> ClusterReport {
        ClusterReport::unavailable(name, node, "not read from Redis yet".to_string())
    }

    /// Redis could not be reached or answered with an error.
    pub fn unavailable(name: &str, node: &str, error: String) -> ClusterReport {
        ClusterReport {
            name: name.to_string(),
            node: node.to_string(),
            available: false,
            error: Some(error),
            read_at_ms: None,
            nodes: Vec::new(),
            total: None,
        }
    }

    /// The snapshots read at `now`, with their totals.
    pub fn read(name: &str, node: &str, nodes: Vec<NodeStats>, now: SystemTime) -> ClusterReport {
        ClusterReport {
            name: name.to_string(),
            node: node.to_string(),
            available: true,
            error: None,
            read_at_ms: Some(unix_ms(now)),
            total: Some(aggregate(&nodes)),
            nodes,
        }
    }

    /// As JSON, for `/api/stats`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Appends the `stompbox_cluster_*` series: this node's cluster counters and what it sees of
/// the cluster.
pub fn render_metrics(out: &mut String, stats: &ClusterStats, report: &ClusterReport) {
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    let counters = [
        (
            "published",
            "Topic messages this node published to Redis.",
            stats.published,
        ),
        (
            "unpublished",
            "Topic messages this node could not publish (Redis down or the backlog full).",
            stats.unpublished,
        ),
        (
            "received",
            "Other nodes' topic messages delivered to this node's subscribers.",
            stats.received,
        ),
        (
            "own_echoes",
            "This node's own topic messages that came back from Redis and were dropped.",
            stats.own_echoes,
        ),
        (
            "malformed",
            "Messages on the cluster channel that were not envelopes.",
            stats.malformed,
        ),
        (
            "queue_stored",
            "Queue messages sent on this node and stored in their Redis stream.",
            stats.queue_stored,
        ),
        (
            "queue_refused",
            "Queue messages sent on this node and refused (ERROR, 1013): Redis refused them or too many waited.",
            stats.queue_refused,
        ),
        (
            "queue_handed",
            "Queue messages from Redis handed to this node's consumers.",
            stats.queue_handed,
        ),
        (
            "queue_settled",
            "Queue messages settled in Redis (acknowledged, or delivered to an ack:auto subscription).",
            stats.queue_settled,
        ),
        (
            "queue_released",
            "Queue messages this node gave back to Redis (no consumer of the queue left here).",
            stats.queue_released,
        ),
        (
            "queue_claimed",
            "Unacknowledged queue messages of dead nodes claimed by this node.",
            stats.queue_claimed,
        ),
    ];
    for (name, help, value) in counters {
        metric(
            &format!("stompbox_cluster_{name}_total"),
            "counter",
            help,
            value,
        );
    }
    let gauges = [
        (
            "publisher_up",
            "Whether this node's publishing connection to Redis is up (1) or not (0).",
            u64::from(stats.publisher_up),
        ),
        (
            "subscriber_up",
            "Whether this node's subscription on Redis is up (1) or not (0).",
            u64::from(stats.subscriber_up),
        ),
        (
            "stats_up",
            "Whether the last exchange of statistics with the other nodes through Redis worked.",
            u64::from(report.available),
        ),
        (
            "nodes",
            "Live nodes of the cluster seen at the last exchange of statistics (this one included).",
            report.nodes.len() as u64,
        ),
    ];
    for (name, help, value) in gauges {
        metric(&format!("stompbox_cluster_{name}"), "gauge", help, value);
    }
}

#[cfg(test)]
mod tests;
