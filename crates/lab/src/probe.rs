//! The probe: how long does the path to a STOMP endpoint let an idle connection live?
//!
//! Owns one measurement: connect (through whatever proxies lie between), keep the connection
//! silent in both directions, and time the silence until something closes it — or until
//! `max_wait` — then turn that into advice: a heartbeat of at most half the measured timeout.
//! Must not print (the CLI renders [`ProbeReport::summary`] or [`ProbeReport::to_json`]).
//!
//! # Keeping the connection silent
//!
//! The probe sends `CONNECT` and nothing after it: no STOMP heart-beats, no WebSocket pings.
//! What the server sends is up to the server:
//!
//! - Raw WebSocket (`ws://…`): `CONNECT` carries `heart-beat:0,0`, so by STOMP 1.2
//!   "Heart-beating" the server sends no heart-beats either.
//! - SockJS (`http://…`): the SockJS server sends an `h` frame after 25 s of silence (the
//!   seed's Spring default), which would keep any 10 s–60 s proxy timer from ever firing. The
//!   stompbox server (like Spring) skips `h` frames for a session whose server→client STOMP
//!   heart-beat is negotiated, since those already keep the path busy. So the probe asks for
//!   one it will never see: `heart-beat:0,<max-wait + 60 s in ms>`. The server's interval is
//!   the larger of its own offer and that wish, i.e. longer than the probe waits, and no `h`
//!   is sent meanwhile. A server that keeps sending `h` regardless (or negotiates heart-beats
//!   differently) is not silent: the probe counts what arrived while it waited, and reports
//!   the longest silence the path survived instead of claiming the whole wait.
//!
//! The idle time is measured from the last message received (for `CONNECT`/`CONNECTED`, the
//! `CONNECTED`) to the moment the connection ended; the probe sends nothing in between. A TCP
//! close without a Close frame (a proxy's idle timeout, a NAT dropping state, a killed server)
//! is reported as 1006, as a browser would.
//!
//! # A server that went away
//!
//! A 1006 alone does not tell an idle cut from a server that died (SIGKILL, a crash, a node of
//! a cluster going down). So after one the probe opens one new connection to the same URL
//! ([`Recheck`]): when that gets `CONNECTED`, the endpoint is up and the cut is treated as an
//! idle timeout (heartbeat advice); when it does not, the report says the server went away
//! and gives no heartbeat advice.

use std::time::Duration;

use serde_json::json;
use stompbox_closecode::lookup;

use crate::client::{
    ABNORMAL, Client, ClientError, ConnectOptions, Event, Target, Transport, UrlError,
};

/// How the probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Give up waiting for a cut after this long of silence. Default: 130 s (a little over
    /// twice nginx's 60 s default `proxy_read_timeout`).
    pub max_wait: Duration,
    /// The `login` header, for servers that require one. Default: none.
    pub login: Option<String>,
    /// The `passcode` header. Default: none.
    pub passcode: Option<String>,
    /// Limit for connecting (handshake and `CONNECTED`). Default: 10 s.
    pub connect_timeout: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            max_wait: Duration::from_secs(130),
            login: None,
            passcode: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What can stop a probe from measuring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The URL cannot be probed (bad input: the CLI exits 2).
    #[error(transparent)]
    Url(#[from] UrlError),
    /// Connecting failed: nothing was measured.
    #[error("connecting to {url}: {error}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        error: ClientError,
    },
    /// The server sent something the client cannot read while the probe waited.
    #[error("while waiting: {0}")]
    Read(ClientError),
}

/// After a close without a Close frame: what one new connection to the same URL found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// It got `CONNECTED`: the endpoint is up, so the cut was the path's (an idle timeout).
    Answered,
    /// It failed (refused, reset, timed out, no `CONNECTED`): the server went away.
    Failed(String),
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Something closed the connection.
    Closed {
        /// From the last message received to the close.
        idle: Duration,
        /// The close code (1006: the TCP connection ended without a Close frame).
        code: u16,
        /// The close reason (for 1006: empty on EOF, the I/O error on a reset).
        reason: String,
        /// Whether a Close frame (or SockJS `c` frame) arrived.
        clean: bool,
    },
    /// Still open after `max_wait`; the probe then disconnected politely.
    Survived {
        /// How long the probe waited.
        waited: Duration,
    },
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The URL probed.
    pub url: String,
    /// Raw WebSocket or SockJS.
    pub transport: Transport,
    /// `CONNECTED`'s `session` header.
    pub session: Option<String>,
    /// The `heart-beat` header the probe sent.
    pub heart_beat_requested: (u32, u32),
    /// `CONNECTED`'s `heart-beat` header.
    pub server_heart_beat: Option<String>,
    /// The wait limit.
    pub max_wait: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// Frames, heart-beats and pings received while waiting (0 when the server kept silent).
    pub received_while_waiting: u32,
    /// The longest silence the connection survived (the whole wait, if nothing arrived).
    pub longest_silence: Duration,
    /// After a 1006: whether the endpoint still answers (`None` for other outcomes).
    pub recheck: Option<Recheck>,
}

/// Connects to `url`, keeps silent, and measures how long the idle connection lives.
pub async fn probe(url: &str, options: &ProbeOptions) -> Result<ProbeReport, ProbeError> {
    let target = Target::parse(url)?;
    let heart_beat = match target.transport() {
        Transport::WebSocket => (0, 0),
        Transport::SockJs => {
            let wish = options.max_wait + Duration::from_secs(60);
            (0, u32::try_from(wish.as_millis()).unwrap_or(u32::MAX))
        }
    };
    let connect = ConnectOptions {
        heart_beat,
        login: options.login.clone(),
        passcode: options.passcode.clone(),
        timeout: options.connect_timeout,
    };
    let mut client = Client::connect_to(&target, connect.clone())
        .await
        .map_err(|error| ProbeError::Connect {
            url: url.to_string(),
            error,
        })?;
    let session = client.session().map(str::to_string);
    let server_heart_beat = client.connected().header("heart-beat").map(str::to_string);
    let started = client.last_received();
    let deadline = tokio::time::Instant::from_std(started + options.max_wait);
    let mut received = 0u32;
    let mut longest = Duration::ZERO;
    let mut last = started;
    let outcome = loop {
        tokio::select! {
            event = client.next_event() => match event.map_err(ProbeError::Read)? {
                Event::Closed { code, reason, clean } => {
                    let idle = client.last_received().max(client.last_sent()).elapsed();
                    longest = longest.max(idle);
                    break Outcome::Closed { idle, code, reason, clean };
                }
                Event::Frame(_) | Event::Heartbeat { .. } | Event::Ping => {
                    received += 1;
                    let now = client.last_received();
                    longest = longest.max(now.saturating_duration_since(last));
                    last = now;
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                let waited = started.elapsed();
                longest = longest.max(last.elapsed());
                // Best effort: the measurement is done whatever the goodbye does.
                let _ = client.disconnect(Duration::from_secs(5)).await;
                break Outcome::Survived { waited };
            }
        }
    };
    let recheck = match &outcome {
        Outcome::Closed {
            code: ABNORMAL,
            clean: false,
            ..
        } => Some(recheck(&target, connect).await),
        _ => None,
    };
    Ok(ProbeReport {
        url: url.to_string(),
        transport: target.transport(),
        session,
        heart_beat_requested: heart_beat,
        server_heart_beat,
        max_wait: options.max_wait,
        outcome,
        received_while_waiting: received,
        longest_silence: longest,
        recheck,
    })
}

/// One new connection to the endpoint, closed politely at once when it gets `CONNECTED`.
async fn recheck(target: &Target, connect: ConnectOptions) -> Recheck {
    let connect = ConnectOptions {
        timeout: connect.timeout.min(Duration::from_secs(5)),
        ..connect
    };
    match Client::connect_to(target, connect).await {
        Ok(client) => {
            // Best effort: the endpoint answered, which is all the recheck asks.
            let _ = client.disconnect(Duration::from_secs(2)).await;
            Recheck::Answered
        }
        Err(error) => Recheck::Failed(error.to_string()),
    }
}

/// The heartbeat to configure for a path that cut an idle connection after `idle`: at most
/// half of it (the measurement rounded to 0.1 s first — to 10 ms below 1 s — so 9.998 s counts
/// as 10 s), rounded down to whole seconds from 1 s up, to 100 ms below that, to 10 ms below
/// 100 ms.
pub fn recommended_heartbeat(idle: Duration) -> Duration {
    let unit = if idle >= Duration::from_secs(1) {
        100
    } else {
        10
    };
    let measured_ms = (idle.as_millis() + unit / 2) / unit * unit;
    let half_ms = measured_ms / 2;
    let step = match half_ms {
        1000.. => 1000,
        100.. => 100,
        _ => 10,
    };
    let ms = (half_ms / step * step).max(10);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// `5 s`, `1.5 s`, `500 ms`.
fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

impl ProbeReport {
    /// The heartbeat to configure, when something cut the connection.
    pub fn recommended_heartbeat(&self) -> Option<Duration> {
        match &self.outcome {
            _ if self.server_went_away() => None,
            Outcome::Closed { idle, .. } => Some(recommended_heartbeat(*idle)),
            Outcome::Survived { .. } => None,
        }
    }

    /// Whether the connection ended because the server went away (a 1006 after which the
    /// endpoint did not take a new connection), not because of an idle timeout.
    pub fn server_went_away(&self) -> bool {
        matches!(self.recheck, Some(Recheck::Failed(_)))
    }

    /// How the connection ended, in words: `1006: no Close frame — …`.
    pub fn how(&self) -> Option<String> {
        let Outcome::Closed {
            code,
            reason,
            clean,
            ..
        } = &self.outcome
        else {
            return None;
        };
        Some(match (*code, *clean) {
            (ABNORMAL, false) if self.server_went_away() => format!(
                "{ABNORMAL}: no Close frame — the server went away: a new connection failed too"
            ),
            (ABNORMAL, false) if reason.is_empty() => format!(
                "{ABNORMAL}: no Close frame — something between you and the server closed the TCP connection"
            ),
            (ABNORMAL, false) => {
                format!("{ABNORMAL}: no Close frame — the TCP connection was reset ({reason})")
            }
            (code, clean) => {
                let name = lookup(code).map(|e| e.name).unwrap_or("unknown code");
                let by = match (clean, self.transport) {
                    (true, Transport::SockJs) => "a SockJS close frame",
                    (true, Transport::WebSocket) => "a Close frame",
                    (false, _) => "the client library",
                };
                if reason.is_empty() {
                    format!("{code} {name}, from {by}")
                } else {
                    format!("{code} {name}, from {by}: \"{reason}\"")
                }
            }
        })
    }

    /// The human-readable result (what `stompbox probe` prints).
    pub fn summary(&self) -> String {
        let mut text = match &self.outcome {
            Outcome::Closed { idle, .. } if self.server_went_away() => {
                let error = match &self.recheck {
                    Some(Recheck::Failed(error)) => error.as_str(),
                    _ => "",
                };
                format!(
                    "connection lost after {:.1} s ({}: {error}). The server was killed, crashed or is \
                     restarting — not an idle timeout, so no heartbeat advice: clients should reconnect \
                     (to another node, behind a load balancer); probe again once it is back.",
                    idle.as_secs_f64(),
                    self.how().unwrap_or_default(),
                )
            }
            Outcome::Closed { idle, .. } => {
                let heartbeat = recommended_heartbeat(*idle);
                format!(
                    "idle connection cut after {:.1} s ({}). Configure a heartbeat of at most {}: \
                     the server→client STOMP heart-beat is the larger of the server's offer and the \
                     client's wish, so keep both at or below {} ms (e.g. `stompbox serve --heart-beat {},0` \
                     and clients sending `heart-beat:…,{}`), or raise the idle timeout of what lies between \
                     (nginx: proxy_read_timeout).",
                    idle.as_secs_f64(),
                    self.how().unwrap_or_default(),
                    human(heartbeat),
                    heartbeat.as_millis(),
                    heartbeat.as_millis(),
                    heartbeat.as_millis(),
                )
            }
            Outcome::Survived { waited } => format!(
                "nothing cut the idle connection within {:.1} s (--max-wait): the path allows at least {:.0} s of silence.",
                waited.as_secs_f64(),
                self.longest_silence.as_secs_f64().floor(),
            ),
        };
        if self.received_while_waiting > 0 {
            text.push_str(&format!(
                " Note: the connection was not silent — the server sent {} message(s) while the probe waited \
                 (server heart-beat {}), so only the longest silence, {:.1} s, was measured; a server that keeps \
                 sending SockJS `h` frames or heart-beats hides any longer idle timeout.",
                self.received_while_waiting,
                self.server_heart_beat.as_deref().unwrap_or("none"),
                self.longest_silence.as_secs_f64(),
            ));
        }
        text
    }

    /// The result as JSON (what `stompbox probe --json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let (cut, idle, code, reason, clean, waited) = match &self.outcome {
            Outcome::Closed {
                idle,
                code,
                reason,
                clean,
            } => (
                true,
                Some(idle.as_secs_f64()),
                Some(*code),
                Some(reason.clone()),
                Some(*clean),
                None,
            ),
            Outcome::Survived { waited } => {
                (false, None, None, None, None, Some(waited.as_secs_f64()))
            }
        };
        json!({
            "url": self.url,
            "transport": self.transport.to_string(),
            "session": self.session,
            "heartBeatRequested": format!("{},{}", self.heart_beat_requested.0, self.heart_beat_requested.1),
            "serverHeartBeat": self.server_heart_beat,
            "maxWaitSeconds": self.max_wait.as_secs_f64(),
            "cut": cut,
            "idleSeconds": idle,
            "closeCode": code,
            "closeReason": reason,
            "cleanClose": clean,
            "closeExplained": self.how(),
            "waitedSeconds": waited,
            "receivedWhileWaiting": self.received_while_waiting,
            "longestSilenceSeconds": self.longest_silence.as_secs_f64(),
            "reachableAfterClose": self.recheck.as_ref().map(|r| *r == Recheck::Answered),
            "recheckError": match &self.recheck {
                Some(Recheck::Failed(error)) => Some(error.as_str()),
                _ => None,
            },
            "serverWentAway": self.server_went_away(),
            "recommendedHeartbeatMs": self
                .recommended_heartbeat()
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "summary": self.summary(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_is_at_most_half_the_timeout_rounded_down() {
        let ms = |m: u64| Duration::from_millis(m);
        assert_eq!(recommended_heartbeat(ms(10_003)), ms(5_000));
        assert_eq!(recommended_heartbeat(ms(9_990)), ms(5_000));
        assert_eq!(recommended_heartbeat(ms(60_000)), ms(30_000));
        assert_eq!(recommended_heartbeat(ms(3_000)), ms(1_000));
        assert_eq!(recommended_heartbeat(ms(1_000)), ms(500));
        assert_eq!(recommended_heartbeat(ms(130)), ms(60));
        assert_eq!(recommended_heartbeat(ms(0)), ms(10));
    }

    fn report(outcome: Outcome) -> ProbeReport {
        ProbeReport {
            url: "ws://127.0.0.1:8080/test-ws".into(),
            transport: Transport::WebSocket,
            session: Some("s1".into()),
            heart_beat_requested: (0, 0),
            server_heart_beat: Some("0,0".into()),
            max_wait: Duration::from_secs(130),
            outcome,
            received_while_waiting: 0,
            longest_silence: Duration::from_secs(10),
            recheck: None,
        }
    }

    #[test]
    fn a_cut_reads_like_the_seed() {
        let r = report(Outcome::Closed {
            idle: Duration::from_millis(10_004),
            code: 1006,
            reason: String::new(),
            clean: false,
        });
        assert!(
            r.summary().starts_with(
                "idle connection cut after 10.0 s (1006: no Close frame — something between you and the server closed the TCP connection). Configure a heartbeat of at most 5 s"
            ),
            "{}",
            r.summary()
        );
        let json = r.to_json();
        assert_eq!(json["closeCode"], 1006);
        assert_eq!(json["recommendedHeartbeatMs"], 5000);
        assert_eq!(json["cut"], true);
    }

    #[test]
    fn a_server_that_went_away_gets_no_heartbeat_advice() {
        let cut = Outcome::Closed {
            idle: Duration::from_millis(50),
            code: 1006,
            reason: String::new(),
            clean: false,
        };
        let gone = ProbeReport {
            recheck: Some(Recheck::Failed("Connection refused (os error 111)".into())),
            ..report(cut.clone())
        };
        assert!(gone.server_went_away());
        assert_eq!(gone.recommended_heartbeat(), None);
        let summary = gone.summary();
        assert!(
            summary.starts_with(
                "connection lost after 0.1 s (1006: no Close frame — the server went away"
            ),
            "{summary}"
        );
        assert!(summary.contains("Connection refused"), "{summary}");
        assert!(!summary.contains("Configure a heartbeat"), "{summary}");
        let json = gone.to_json();
        assert_eq!(json["closeCode"], 1006);
        assert_eq!(json["serverWentAway"], true);
        assert_eq!(json["reachableAfterClose"], false);
        assert_eq!(json["recommendedHeartbeatMs"], serde_json::Value::Null);
        // The endpoint answered again: an idle cut, with advice as before.
        let cut = ProbeReport {
            recheck: Some(Recheck::Answered),
            ..report(cut)
        };
        assert!(!cut.server_went_away());
        assert_eq!(cut.to_json()["reachableAfterClose"], true);
        assert!(cut.summary().contains("Configure a heartbeat"));
    }

    #[test]
    fn a_survivor_says_how_long_the_path_allows() {
        let r = report(Outcome::Survived {
            waited: Duration::from_secs(130),
        });
        let r = ProbeReport {
            longest_silence: Duration::from_secs(130),
            ..r
        };
        assert!(r.summary().contains("at least 130 s"), "{}", r.summary());
        assert_eq!(
            r.to_json()["recommendedHeartbeatMs"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn clean_closes_are_named() {
        let r = report(Outcome::Closed {
            idle: Duration::from_secs(20),
            code: 4408,
            reason: "no heart-beat".into(),
            clean: true,
        });
        let how = r.how().expect("closed");
        assert!(how.starts_with("4408 "), "{how}");
        assert!(
            how.ends_with("from a Close frame: \"no heart-beat\""),
            "{how}"
        );
    }
}
