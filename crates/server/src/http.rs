//! The HTTP side: the STOMP WebSocket endpoint, `/healthz` and Prometheus `/metrics`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::endpoint::Kind;
use crate::{AppState, api, assets, sockjs};

pub(crate) fn router(app: Arc<AppState>) -> Router {
    let mount = Arc::new(sockjs::Mount {
        app: app.clone(),
        prefix: app.config.endpoint.clone(),
        config: app.config.sockjs.clone(),
        registry: app.sockjs.clone(),
        kind: Kind::Stomp(app.broker.clone()),
    });
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/info", get(api::info))
        .route("/api/stats", get(api::stats))
        .route("/api/sessions", get(api::sessions))
        .route("/api/closes", get(api::closes))
        .route("/api/closecodes/{code}", get(api::closecode))
        .with_state(app)
        .merge(assets::routes())
        .merge(sockjs::routes(mount))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let stats = app.broker.stats();
            let mut text = render_metrics(&stats);
            app.gate.render_metrics(&mut text, stats.sessions_refused);
            app.send_limits.render_metrics(&mut text);
            render_analytics(&mut text, &app.analytics.lock());
            render_process(&mut text);
            if let Some(cluster) = app.cluster.get() {
                cluster.render_metrics(&mut text);
            }
            if let Some(registry) = &app.sockjs {
                let _ = writeln!(
                    text,
                    "# HELP stompbox_sockjs_sessions SockJS HTTP sessions held (open, or closed and still answering).\n# TYPE stompbox_sockjs_sessions gauge\nstompbox_sockjs_sessions {}",
                    registry.len()
                );
            }
            text
        },
    )
}

/// The standard Prometheus process metrics: resident memory (VmRSS of /proc/self/status) and
/// CPU time (utime + stime of /proc/self/stat, in USER_HZ = 100 ticks per second). Left out
/// where /proc is missing.
fn render_process(out: &mut String) {
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
    if let Some(kb) = rss_kb {
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            kb * 1024
        );
    }
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
            let mut fields = s.get(s.rfind(')')? + 1..)?.split_whitespace().skip(11);
            let utime = fields.next()?.parse::<u64>().ok()?;
            Some(utime + fields.next()?.parse::<u64>().ok()?)
        });
    if let Some(ticks) = ticks {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            ticks as f64 / 100.0
        );
    }
}

/// Prometheus text exposition of the broker's counters.
pub(crate) fn render_metrics(s: &stompbox_broker::BrokerStats) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "stompbox_sessions_open",
        "gauge",
        "Sessions open now.",
        s.sessions_open,
    );
    metric(
        "stompbox_sessions_opened_total",
        "counter",
        "Sessions opened since start.",
        s.sessions_opened,
    );
    metric(
        "stompbox_subscriptions",
        "gauge",
        "Subscriptions held now.",
        s.subscriptions as u64,
    );
    metric(
        "stompbox_topics",
        "gauge",
        "Topic and user destinations with subscribers.",
        s.topics as u64,
    );
    metric(
        "stompbox_queues",
        "gauge",
        "Queues with consumers or pending messages.",
        s.queues as u64,
    );
    metric(
        "stompbox_queue_pending_messages",
        "gauge",
        "Queue messages waiting for a consumer.",
        s.pending_messages as u64,
    );
    metric(
        "stompbox_unacked_messages",
        "gauge",
        "Deliveries waiting for ACK or NACK.",
        s.unacked_messages as u64,
    );
    metric(
        "stompbox_messages_published_total",
        "counter",
        "Messages published.",
        s.messages_published,
    );
    metric(
        "stompbox_messages_delivered_total",
        "counter",
        "MESSAGE frames handed to sessions.",
        s.messages_delivered,
    );
    metric(
        "stompbox_frames_received_total",
        "counter",
        "STOMP frames received.",
        s.frames_received,
    );
    metric(
        "stompbox_errors_sent_total",
        "counter",
        "STOMP ERROR frames sent.",
        s.errors_sent,
    );
    metric(
        "stompbox_backpressure_pauses_total",
        "counter",
        "Times a session stopped being read until the outboxes its messages filled had drained.",
        s.backpressure_pauses,
    );
    let _ = writeln!(
        out,
        "# HELP stompbox_sessions_closed_total Sessions closed, by close code and who closed.\n# TYPE stompbox_sessions_closed_total counter"
    );
    for c in &s.closes {
        let _ = writeln!(
            out,
            "stompbox_sessions_closed_total{{code=\"{}\",closed_by=\"{}\"}} {}",
            c.code,
            c.closed_by.label(),
            c.count
        );
    }
    out
}

/// The idle-time histogram of abnormal closes and the number of idle-timeout findings.
fn render_analytics(out: &mut String, analytics: &stompbox_broker::CloseAnalytics) {
    let name = "stompbox_abnormal_close_server_idle_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Server silence before sessions ended without a Close frame (1006, lost SockJS receivers).\n# TYPE {name} histogram"
    );
    let (buckets, sum, count) = analytics.histogram();
    for (bound, n) in buckets {
        let le = if bound.is_infinite() {
            "+Inf".to_string()
        } else {
            format!("{bound}")
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    let _ = writeln!(
        out,
        "# HELP stompbox_idle_timeout_findings_total Idle timeouts detected on the path to clients.\n# TYPE stompbox_idle_timeout_findings_total counter\nstompbox_idle_timeout_findings_total {}",
        analytics.findings().len()
    );
}
