//! The pump of one WebSocket connection: socket bytes into the [`Receiver`] and the endpoint,
//! the outbox into batched writes, deadlines into `handle_timeout`, and back-pressure into
//! pauses of reading. All protocol decisions live in `parse`, `write`, the endpoint and the
//! broker; this file only sequences them.
//!
//! Memory is the point. The connection is one hand-written poll loop ([`Conn::poll_pump`])
//! rather than nested futures, so the task holds little more than [`Conn`] and one timer entry
//! (tokio's, inline, in the runtime's shared wheel). Reads go to a per-thread scratch buffer and
//! only an incomplete frame is kept; the write buffer exists only while a batch is being
//! written. The close handshake, once per connection, runs in a boxed future of its own.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use stompbox_broker::{CloseStatus, ClosedBy, Outbound, Outbox};
use stompbox_closecode::codes;
use stompbox_sockjs as sockjs;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

use super::parse::{Event, Flow, Receiver};
use super::write;
use crate::endpoint::Endpoint;
use crate::outbox::ConnOutbox;
use crate::pump::now;
use crate::ws::{Framing, to_text};

/// How long a server-initiated close may take: sending our Close and receiving the peer's.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Bytes read per syscall, into the thread's scratch buffer.
const READ_CHUNK: usize = 64 * 1024;

/// A batch is written once it holds this many bytes.
const WRITE_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where every connection on this thread reads into: data is handled before the next read.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// How a connection ends.
#[derive(Debug)]
enum End {
    /// The peer sent Close: answer with the same code and reason, then stop.
    PeerClosed(CloseStatus, Option<(u16, String)>),
    /// We fail or close the connection: send Close, wait (bounded) for the reply.
    Close(CloseStatus),
    /// Stop at once without a Close frame (the peer vanished, or SockJS broken JSON).
    Drop(CloseStatus),
}

/// One connection: the socket, the receive and send state, and the endpoint behind it.
pub(crate) struct Conn<Io> {
    io: Io,
    receiver: Receiver,
    outbox: Arc<ConnOutbox>,
    endpoint: Box<dyn Endpoint>,
    framing: Framing,
    last_write: Instant,
    /// Bytes being written: a batch, pongs, SockJS frames. Empty, without capacity, when idle.
    out: BytesMut,
    /// Outbox bytes (as the outbox counts them) in `out`, credited once `out` is written.
    out_counted: usize,
    /// Whether `out` carries session traffic (not only pongs): its write counts as "sent".
    out_is_traffic: bool,
    /// Items taken from the outbox, beyond what fitted in `out`.
    items: VecDeque<Outbound>,
    /// A close the endpoint queued: done once what was queued before it is written.
    closing: Option<Box<CloseStatus>>,
    /// Back-pressure: outboxes to wait for before reading again (empty when not paused).
    congested: Vec<Arc<dyn Outbox>>,
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send> Conn<Io> {
    pub(crate) fn new(
        io: Io,
        max_message: usize,
        outbox: Arc<ConnOutbox>,
        endpoint: Box<dyn Endpoint>,
        framing: Framing,
    ) -> Self {
        Conn {
            io,
            receiver: Receiver::new(max_message),
            outbox,
            endpoint,
            framing,
            last_write: now(),
            out: BytesMut::new(),
            out_counted: 0,
            out_is_traffic: false,
            items: VecDeque::new(),
            closing: None,
            congested: Vec::new(),
        }
    }

    /// Serves the connection until it ends, then closes the endpoint with how it ended.
    /// `early` holds bytes the client sent right behind its upgrade request.
    ///
    /// Not an `async fn`: those keep their arguments twice in the future (rust-lang/rust#62958),
    /// which here would double the idle task.
    pub(crate) fn serve(mut self, mut early: Vec<u8>) -> impl Future<Output = ()> + Send
    where
        Io: 'static,
    {
        if let Framing::SockJs { .. } = self.framing {
            write::put_text(&mut self.out, sockjs::OPEN);
        }
        let ended = match early.is_empty() {
            true => None,
            false => self.handle_input(&mut early, now()).map(Box::new),
        };
        drop(early);
        async move {
            let end = match ended {
                Some(end) => *end,
                None => self.pump().await,
            };
            let status = self.end_boxed(end).await;
            self.outbox.close();
            self.endpoint.close(status, now());
        }
    }

    /// Runs the connection until it ends.
    async fn pump(&mut self) -> End {
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        let mut armed = None;
        poll_fn(|cx| self.poll_pump(cx, sleep.as_mut(), &mut armed)).await
    }

    /// One pass over everything the connection waits for, until something ends it: write what
    /// is pending, take queued items (only once the previous batch is out, so the backlog stays
    /// in the outbox where it is counted), read (unless paused by back-pressure, then wait for
    /// the drain instead), and act on the deadline.
    fn poll_pump(
        &mut self,
        cx: &mut Context<'_>,
        mut sleep: Pin<&mut Sleep>,
        armed: &mut Option<Instant>,
    ) -> Poll<End> {
        loop {
            if !self.out.is_empty() {
                match Pin::new(&mut self.io).poll_write(cx, &self.out) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.out.advance(n);
                        if self.out.is_empty() {
                            self.written();
                        }
                        continue;
                    }
                    Poll::Ready(_) => return Poll::Ready(End::Drop(CloseStatus::abnormal())),
                    Poll::Pending => {}
                }
            } else {
                if let Some(status) = self.closing.take() {
                    return Poll::Ready(End::Close(*status));
                }
                if self.items.is_empty() {
                    if let Poll::Ready(items) = self.outbox.poll_take(cx) {
                        self.items = items;
                    }
                }
                if !self.items.is_empty() {
                    self.put_batch();
                    continue;
                }
            }
            if self.congested.is_empty() {
                if let Poll::Ready(end) = self.poll_input(cx) {
                    match end {
                        Some(end) => return Poll::Ready(end),
                        None => continue,
                    }
                }
            } else {
                while let Some(outbox) = self.congested.last() {
                    if outbox.poll_drained(cx).is_pending() {
                        break;
                    }
                    self.congested.pop();
                }
                if self.congested.is_empty() {
                    self.endpoint.resume(now());
                    self.congested = self.endpoint.take_backpressure();
                    continue;
                }
            }
            let deadline = self.deadline();
            if deadline != *armed {
                if let Some(at) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(at));
                }
                *armed = deadline;
            }
            if armed.is_some() && sleep.as_mut().poll(cx).is_ready() {
                self.handle_timer();
                continue;
            }
            return Poll::Pending;
        }
    }

    /// `out` was written completely.
    fn written(&mut self) {
        // No capacity kept: an idle connection holds no write buffer.
        self.out = BytesMut::new();
        self.last_write = now();
        self.outbox.written(std::mem::take(&mut self.out_counted));
        if std::mem::take(&mut self.out_is_traffic) {
            self.endpoint.handle_sent(self.last_write);
        }
    }

    /// Moves taken items into `out`, up to one write's worth. A close stops the batch: items
    /// after it are dropped (the session is closing).
    fn put_batch(&mut self) {
        let mut texts: Vec<String> = Vec::new();
        let mut text_len = 0;
        while let Some(item) = self.items.pop_front() {
            self.out_counted += item.wire_len();
            self.out_is_traffic = true;
            match (item, self.framing) {
                (Outbound::Close(status), _) => {
                    self.closing = Some(Box::new(status));
                    self.items = VecDeque::new();
                    break;
                }
                (item, Framing::Raw) => {
                    if self.out.is_empty() {
                        // One allocation per batch: this item and what follows, up to a chunk.
                        let mut want = write::framed_len(&item);
                        for next in &self.items {
                            if want >= WRITE_CHUNK {
                                break;
                            }
                            want += write::framed_len(next);
                        }
                        self.out.reserve(want);
                    }
                    write::put_item(&mut self.out, &item);
                    if self.out.len() >= WRITE_CHUNK {
                        break;
                    }
                }
                (item, Framing::SockJs { .. }) => {
                    let text = to_text(&item);
                    text_len += text.len();
                    texts.push(text);
                    if text_len >= WRITE_CHUNK {
                        break;
                    }
                }
            }
        }
        if !texts.is_empty() {
            write::put_text(&mut self.out, &sockjs::message_frame(&texts));
        }
        if self.items.is_empty() {
            // Released now rather than kept by an idle connection.
            self.items = VecDeque::new();
        }
    }

    /// When the SockJS `h` is due: after `heartbeat` of silence, unless STOMP heart-beats do the
    /// job (as Spring does).
    fn sockjs_heartbeat_due(&self) -> Option<Instant> {
        match self.framing {
            Framing::SockJs { heartbeat } if !self.endpoint.has_own_heartbeats() => {
                Some(self.last_write + heartbeat)
            }
            _ => None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.endpoint.poll_timeout(), self.sockjs_heartbeat_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Queues the heartbeats that are due and lets the endpoint act on its deadlines.
    fn handle_timer(&mut self) {
        let now = now();
        if self.sockjs_heartbeat_due().is_some_and(|h| now >= h) {
            write::put_text(&mut self.out, sockjs::HEARTBEAT);
            // Server traffic all the same (idle-time analytics).
            self.out_is_traffic = true;
            // Not due again before it is written.
            self.last_write = now;
        }
        if !self.congested.is_empty() {
            // Not reading is our doing while paused: the peer is not silent as far as we know.
            self.endpoint.handle_activity(now);
        }
        self.endpoint.handle_timeout(now);
    }

    /// Reads once and handles what arrived; `Some` ends the connection.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Option<End>> {
        SCRATCH.with_borrow_mut(|scratch| {
            Poll::Ready(match ready!(poll_read_into(&mut self.io, cx, scratch)) {
                Ok(n) if n > 0 => self.handle_input(&mut scratch[..n], now()),
                // EOF or a reset without a Close frame.
                _ => Some(End::Drop(CloseStatus::abnormal())),
            })
        })
    }

    /// Feeds received bytes through the receiver to the endpoint.
    fn handle_input(&mut self, data: &mut [u8], now: Instant) -> Option<End> {
        let Conn {
            receiver,
            endpoint,
            out,
            framing,
            ..
        } = self;
        let mut end = None;
        let fed = receiver.feed(data, |event| match event {
            Event::Message(message) => match deliver(endpoint.as_mut(), *framing, message, now) {
                Ok(()) => Flow::Continue,
                Err(status) => {
                    end = Some(End::Drop(status));
                    Flow::Stop
                }
            },
            Event::Ping(payload) => {
                // Pings prove the peer is alive, and are answered (RFC 6455 §5.5.3).
                endpoint.handle_activity(now);
                write::put_pong(out, payload);
                Flow::Continue
            }
            Event::Pong => {
                endpoint.handle_activity(now);
                Flow::Continue
            }
            Event::Close(close) => {
                let status = match close {
                    Some((code, reason)) => CloseStatus::new(code, reason, ClosedBy::Client),
                    None => CloseStatus::new(codes::NO_STATUS, "", ClosedBy::Client),
                };
                let reply = close.map(|(code, reason)| (code, reason.to_string()));
                end = Some(End::PeerClosed(status, reply));
                Flow::Stop
            }
        });
        if let Err(error) = fed {
            return Some(End::Close(error.status()));
        }
        if end.is_none() {
            self.congested.extend(self.endpoint.take_backpressure());
        }
        end
    }

    /// [`Conn::end`], boxed: it runs once per connection, so its state should not weigh on
    /// every idle connection's task.
    fn end_boxed(&mut self, end: End) -> Pin<Box<dyn Future<Output = CloseStatus> + Send + '_>> {
        Box::pin(self.end(end))
    }

    /// Ends the connection as `end` says; returns the status the session closes with.
    async fn end(&mut self, end: End) -> CloseStatus {
        match end {
            End::PeerClosed(status, reply) => {
                // After the rest of any frame already started.
                write::put_close(&mut self.out, reply.as_ref().map(|(c, r)| (*c, r.as_str())));
                let out = std::mem::take(&mut self.out);
                let _ =
                    tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.io.write_all(&out)).await;
                status
            }
            End::Close(status) => {
                let _ =
                    tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.close_handshake(&status))
                        .await;
                status
            }
            End::Drop(status) => status,
        }
    }

    /// Sends our Close (after what is pending, and SockJS's `c[…]` frame) and waits for the
    /// peer's, discarding anything else it sends meanwhile.
    async fn close_handshake(&mut self, status: &CloseStatus) {
        if let Framing::SockJs { .. } = self.framing {
            let frame = sockjs::close_frame(status.code, status.wire_reason());
            write::put_text(&mut self.out, &frame);
        }
        write::put_close(&mut self.out, Some((status.code, status.wire_reason())));
        let out = std::mem::take(&mut self.out);
        if self.io.write_all(&out).await.is_err() || self.io.flush().await.is_err() {
            return;
        }
        drop(out);
        let Conn { io, receiver, .. } = self;
        poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|scratch| {
                loop {
                    let n = match ready!(poll_read_into(io, cx, scratch)) {
                        Ok(n) if n > 0 => n,
                        _ => return Poll::Ready(()),
                    };
                    let mut closed = false;
                    let fed = receiver.feed(&mut scratch[..n], |event| {
                        closed = matches!(event, Event::Close(_));
                        if closed { Flow::Stop } else { Flow::Continue }
                    });
                    if closed || fed.is_err() {
                        return Poll::Ready(());
                    }
                }
            })
        })
        .await;
    }
}

/// Reads once into `buf` (the thread's scratch buffer); 0 at end of stream.
fn poll_read_into<Io: AsyncRead + Unpin>(
    io: &mut Io,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<std::io::Result<usize>> {
    let mut buf = ReadBuf::new(buf);
    ready!(Pin::new(io).poll_read(cx, &mut buf))?;
    Poll::Ready(Ok(buf.filled().len()))
}

/// Hands one WebSocket message to the endpoint; `Err` ends the connection (SockJS broken JSON).
fn deliver(
    endpoint: &mut dyn Endpoint,
    framing: Framing,
    message: &[u8],
    now: Instant,
) -> Result<(), CloseStatus> {
    match framing {
        Framing::Raw => endpoint.handle_data(message, now),
        Framing::SockJs { .. } => {
            let text = String::from_utf8_lossy(message);
            match sockjs::parse_websocket_message(&text) {
                Ok(messages) => {
                    endpoint.handle_activity(now);
                    for m in messages {
                        endpoint.handle_data(m.as_bytes(), now);
                    }
                }
                Err(error) => {
                    // The SockJS protocol wants the connection dropped at once, without a close
                    // frame; the event still says who did it and why.
                    return Err(CloseStatus::new(
                        codes::PROTOCOL_ERROR,
                        error.to_string(),
                        ClosedBy::Server,
                    )
                    .with_cause("broken JSON from the client: connection dropped"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::endpoint::Kind;

    /// Not a limit to meet exactly: a tripwire for a change that makes every idle connection's
    /// task much larger (448 bytes now; about 1.5 KiB with nested `async fn`s).
    #[tokio::test]
    async fn an_idle_connection_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (client, accepted) = tokio::join!(
            tokio::net::TcpStream::connect(listener.local_addr().unwrap()),
            listener.accept()
        );
        let (_client, (server, _)) = (client.unwrap(), accepted.unwrap());
        let outbox = Arc::new(ConnOutbox::new(1 << 20));
        let endpoint = Kind::Echo.open(
            None,
            stompbox_broker::Transport::WebSocket,
            "127.0.0.1:1".parse().unwrap(),
            outbox.clone(),
            now(),
        );
        let conn = Conn::new(server, 1 << 16, outbox, endpoint, Framing::Raw);
        let serve = conn.serve(Vec::new());
        let size = std::mem::size_of_val(&serve);
        assert!(size <= 512, "the connection future is {size} bytes");
    }
}
