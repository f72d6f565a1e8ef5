//! Wires a node's cluster membership into its server: the node's close analytics are shared
//! through Redis ([`stompbox_cluster::StatsShare`]) and what the cluster's nodes wrote shows in
//! `/api/stats` (`cluster` section) and `/metrics` (`stompbox_cluster_*`).

use std::sync::Arc;
use std::time::SystemTime;

use stompbox_cluster::{Cluster, ClusterConfig, NodeStats, StatsShare, share};
use stompbox_server::{ClusterView, Server};

/// A node's cluster membership and statistics sharing; both stop when it is dropped.
pub(crate) struct Membership {
    /// The node's membership (topics, user destinations, queues).
    pub(crate) cluster: Cluster,
    share: StatsShare,
}

impl ClusterView for Membership {
    fn stats(&self) -> serde_json::Value {
        self.share.report().to_json()
    }

    fn render_metrics(&self, out: &mut String) {
        share::render_metrics(out, &self.cluster.stats(), &self.share.report());
    }
}

/// Starts sharing `server`'s close analytics with the other nodes of `cluster` and shows the
/// cluster's in its `/api/stats` and `/metrics`. Keep the result for as long as the node runs.
pub(crate) fn share(
    cluster: Cluster,
    config: &ClusterConfig,
    server: &Server,
) -> Result<Arc<Membership>, stompbox_cluster::ClusterError> {
    let broker = server.broker().clone();
    let analytics = server.close_analytics();
    let node = cluster.node().clone();
    let listen = Some(server.local_addr());
    let me = node.clone();
    let local = move |now: SystemTime| {
        let stats = broker.stats();
        analytics.read(|a| NodeStats::from_local(&me, listen, now, &stats, a))
    };
    let share = StatsShare::start(config, node, share::SHARE_INTERVAL, local)?;
    let membership = Arc::new(Membership { cluster, share });
    server.set_cluster_view(membership.clone());
    Ok(membership)
}
