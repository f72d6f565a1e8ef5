//! The seam between the server and a cluster it is part of: the server shows what a
//! [`ClusterView`] knows (the `cluster` section of `/api/stats`, `stompbox_cluster_*` series
//! in `/metrics`) and lends its close analytics through [`LocalAnalytics`] so the cluster can
//! share them. The server knows nothing of Redis or of how nodes talk; the binary wires a
//! cluster in with [`Server::set_cluster_view`].

use std::sync::Arc;

use parking_lot::Mutex;
use stompbox_broker::CloseAnalytics;

use crate::Server;

/// What a node knows of its cluster, for the HTTP endpoints. Called on every request to
/// `/api/stats` and `/metrics`: answer from a cache, never wait for the network.
pub trait ClusterView: Send + Sync {
    /// The `cluster` section of `/api/stats`.
    fn stats(&self) -> serde_json::Value;

    /// Appends the cluster's series to the `/metrics` text (Prometheus exposition format,
    /// with `# HELP` and `# TYPE` lines).
    fn render_metrics(&self, out: &mut String);
}

/// Read access to this server's close analytics (the idle-time histogram of abnormal closes and
/// the idle timeouts detected), as `/api/stats` shows them.
#[derive(Clone)]
pub struct LocalAnalytics(Arc<Mutex<CloseAnalytics>>);

impl std::fmt::Debug for LocalAnalytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAnalytics").finish_non_exhaustive()
    }
}

impl LocalAnalytics {
    /// Runs `f` on the analytics (under their lock: keep it short).
    pub fn read<R>(&self, f: impl FnOnce(&CloseAnalytics) -> R) -> R {
        f(&self.0.lock())
    }
}

impl Server {
    /// This server's close analytics.
    pub fn close_analytics(&self) -> LocalAnalytics {
        LocalAnalytics(self.app.analytics.clone())
    }

    /// Shows `view` in `/api/stats` and `/metrics`. Only the first view set counts; returns
    /// whether this one was taken.
    pub fn set_cluster_view(&self, view: Arc<dyn ClusterView>) -> bool {
        self.app.cluster.set(view).is_ok()
    }
}
