//! The tokio side of [`crate::share`]: every interval, write this node's snapshot to Redis
//! with a time to live, read every live node's, and keep the [`ClusterReport`] they make for
//! `/api/stats` and `/metrics` to read without waiting. One multiplexed connection of its own;
//! when Redis fails the report says the cluster's figures are unavailable, one WARN line is
//! logged, and the next interval tries again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use redis::aio::MultiplexedConnection;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::node::{self, NodeId};
use crate::share::{self, ClusterReport, NodeStats};
use crate::{ClusterConfig, ClusterError};

/// This node's part in the cluster's statistics. Dropping it stops writing (its snapshot
/// expires from Redis a few intervals later).
pub struct StatsShare {
    report: Arc<Mutex<Arc<ClusterReport>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for StatsShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsShare").finish_non_exhaustive()
    }
}

impl Drop for StatsShare {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Link {
    client: redis::Client,
    url: String,
    name: String,
    node: NodeId,
    timeout: Duration,
    ttl_ms: u64,
}

impl Link {
    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        crate::adapter::connect(&self.client, self.timeout, Duration::ZERO)
            .await
            .map_err(|e| e.to_string())
    }
}

impl StatsShare {
    /// Starts sharing: every `interval` (normally [`share::SHARE_INTERVAL`]) `local(now)` is
    /// written to the cluster's Redis and the live nodes' snapshots read back. The first
    /// exchange starts at once; until it is done the report is "pending". Needs a tokio
    /// runtime; does not wait for Redis.
    pub fn start<F>(
        config: &ClusterConfig,
        node: NodeId,
        interval: Duration,
        local: F,
    ) -> Result<StatsShare, ClusterError>
    where
        F: Fn(SystemTime) -> NodeStats + Send + 'static,
    {
        let url = node::redact_url(&config.redis_url);
        node::check_cluster_name(&config.name).map_err(|why| ClusterError::InvalidName {
            name: config.name.clone(),
            why,
        })?;
        let client = crate::adapter::open_client(config)?;
        let interval = interval.max(Duration::from_millis(10));
        let link = Link {
            client,
            url,
            name: config.name.clone(),
            timeout: config.connect_timeout,
            ttl_ms: u64::try_from(share::ttl(interval).as_millis()).unwrap_or(u64::MAX),
            node,
        };
        let report = Arc::new(Mutex::new(Arc::new(ClusterReport::pending(
            &link.name,
            link.node.as_str(),
        ))));
        let task = tokio::spawn(share_loop(link, interval, local, report.clone()));
        Ok(StatsShare { report, task })
    }

    /// The report of the last exchange (never waits for Redis).
    pub fn report(&self) -> Arc<ClusterReport> {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn share_loop<F>(
    link: Link,
    interval: Duration,
    local: F,
    report: Arc<Mutex<Arc<ClusterReport>>>,
) where
    F: Fn(SystemTime) -> NodeStats,
{
    let mut conn = None;
    let mut down = false;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let mine = local(SystemTime::now());
        let next = match exchange(&link, &mut conn, &mine).await {
            Ok(nodes) => {
                if down {
                    down = false;
                    tracing::warn!(
                        "cluster: Redis at {} back for statistics; {} node(s) seen",
                        link.url,
                        nodes.len()
                    );
                }
                ClusterReport::read(&link.name, link.node.as_str(), nodes, SystemTime::now())
            }
            Err(error) => {
                conn = None;
                let error = format!("Redis at {} unreachable: {error}", link.url);
                if !down {
                    down = true;
                    tracing::warn!(
                        "cluster: {error}; /api/stats shows this node's figures only until it is back, retrying every {interval:?}"
                    );
                } else {
                    tracing::debug!("cluster: statistics: {error}");
                }
                ClusterReport::unavailable(&link.name, link.node.as_str(), error)
            }
        };
        *report.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}

/// One exchange: write this node's snapshot, read every live node's.
async fn exchange(
    link: &Link,
    conn: &mut Option<MultiplexedConnection>,
    mine: &NodeStats,
) -> Result<Vec<NodeStats>, String> {
    if conn.is_none() {
        *conn = Some(link.connect().await?);
    }
    let Some(conn) = conn.as_mut() else {
        return Err("no connection".to_string());
    };
    let set = share::nodes_key(&link.name);
    let key = share::node_key(&link.name, link.node.as_str());
    // The snapshot before the set: an id in the set whose key is missing has expired.
    let (ids,): (Vec<String>,) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg(&key)
        .arg(share::encode(mine))
        .arg("PX")
        .arg(link.ttl_ms)
        .ignore()
        .cmd("SADD")
        .arg(&set)
        .arg(link.node.as_str())
        .ignore()
        .cmd("PEXPIRE")
        .arg(&set)
        .arg(link.ttl_ms)
        .ignore()
        .cmd("SMEMBERS")
        .arg(&set)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    let keys: Vec<String> = ids
        .iter()
        .map(|id| share::node_key(&link.name, id))
        .collect();
    let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    let collected = share::collect(mine, &ids, values);
    for (id, e) in &collected.malformed {
        tracing::debug!("cluster: statistics of node {id} skipped: {e}");
    }
    if !collected.gone.is_empty() {
        let removed: Result<i64, _> = redis::cmd("SREM")
            .arg(&set)
            .arg(&collected.gone)
            .query_async(conn)
            .await;
        removed.map_err(|e| e.to_string())?;
    }
    Ok(collected.nodes)
}
