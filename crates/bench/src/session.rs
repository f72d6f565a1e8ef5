//! One client connection inside a worker: set-up (upgrade, CONNECT, SUBSCRIBE), then the hot
//! receive loop, heart-beats and the close at the end.
//!
//! The receive loop reads into the worker's shared scratch buffer (one per thread, hot in the
//! cache) and keeps only an incomplete trailing frame per connection; per read it takes the
//! time once and updates the shared counters once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use stompbox_stomp::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::control;
use crate::proto::{Counters, WorkerSpec};
use crate::stomp::{self, Incoming};
use crate::wsclient::{self, Fragments, Msg, WsError};

/// How long one connection may take to be set up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times a connection's set-up is tried before it counts as failed.
const SETUP_ATTEMPTS: u32 = 3;
/// The pause before the n-th retry is n times this.
const RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// How long the close handshake at the end may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read per `read` call into the shared scratch buffer.
const READ_CHUNK: usize = 64 * 1024;

/// Everything a worker's connections share (one thread, so `Cell`/`RefCell`).
pub(crate) struct Ctx {
    pub(crate) spec: WorkerSpec,
    pub(crate) gate: Semaphore,
    scratch: RefCell<Vec<u8>>,
    pub(crate) stats: RefCell<Stats>,
    /// The window `(t0, t1)`, UNIX ns; nothing counts before it is set.
    pub(crate) window: Cell<(u64, u64)>,
    /// Set when the run ends: closes from then on are not drops.
    pub(crate) stopping: Cell<bool>,
    pub(crate) fatal: mpsc::UnboundedSender<String>,
}

/// What connections record.
pub(crate) struct Stats {
    pub(crate) counters: Counters,
    /// Latencies (µs) by target (`spec.targets`).
    pub(crate) latency_us: Vec<Histogram<u64>>,
    pub(crate) close_codes: std::collections::BTreeMap<u16, u64>,
    pub(crate) first_error: Option<String>,
    pub(crate) first_close: Option<String>,
}

impl Ctx {
    pub(crate) fn new(spec: WorkerSpec, fatal: mpsc::UnboundedSender<String>) -> Ctx {
        let targets = spec.targets.len().max(1);
        Ctx {
            gate: Semaphore::new(spec.concurrency.max(1)),
            spec,
            scratch: RefCell::new(Vec::new()),
            stats: RefCell::new(Stats {
                counters: Counters::default(),
                latency_us: (0..targets).map(|_| crate::hist::new()).collect(),
                close_codes: Default::default(),
                first_error: None,
                first_close: None,
            }),
            window: Cell::new((u64::MAX, u64::MAX)),
            stopping: Cell::new(false),
            fatal,
        }
    }
}

/// Runs connection `k` (global index) until the run ends or the server ends it.
pub(crate) async fn run(ctx: Rc<Ctx>, k: usize, stop: watch::Receiver<bool>) {
    let setup = {
        let Ok(_permit) = ctx.gate.acquire().await else {
            return;
        };
        {
            let mut s = ctx.stats.borrow_mut();
            if s.counters.connect_first_ns == 0 {
                s.counters.connect_first_ns = crate::epoch_ns();
            }
        }
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(SETUP_TIMEOUT, setup(&ctx, k)).await {
                Ok(result) => result,
                Err(_) => Err(format!("set-up took longer than {SETUP_TIMEOUT:?}")),
            };
            match result {
                Err(_) if attempt < SETUP_ATTEMPTS && !ctx.stopping.get() => {
                    // A refused or reset connection in a connect storm (a full accept queue,
                    // a source port still in TIME_WAIT) is what a real client retries too;
                    // the retries are counted and reported.
                    ctx.stats.borrow_mut().counters.retried += 1;
                    tokio::time::sleep(RETRY_BACKOFF * attempt).await;
                    attempt += 1;
                }
                result => break result,
            }
        }
    };
    let conn = match setup {
        Ok(conn) => conn,
        Err(e) => {
            let mut s = ctx.stats.borrow_mut();
            s.counters.failed += 1;
            s.first_error.get_or_insert(e);
            return;
        }
    };
    {
        let mut s = ctx.stats.borrow_mut();
        s.counters.connected += 1;
        s.counters.connect_last_ns = crate::epoch_ns();
        let c = &mut s.counters;
        c.hb_server_ms = c.hb_server_ms.max(millis(conn.server_hb));
        c.hb_client_ms = c.hb_client_ms.max(millis(conn.client_hb));
    }
    let ended = conn.serve(&ctx, stop).await;
    if let Err(e) = ended
        && !ctx.stopping.get()
    {
        let mut s = ctx.stats.borrow_mut();
        s.counters.dropped += 1;
        *s.close_codes.entry(e.close_code()).or_default() += 1;
        s.first_close.get_or_insert_with(|| e.to_string());
    }
}

fn millis(d: Option<Duration>) -> u64 {
    d.map_or(0, |d| d.as_millis() as u64)
}

/// A connection after its set-up.
struct Conn {
    tcp: TcpStream,
    /// Which of `spec.targets` it is connected to.
    target: usize,
    /// An incomplete frame carried over to the next read.
    partial: Vec<u8>,
    frags: Fragments,
    /// Negotiated heart-beats: the server's and ours.
    server_hb: Option<Duration>,
    client_hb: Option<Duration>,
}

/// Upgrade, CONNECT, and SUBSCRIBE when the worker has topics.
async fn setup(ctx: &Ctx, k: usize) -> Result<Conn, String> {
    let spec = &ctx.spec;
    let source = spec.sources.get(k % spec.sources.len().max(1)).copied();
    let target = spec.target_of(k);
    let to = spec.targets.get(target).ok_or("no target to connect to")?;
    let mut opened = control::open(to, source, &spec.connect).await?;
    if !spec.topics.is_empty() {
        let topic = &spec.topics[k % spec.topics.len()];
        opened.control.subscribe(&mut opened.tcp, topic).await?;
    }
    Ok(Conn {
        tcp: opened.tcp,
        target,
        partial: opened.control.buf.to_vec(),
        frags: opened.control.frags,
        server_hb: opened.server_hb,
        client_hb: opened.client_hb,
    })
}

/// What one read produced that needs an answer.
#[derive(Default)]
struct ReadOutcome {
    replies: BytesMut,
    fatal: Option<String>,
}

impl Conn {
    /// The receive loop with heart-beats; `Ok` when the run ended, `Err` when the server did.
    async fn serve(mut self, ctx: &Ctx, mut stop: watch::Receiver<bool>) -> Result<(), WsError> {
        let far = Duration::from_secs(365 * 24 * 3600);
        let send_every = self.client_hb.unwrap_or(far);
        let mut beat =
            tokio::time::interval_at(tokio::time::Instant::now() + send_every, send_every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let mut hb = BytesMut::new();
        loop {
            tokio::select! {
                biased;
                ready = self.tcp.readable() => {
                    ready?;
                    let outcome = self.read_once(ctx, &mut last_rx)?;
                    if let Some(message) = outcome.fatal {
                        let _ = ctx.fatal.send(message);
                    }
                    if !outcome.replies.is_empty() {
                        self.tcp.write_all(&outcome.replies).await?;
                    }
                }
                due = beat.tick(), if self.client_hb.is_some() => {
                    hb.clear();
                    stomp::put_heartbeat(&mut hb);
                    self.tcp.write_all(&hb).await?;
                    let late = due.into_std().elapsed();
                    let mut s = ctx.stats.borrow_mut();
                    let c = &mut s.counters;
                    c.hb_sent += 1;
                    if late <= send_every / 10 {
                        c.hb_sent_on_time += 1;
                    }
                    c.hb_sent_max_late_us = c.hb_sent_max_late_us.max(late.as_micros() as u64);
                }
                _ = stop.changed() => break,
            }
        }
        self.note_open_gap(ctx, last_rx);
        self.close().await;
        Ok(())
    }

    /// Reads what is there and processes every complete frame.
    fn read_once(&mut self, ctx: &Ctx, last_rx: &mut Instant) -> Result<ReadOutcome, WsError> {
        let mut scratch = ctx.scratch.borrow_mut();
        let carried = self.partial.len();
        if scratch.len() < carried + READ_CHUNK {
            scratch.resize(carried + READ_CHUNK, 0);
        }
        scratch[..carried].copy_from_slice(&self.partial);
        let n = match self.tcp.try_read(&mut scratch[carried..]) {
            Ok(0) => return Err(WsError::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Ok(ReadOutcome::default());
            }
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        let now_ns = crate::epoch_ns();
        let (t0, t1) = ctx.window.get();
        let mut stats = ctx.stats.borrow_mut();
        let Stats {
            counters: c,
            latency_us,
            ..
        } = &mut *stats;
        let latency_us = &mut latency_us[self.target];
        let in_window = now_ns >= t0 && now_ns < t1;
        let mut out = ReadOutcome::default();
        let mut messages = 0u64;
        let mut gap_open = *last_rx;
        let server_hb = self.server_hb;
        let data = &mut scratch[..carried + n];
        let used = wsclient::parse_frames(data, &mut self.frags, |m| match m {
            Msg::Data(payload) => {
                let r = stomp::scan(payload, |item| match item {
                    Incoming::Message(ts) => {
                        messages += 1;
                        if let Some(ts) = ts
                            && ts >= t0
                            && ts < t1
                        {
                            c.of_window += 1;
                            let us = now_ns.saturating_sub(ts) / 1000;
                            latency_us.saturating_record(us.max(1));
                        }
                    }
                    Incoming::HeartBeat => {
                        if let Some(every) = server_hb {
                            let gap = now.saturating_duration_since(gap_open);
                            c.hb_received += 1;
                            if gap <= every + every / 10 {
                                c.hb_on_time += 1;
                            }
                            c.hb_max_gap_us = c.hb_max_gap_us.max(gap.as_micros() as u64);
                        }
                    }
                    Incoming::Other(f) if f.command == Command::Error => {
                        out.fatal.get_or_insert_with(|| stomp::error_text(&f));
                    }
                    Incoming::Other(_) => {}
                });
                gap_open = now;
                if let Err(e) = r {
                    out.fatal.get_or_insert(e);
                }
            }
            Msg::Ping(p) => wsclient::put_pong(&mut out.replies, p),
        });
        *last_rx = gap_open;
        c.messages += messages;
        if in_window {
            c.received_in_window += messages;
        }
        let used = match used {
            Ok(used) => used,
            Err(e) => {
                if let WsError::Closed { code, .. } = &e {
                    // Answer the Close; the connection ends either way.
                    wsclient::put_close(&mut out.replies, *code);
                    let _ = self.tcp.try_write(&out.replies);
                }
                return Err(e);
            }
        };
        self.partial.clear();
        self.partial.extend_from_slice(&data[used..]);
        Ok(out)
    }

    /// At the end of the run, a server silence already longer than its heart-beat is a miss.
    fn note_open_gap(&self, ctx: &Ctx, last_rx: Instant) {
        let Some(every) = self.server_hb else { return };
        let gap = last_rx.elapsed();
        if gap > every + every / 10 {
            let mut s = ctx.stats.borrow_mut();
            s.counters.hb_missing += 1;
            s.counters.hb_max_gap_us = s.counters.hb_max_gap_us.max(gap.as_micros() as u64);
        }
    }

    /// Sends Close 1000 and waits briefly for the server's Close or EOF.
    async fn close(mut self) {
        let mut out = BytesMut::new();
        wsclient::put_close(&mut out, 1000);
        if self.tcp.write_all(&out).await.is_err() {
            return;
        }
        let mut sink = vec![0u8; 4096];
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Ok(n) = self.tcp.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}
