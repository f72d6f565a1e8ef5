//! Publishers (in the main process): SEND frames stamped with the publish time, paced evenly
//! at a rate or written as fast as the socket takes them (TCP back-pressure throttles). Each
//! publisher also reads what the server sends it: an ERROR frame ends the run.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use stompbox_stomp::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::control;
use crate::stomp::{self, ConnectParams, Incoming, SendTemplate};
use crate::target::Target;
use crate::wsclient::{self, Fragments, Msg};

/// Frames written per `write` when unthrottled.
const BATCH: u64 = 32;
/// Most frames a paced publisher catches up with at once.
const MAX_BURST: u64 = 4096;
/// A write blocked this long means the server stopped reading.
const STALL: Duration = Duration::from_secs(60);

/// When and how fast to publish.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// Publishing starts here.
    pub(crate) start: Instant,
    /// … and stops here.
    pub(crate) end: Instant,
    /// The window, UNIX ns: messages stamped in `[t0, t1)` are counted.
    pub(crate) t0: u64,
    pub(crate) t1: u64,
    /// Messages per second for this publisher; 0 = unthrottled.
    pub(crate) rate: f64,
    /// Unthrottled: the bound on messages in flight, if any.
    pub(crate) gate: Option<Gate>,
}

/// Keeps unthrottled publishers at most `cap` messages ahead of the subscribers.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    /// Messages published by all publishers.
    pub(crate) published: Arc<AtomicU64>,
    /// Messages received (deliveries / subscribers per message), from the workers' progress.
    pub(crate) received: watch::Receiver<u64>,
    /// Messages allowed in flight, adjusted by the main loop to the delivery rate.
    pub(crate) cap: Arc<AtomicU64>,
}

impl Gate {
    /// Waits until there is room under the cap; returns how many messages fit (0 at `end`).
    async fn room(&mut self, end: Instant) -> u64 {
        loop {
            let outstanding = self
                .published
                .load(Ordering::Relaxed)
                .saturating_sub(*self.received.borrow_and_update());
            let cap = self.cap.load(Ordering::Relaxed);
            if outstanding < cap {
                return cap - outstanding;
            }
            match tokio::time::timeout_at(end, self.received.changed()).await {
                Ok(Ok(())) => {}
                _ => return 0,
            }
        }
    }
}

/// A connected publisher.
pub(crate) struct Publisher {
    write: OwnedWriteHalf,
    pongs: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Set before our Close goes out: the server's end of the connection is expected then.
    closing: Arc<AtomicBool>,
}

/// What a publisher did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published {
    /// Messages stamped inside the window, per topic.
    pub(crate) in_window: Vec<u64>,
    /// Every message sent.
    pub(crate) total: u64,
}

/// Connects publisher `index`; server trouble on its connection goes to `fatal`.
pub(crate) async fn connect(
    index: usize,
    target: &Target,
    source: Option<IpAddr>,
    params: &ConnectParams,
    fatal: mpsc::UnboundedSender<String>,
) -> Result<Publisher, String> {
    let opened = control::open(target, source, params)
        .await
        .map_err(|e| format!("publisher {index}: {e}"))?;
    let (read, write) = opened.tcp.into_split();
    let (pong_tx, pongs) = mpsc::unbounded_channel();
    let leftover = opened.control.buf;
    let closing = Arc::new(AtomicBool::new(false));
    tokio::spawn(read_side(
        index,
        read,
        leftover,
        pong_tx,
        fatal,
        closing.clone(),
    ));
    Ok(Publisher {
        write,
        pongs,
        closing,
    })
}

impl Publisher {
    /// Publishes round-robin over `templates` (one per topic, starting at `first`) per the
    /// schedule, then closes the connection.
    pub(crate) async fn run(
        mut self,
        templates: Arc<Vec<SendTemplate>>,
        first: usize,
        mut schedule: Schedule,
    ) -> Result<Published, String> {
        let topics = templates.len();
        let mut done = Published {
            in_window: vec![0; topics],
            total: 0,
        };
        let mut out = BytesMut::with_capacity(64 * 1024);
        let mut topic = first % topics.max(1);
        tokio::time::sleep_until(schedule.start).await;
        loop {
            let now = Instant::now();
            if now >= schedule.end {
                break;
            }
            let n = if schedule.rate > 0.0 {
                let elapsed = (now - schedule.start).as_secs_f64();
                let due = (elapsed * schedule.rate) as u64 + 1;
                if due <= done.total {
                    let next =
                        schedule.start + Duration::from_secs_f64(done.total as f64 / schedule.rate);
                    tokio::time::sleep_until(next.min(schedule.end)).await;
                    continue;
                }
                (due - done.total).min(MAX_BURST)
            } else if let Some(gate) = &mut schedule.gate {
                match gate.room(schedule.end).await {
                    0 => break,
                    room => room.min(BATCH),
                }
            } else {
                BATCH
            };
            let ts = crate::epoch_ns();
            let counted = ts >= schedule.t0 && ts < schedule.t1;
            for _ in 0..n {
                templates[topic].put(&mut out, ts);
                if counted {
                    done.in_window[topic] += 1;
                }
                topic = (topic + 1) % topics;
            }
            done.total += n;
            if let Some(gate) = &schedule.gate {
                gate.published.fetch_add(n, Ordering::Relaxed);
            }
            while let Ok(ping) = self.pongs.try_recv() {
                wsclient::put_pong(&mut out, &ping);
            }
            match tokio::time::timeout(STALL, self.write.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("publishing: {e}")),
                Err(_) => {
                    return Err(format!("publishing: the server read nothing for {STALL:?}"));
                }
            }
            out.clear();
        }
        out.clear();
        self.closing.store(true, Ordering::Relaxed);
        wsclient::put_close(&mut out, 1000);
        let _ = self.write.write_all(&out).await;
        Ok(done)
    }
}

/// Reads the server's side of a publisher connection: answers pings (through the writer),
/// reports ERROR frames and unexpected ends.
async fn read_side(
    index: usize,
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    pongs: mpsc::UnboundedSender<Vec<u8>>,
    fatal: mpsc::UnboundedSender<String>,
    closing: Arc<AtomicBool>,
) {
    let mut frags = Fragments::default();
    let why = loop {
        let mut error = None;
        let parsed = wsclient::parse_frames(&mut buf, &mut frags, |m| match m {
            Msg::Data(d) => {
                let r = stomp::scan(d, |i| {
                    if let Incoming::Other(f) = i
                        && f.command == Command::Error
                    {
                        error.get_or_insert_with(|| stomp::error_text(&f));
                    }
                });
                if let Err(e) = r {
                    error.get_or_insert(e);
                }
            }
            Msg::Ping(p) => {
                let _ = pongs.send(p.to_vec());
            }
        });
        match parsed {
            Ok(used) => {
                let _ = buf.split_to(used);
            }
            Err(e) => break e.to_string(),
        }
        if let Some(e) = error {
            break e;
        }
        buf.reserve(8192);
        match read.read_buf(&mut buf).await {
            Ok(0) => break wsclient::WsError::Eof.to_string(),
            Ok(_) => {}
            Err(e) => break e.to_string(),
        }
    };
    if !closing.load(Ordering::Relaxed) {
        let _ = fatal.send(format!("publisher {index}: {why}"));
    }
}
