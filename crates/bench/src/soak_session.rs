//! One soak session: open, CONNECT, SUBSCRIBE, SEND (ACKing its queue deliveries) for its life,
//! then end the way its plan says. What it saw goes into the run's
//! [`Tally`](crate::soak_plan::Tally).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use stompbox_stomp::{Command, Frame, HeartBeat, Version, encode};
use tokio::time::{Instant, sleep_until, timeout};

use crate::soak_plan::{End, Ending, Outcome, Plan, Shared, To, parse_queue_body, queue_key};
use crate::soak_wire::{Dest, Framing, Got, Wire};
use crate::stomp::{ConnectParams, connect_frame};

/// How long opening a connection, or CONNECT → CONNECTED, may take: long enough for SYN
/// retransmissions (1 + 2 + 4 + 8 s) when a connect storm overflows the server's accept queue.
const STEP: Duration = Duration::from_secs(30);
/// How long the server gets to end a connection after DISCONNECT or our Close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// A drain session stops after this long without a queue message.
const DRAIN_QUIET: Duration = Duration::from_millis(1500);
/// … and after this long in any case.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// The heart-beat a session with heart-beats offers both ways, ms.
pub(crate) const HEARTBEAT_MS: u32 = 1000;

/// Why a session stopped early.
enum Stop {
    /// The server ended the connection (its Close code and reason, if any).
    Server(Option<(u16, String)>),
    /// The client gave up.
    Client(String),
}

/// What an outstanding receipt was for.
enum Pending {
    Other,
    Queue(u64),
    Bye,
}

/// Runs session number `k`; its outcome is in the tally when this returns (or, if the task is
/// stopped, it stays [`End::Running`]).
pub(crate) async fn run(sh: &Shared, k: u64, plan: Plan) {
    let idx = {
        let mut t = sh.tally.borrow_mut();
        t.outcomes.push(Outcome {
            framing: plan.framing,
            ending: plan.ending,
            id: None,
            end: End::Running,
            problem: None,
        });
        t.outcomes.len() - 1
    };
    let dest = match (plan.framing, sh.tcp) {
        (Framing::Ws, _) => Dest::Ws(&sh.target),
        (Framing::SockJs, _) => Dest::SockJs(&sh.target),
        (Framing::Tcp, Some(addr)) => Dest::Tcp(addr),
        (Framing::Tcp, None) => Dest::Ws(&sh.target),
    };
    let wire = match timeout(STEP, Wire::open(dest, sh.source())).await {
        Ok(Ok(wire)) => wire,
        Ok(Err(e)) => return sh.set(idx, |o| fail(o, e)),
        Err(_) => return sh.set(idx, |o| fail(o, format!("set-up took over {STEP:?}"))),
    };
    if let Some(id) = &wire.url_session {
        sh.set(idx, |o| o.id = Some(id.clone()));
    }
    let mut live = Live {
        sh,
        idx,
        k,
        wire,
        plan,
        pending: HashMap::new(),
        got: Vec::new(),
        acks: Vec::new(),
        client_hb: None,
        closing: false,
        closed: None,
        error: None,
        last_queue_message: None,
    };
    let (end, problem) = match live.lifetime().await {
        Ok(()) => (End::Planned, live.error.take()),
        Err(Stop::Server(close)) => {
            let why = match &close {
                Some((code, reason)) => format!("closed by the server with {code} {reason:?}"),
                None => "the server ended the connection without a Close frame".into(),
            };
            let why = match live.error.take() {
                Some(e) => format!("{e}; {why}"),
                None => why,
            };
            (End::Server(close.map(|c| c.0)), Some(why))
        }
        Err(Stop::Client(why)) => (End::Aborted, Some(why)),
    };
    drop(live);
    sh.set(idx, |o| {
        o.end = end;
        o.problem = problem;
    });
}

fn fail(o: &mut Outcome, why: String) {
    o.end = End::SetupFailed;
    o.problem = Some(format!("set-up: {why}"));
}

/// A session after its connection opened.
struct Live<'a> {
    sh: &'a Shared,
    idx: usize,
    k: u64,
    wire: Wire,
    plan: Plan,
    pending: HashMap<String, Pending>,
    got: Vec<Got>,
    acks: Vec<Bytes>,
    /// How often we must send something (negotiated), if at all.
    client_hb: Option<Duration>,
    /// The ending has begun: a server Close is expected, not a failure.
    closing: bool,
    closed: Option<Option<(u16, String)>>,
    error: Option<String>,
    last_queue_message: Option<Instant>,
}

impl Live<'_> {
    async fn lifetime(&mut self) -> Result<(), Stop> {
        match timeout(STEP, self.connect()).await {
            Ok(r) => r?,
            Err(_) => return Err(Stop::Client(format!("no CONNECTED within {STEP:?}"))),
        }
        self.subscribe().await?;
        if self.plan.ending == Ending::Drain {
            self.drain().await?;
        } else {
            self.active().await?;
        }
        self.end().await
    }

    async fn connect(&mut self) -> Result<(), Stop> {
        let hb = if self.plan.heartbeat { HEARTBEAT_MS } else { 0 };
        let params = ConnectParams {
            heartbeat_ms: hb,
            ..self.sh.connect.clone()
        };
        self.send(&connect_frame(&params)).await?;
        loop {
            self.step(None).await?;
            let Some(i) = self.got.iter().position(|g| matches!(g, Got::Frame(_))) else {
                // A close before CONNECTED ends the session here.
                self.handle_all()?;
                continue;
            };
            let Got::Frame(f) = self.got.remove(i) else {
                continue;
            };
            if f.command != Command::Connected {
                return Err(Stop::Client(crate::control::unexpected("CONNECTED", &f)));
            }
            let offered = f
                .header("heart-beat")
                .and_then(|v| HeartBeat::parse(v).ok())
                .unwrap_or_default();
            self.client_hb = offered.negotiate(HeartBeat::new(hb, hb)).receive;
            let id = f.header("session").map(str::to_string);
            self.sh.set(self.idx, |o| o.id = id.or(o.id.take()));
            return self.handle_all();
        }
    }

    async fn subscribe(&mut self) -> Result<(), Stop> {
        let topics = self.plan.topics.clone();
        for (i, t) in topics.iter().enumerate() {
            let f = subscribe(&format!("t{i}"), &format!("/topic/soak.{t}"), "auto");
            self.send_with_receipt(f, format!("s{i}"), Pending::Other)
                .await?;
        }
        if let Some(q) = self.plan.queue {
            let ack = if self.plan.ending == Ending::Drain {
                "auto"
            } else {
                "client-individual"
            };
            let f = subscribe("q", &format!("/queue/soak.{q}"), ack);
            self.send_with_receipt(f, "sq".into(), Pending::Other)
                .await?;
        }
        Ok(())
    }

    /// Sends, heart-beats and reads for the session's life.
    async fn active(&mut self) -> Result<(), Stop> {
        let start = Instant::now();
        let life = self.plan.life;
        let end = start + life;
        let n = self.plan.sends.len();
        let due = |i: usize| start + life.mul_f64((i + 1) as f64 / (n + 1) as f64);
        let mut next = 0;
        let every = self.client_hb.map(|d| d / 2);
        let mut beat = every.map(|e| start + e);
        loop {
            let now = Instant::now();
            while next < n && now >= due(next) {
                self.send_message(next).await?;
                next += 1;
            }
            if let (Some(at), Some(e)) = (beat, every)
                && now >= at
            {
                self.send(b"\n").await?;
                self.sh.tally.borrow_mut().counts.heartbeats_sent += 1;
                beat = Some(now + e);
            }
            if now >= end {
                return Ok(());
            }
            let mut wake = end;
            if next < n {
                wake = wake.min(due(next));
            }
            if let Some(at) = beat {
                wake = wake.min(at);
            }
            self.step(Some(wake)).await?;
            self.handle_all()?;
            self.flush_acks().await?;
        }
    }

    /// The drainer: reads its queue until it has been quiet for a while.
    async fn drain(&mut self) -> Result<(), Stop> {
        let start = Instant::now();
        loop {
            let last = self.last_queue_message.unwrap_or(start);
            let now = Instant::now();
            if now >= last + DRAIN_QUIET || now >= start + DRAIN_MAX {
                return Ok(());
            }
            self.step(Some((last + DRAIN_QUIET).min(start + DRAIN_MAX)))
                .await?;
            self.handle_all()?;
        }
    }

    async fn end(&mut self) -> Result<(), Stop> {
        self.closing = true;
        match self.plan.ending {
            Ending::Disconnect | Ending::Drain => {
                let bye = Frame::new(Command::Disconnect);
                self.send_with_receipt(bye, "bye".into(), Pending::Bye)
                    .await?;
                let deadline = Instant::now() + CLOSE_WAIT;
                if !self
                    .wait(deadline, |s| !s.pending.contains_key("bye"))
                    .await?
                {
                    return Err(Stop::Client("no RECEIPT for DISCONNECT".into()));
                }
                if self.closed.is_none() {
                    let _ = self.wire.close(1000).await;
                }
                self.await_close(deadline).await
            }
            Ending::Close => {
                let _ = self.wire.close(1000).await;
                self.await_close(Instant::now() + CLOSE_WAIT).await
            }
            Ending::Drop => Ok(()),
            Ending::Reset => {
                let _ = self.wire.tcp.set_zero_linger();
                Ok(())
            }
            Ending::Silent => {
                let every = self.client_hb.unwrap_or(Duration::from_secs(10));
                let deadline = Instant::now() + every * 3 + CLOSE_WAIT;
                if !self.wait(deadline, |s| s.closed.is_some()).await? {
                    return Err(Stop::Client(
                        "the server did not close a silent session".into(),
                    ));
                }
                // STOMP over TCP has no Close frame: the server just ends the connection.
                match (self.closed.take().flatten(), self.plan.framing) {
                    (Some((4408, _)), _) | (None, Framing::Tcp) => Ok(()),
                    (other, _) => Err(Stop::Server(other)),
                }
            }
        }
    }

    /// Waits for the server to end the connection (its Close or EOF).
    async fn await_close(&mut self, deadline: Instant) -> Result<(), Stop> {
        if self.wait(deadline, |s| s.closed.is_some()).await? {
            Ok(())
        } else {
            Err(Stop::Client(
                "the server did not end the connection after the client's close".into(),
            ))
        }
    }

    /// Reads until `done` or `deadline`; says whether `done`.
    async fn wait(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> Result<bool, Stop> {
        loop {
            if done(self) {
                return Ok(true);
            }
            if Instant::now() >= deadline || self.closed.is_some() {
                return Ok(false);
            }
            self.step(Some(deadline)).await?;
            self.handle_all()?;
        }
    }

    /// Reads once (or sleeps until `wake`).
    async fn step(&mut self, wake: Option<Instant>) -> Result<(), Stop> {
        let wake = wake.unwrap_or_else(|| Instant::now() + STEP);
        tokio::select! {
            r = self.wire.read(&mut self.got) => r.map_err(Stop::Client),
            () = sleep_until(wake) => Ok(()),
        }
    }

    /// Acts on everything read.
    fn handle_all(&mut self) -> Result<(), Stop> {
        let got = std::mem::take(&mut self.got);
        let mut t = self.sh.tally.borrow_mut();
        for g in got {
            match g {
                Got::HeartBeat => t.counts.heartbeats_received += 1,
                Got::Closed(close) if self.closing => self.closed = Some(close),
                Got::Closed(close) => return Err(Stop::Server(close)),
                Got::Frame(f) => match f.command {
                    Command::Message if f.header("subscription") == Some("q") => {
                        t.counts.queue_messages += 1;
                        self.last_queue_message = Some(Instant::now());
                        if f.header("redelivered") == Some("true") {
                            t.counts.redelivered += 1;
                        }
                        match parse_queue_body(&f.body) {
                            Some(key) => *t.delivered.entry(key).or_default() += 1,
                            None => {
                                self.error
                                    .get_or_insert_with(|| "a queue message of another run".into());
                            }
                        }
                        if !self.closing
                            && self.plan.ending != Ending::Drain
                            && let Some(ack) = f.header("ack")
                        {
                            let a = Frame::new(Command::Ack).with_header("id", ack);
                            self.acks.push(encode(&a, Version::V1_2));
                        }
                    }
                    Command::Message => t.counts.topic_messages += 1,
                    Command::Receipt => {
                        let id = f.header("receipt-id").unwrap_or_default();
                        match self.pending.remove(id) {
                            Some(Pending::Queue(key)) => {
                                t.accepted.insert(key);
                            }
                            Some(Pending::Other | Pending::Bye) => {}
                            None => {
                                self.error
                                    .get_or_insert_with(|| format!("an unknown receipt {id:?}"));
                            }
                        }
                        t.counts.receipts += 1;
                    }
                    Command::Error => {
                        let text = crate::stomp::error_text(&f);
                        self.error.get_or_insert(text);
                    }
                    other => {
                        self.error
                            .get_or_insert_with(|| format!("an unexpected {}", other.as_str()));
                    }
                },
            }
        }
        Ok(())
    }

    async fn flush_acks(&mut self) -> Result<(), Stop> {
        let acks = std::mem::take(&mut self.acks);
        self.sh.tally.borrow_mut().counts.acks += acks.len() as u64;
        for a in acks {
            self.send(&a).await?;
        }
        Ok(())
    }

    async fn send_message(&mut self, i: usize) -> Result<(), Stop> {
        let (to, receipt) = self.plan.sends[i];
        let (destination, body, pending) = match to {
            To::Topic(t) => (
                format!("/topic/soak.{t}"),
                format!("soak-t {} {i}", self.k),
                receipt.then_some(Pending::Other),
            ),
            To::Queue(q) => (
                format!("/queue/soak.{q}"),
                format!("soak-q {} {i}", self.k),
                Some(Pending::Queue(queue_key(self.k, i))),
            ),
        };
        {
            let c = &mut self.sh.tally.borrow_mut().counts;
            match to {
                To::Topic(_) => c.topic_sends += 1,
                To::Queue(_) => c.queue_sends += 1,
            }
        }
        let f = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("content-type", "text/plain")
            .with_body(body.into_bytes());
        match pending {
            Some(p) => self.send_with_receipt(f, format!("m{i}"), p).await,
            None => self.send(&encode(&f, Version::V1_2)).await,
        }
    }

    async fn send_with_receipt(
        &mut self,
        mut f: Frame,
        receipt: String,
        pending: Pending,
    ) -> Result<(), Stop> {
        f.push_header("receipt", receipt.clone());
        self.pending.insert(receipt, pending);
        self.sh.tally.borrow_mut().counts.receipts_asked += 1;
        self.send(&encode(&f, Version::V1_2)).await
    }

    async fn send(&mut self, stomp: &[u8]) -> Result<(), Stop> {
        self.wire
            .send(stomp)
            .await
            .map_err(|e| Stop::Client(format!("sending: {e}")))
    }
}

fn subscribe(id: &str, destination: &str, ack: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .with_header("id", id.to_string())
        .with_header("destination", destination.to_string())
        .with_header("ack", ack.to_string())
}
