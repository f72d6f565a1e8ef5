//! The small JSON API behind the console page: live sessions, recent closes, and the close-code
//! registry. Read-only.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Value, json};
use stompbox_broker::{EventKind, SessionEvent};
use stompbox_closecode::{Lang, lookup, parse_code};

use crate::AppState;

/// How many closes `/api/closes` remembers.
const REMEMBERED_CLOSES: usize = 1000;

/// The most recent session closes, newest last; fed by a broker listener.
#[derive(Default)]
pub(crate) struct RecentCloses {
    closes: Mutex<VecDeque<Value>>,
}

impl RecentCloses {
    /// Records a disconnect event (other events are ignored).
    pub(crate) fn record(&self, event: &SessionEvent) {
        let EventKind::Disconnect {
            duration,
            status,
            server_idle,
            ..
        } = &event.kind
        else {
            return;
        };
        let record = json!({
            "id": &*event.session_id,
            "user": event.user.as_deref(),
            "transport": event.transport.as_str(),
            "remote": event.remote.map(|r| r.to_string()),
            "closedAt": timestamp(event.time),
            "durationMs": u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "serverIdleMs": u64::try_from(server_idle.as_millis()).unwrap_or(u64::MAX),
            "code": status.code,
            "reason": status.reason,
            "closedBy": status.closed_by.label(),
            "cause": status.cause,
        });
        let mut closes = self.closes.lock();
        if closes.len() == REMEMBERED_CLOSES {
            closes.pop_front();
        }
        closes.push_back(record);
    }

    fn newest(&self, limit: usize) -> Vec<Value> {
        self.closes
            .lock()
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }
}

fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) async fn sessions(State(app): State<Arc<AppState>>) -> Json<Value> {
    let sessions: Vec<Value> = app
        .broker
        .sessions()
        .into_iter()
        .map(|s| {
            json!({
                "id": &*s.id,
                "user": s.user.as_deref(),
                "transport": s.transport.as_str(),
                "remote": s.remote.map(|r| r.to_string()),
                "openedAt": timestamp(s.opened_at),
                "version": s.version.map(|v| v.as_str()),
                "subscriptions": s.subscriptions,
            })
        })
        .collect();
    Json(json!({ "sessions": sessions }))
}

pub(crate) async fn closes(
    State(app): State<Arc<AppState>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) => n.min(REMEMBERED_CLOSES),
        Some(Err(_)) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "limit: expected a whole number 0-1000" })),
            )
                .into_response();
        }
    };
    Json(json!({ "closes": app.closes.newest(limit) })).into_response()
}

/// `/api/info`: what a client page needs to know about this server instance.
pub(crate) async fn info(State(app): State<Arc<AppState>>) -> Json<Value> {
    let c = &app.config;
    Json(json!({
        "server": concat!("stompbox/", env!("CARGO_PKG_VERSION")),
        "endpoint": c.endpoint,
        "startedAt": timestamp(app.started_at),
        "instance": app.instance,
        "heartBeat": c.stomp.heart_beat,
        "sockjs": {
            "enabled": c.sockjs.enabled,
            "heartbeatMs": u64::try_from(c.sockjs.heartbeat.as_millis()).unwrap_or(u64::MAX),
            "disconnectDelayMs": u64::try_from(c.sockjs.disconnect_delay.as_millis()).unwrap_or(u64::MAX),
        },
    }))
}

#[derive(Deserialize)]
pub(crate) struct LangQuery {
    lang: Option<String>,
}

pub(crate) async fn closecode(
    Path(code): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let bad = |message: String| (StatusCode::BAD_REQUEST, Json(json!({ "error": message })));
    let lang = match query.lang.as_deref().map(str::parse::<Lang>) {
        None => Lang::En,
        Some(Ok(lang)) => lang,
        Some(Err(e)) => return bad(format!("lang: {e}")).into_response(),
    };
    let code = match parse_code(&code) {
        Ok(code) => code,
        Err(e) => return bad(e.to_string()).into_response(),
    };
    let Some(entry) = lookup(code) else {
        return bad(format!("{code} is not in the registry")).into_response();
    };
    let text = entry.text(lang);
    Json(json!({
        "code": code,
        "name": entry.name,
        "constant": entry.constant,
        "range": entry.is_range().then(|| format!("{}-{}", entry.lo, entry.hi)),
        "sender": entry.sender.label(lang),
        "onWire": stompbox_closecode::is_valid_on_wire(code),
        "meaning": text.meaning,
        "causes": text.causes,
        "fixes": text.fixes,
        "notes": entry.notes(lang),
    }))
    .into_response()
}

/// `/api/stats`: closes by code and closer, the idle-time histogram of abnormal closes, and the
/// idle timeouts detected (what `stompbox stats` prints); in a cluster, the `cluster` section
/// with every node's figures and their sum.
pub(crate) async fn stats(State(app): State<Arc<AppState>>) -> Json<Value> {
    let stats = app.broker.stats();
    let closes: Vec<Value> = stats
        .closes
        .iter()
        .map(|c| {
            json!({
                "code": c.code,
                "name": lookup(c.code).map(|e| e.name),
                "closedBy": c.closed_by.label(),
                "count": c.count,
            })
        })
        .collect();
    let analytics = app.analytics.lock();
    let (buckets, sum, count) = analytics.histogram();
    let buckets: Vec<Value> = buckets
        .into_iter()
        .map(|(le, n)| json!({ "le": if le.is_infinite() { None } else { Some(le) }, "count": n }))
        .collect();
    let findings: Vec<Value> = analytics
        .findings()
        .iter()
        .map(|f| {
            json!({
                "sessions": f.sessions,
                "idleSeconds": f.idle.as_secs_f64(),
                "adviceSeconds": f.advice().as_secs_f64(),
            })
        })
        .collect();
    drop(analytics);
    let mut body = json!({
        "sessionsOpen": stats.sessions_open,
        "sessionsOpened": stats.sessions_opened,
        "closes": closes,
        "abnormalIdle": { "buckets": buckets, "sumSeconds": sum, "count": count },
        "idleTimeouts": findings,
    });
    if let Some(cluster) = app.cluster.get() {
        body["cluster"] = cluster.stats();
    }
    Json(body)
}
