//! The pump of one WebSocket connection: socket bytes into the [`Receiver`] and the endpoint,
//! the outbox into batched writes, deadlines into `handle_timeout`, and back-pressure into
//! pauses of reading. All protocol decisions live in `parse`, `write`, the endpoint and the
//! broker; this file only sequences them.
//!
//! Memory is the point. The connection is one hand-written poll loop ([`Conn::poll_pump`])
//! rather than nested futures, so the task holds little more than [`Conn`] and one timer entry
//! (tokio's, inline, in the runtime's shared wheel). Reads go to a per-thread scratch buffer and
//! only an incomplete frame is kept; writes are encoded into a per-thread buffer and only what
//! the socket does not take is kept. The close handshake, once per connection, runs in a boxed
//! future of its own (`end.rs`).

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use stompbox_broker::{CloseStatus, ClosedBy, Outbox};
use stompbox_closecode::codes;
use stompbox_sockjs as sockjs;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::end::End;
use super::parse::{Event, Flow, Receiver};
use super::write;
use crate::endpoint::Endpoint;
use crate::outbox::{Batch, ConnOutbox, Encoding};
use crate::pump::now;
use crate::ws::Framing;

/// A written batch's queue goes back to the outbox for the next batch, and `out` keeps its
/// capacity (a busy connection allocates neither, nor frees across threads); both are released
/// after this long without a batch (an idle connection keeps neither).
const SPARE_TTL: Duration = Duration::from_secs(1);

/// Bytes encoded per write.
const WRITE_CHUNK: usize = 64 * 1024;

/// Bytes read per syscall, into the thread's scratch buffer.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Where every connection on this thread reads into: data is handled before the next read.
    pub(super) static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    /// Where every connection on this thread encodes a chunk to write: only what the socket
    /// does not take at once is copied to the connection's own buffer.
    static ENCODED: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// One connection: the socket, the receive and send state, and the endpoint behind it.
pub(crate) struct Conn<Io> {
    pub(super) io: Io,
    pub(super) receiver: Receiver,
    outbox: Arc<ConnOutbox>,
    endpoint: Box<dyn Endpoint>,
    pub(super) framing: Framing,
    last_write: Instant,
    /// The batch taken from the outbox, while its items are encoded and written a chunk at a
    /// time.
    batch: Option<Box<Batch>>,
    /// Bytes being written: a chunk of the batch, pongs, SockJS frames. Its capacity is kept
    /// while busy, released with the spare queue.
    pub(super) out: BytesMut,
    /// Whether `out` carries session traffic (not only pongs): its write counts as "sent".
    out_is_traffic: bool,
    /// Bytes were written since the last flush (a no-op on TCP; TLS holds records until then).
    unflushed: bool,
    /// A close the endpoint queued: done once what was queued before it is written.
    closing: Option<Box<CloseStatus>>,
    /// When to release the buffers kept for the next batch, if any are.
    spare_until: Option<Instant>,
    /// Back-pressure: outboxes to wait for before reading again (empty when not paused).
    congested: Vec<Arc<dyn Outbox>>,
    /// The peer closed while input was paused: the end, once the buffered input is handled.
    deferred: Option<Box<End>>,
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
            batch: None,
            out: BytesMut::new(),
            out_is_traffic: false,
            unflushed: false,
            closing: None,
            spare_until: None,
            congested: Vec::new(),
            deferred: None,
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
            false => match self.handle_input(&mut early, now()) {
                Some(end @ End::PeerClosed(..)) if !self.congested.is_empty() => {
                    self.deferred = Some(Box::new(end));
                    None
                }
                end => end.map(Box::new),
            },
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
            if self.out.is_empty() {
                let encoding = self.encoding();
                if let Some(batch) = self.batch.as_deref_mut() {
                    if batch.items.is_empty() {
                        self.finish_batch();
                    } else {
                        match self.write_encoded(cx, encoding) {
                            Ok(()) => continue,
                            Err(_) => return Poll::Ready(End::Drop(CloseStatus::abnormal())),
                        }
                    }
                }
                if let Some(status) = self.closing.take() {
                    return Poll::Ready(End::Close(*status));
                }
                if let Poll::Ready(batch) = self.outbox.poll_take(cx) {
                    self.batch = Some(Box::new(batch));
                    continue;
                }
            }
            match self.poll_write_some(cx) {
                Poll::Ready(Ok(true)) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(End::Drop(CloseStatus::abnormal())),
                Poll::Ready(Ok(false)) if self.unflushed => {
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(_)) => {
                            return Poll::Ready(End::Drop(CloseStatus::abnormal()));
                        }
                        Poll::Pending => {}
                    }
                }
                Poll::Ready(Ok(false)) | Poll::Pending => {}
            }
            if self.congested.is_empty() {
                if let Some(end) = self.deferred.take() {
                    return Poll::Ready(*end);
                }
                if let Poll::Ready(end) = self.poll_input(cx) {
                    match end {
                        // What the peer sent before its Close is handled first, however long
                        // the back-pressure pause that holds it lasts.
                        Some(end @ End::PeerClosed(..)) if !self.congested.is_empty() => {
                            self.deferred = Some(Box::new(end));
                        }
                        Some(end) => return Poll::Ready(end),
                        None => {}
                    }
                    continue;
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
            if !self.out.is_empty() {
                // The socket is full: a slow-consumer close must not wait for it to drain.
                if let Poll::Ready(status) = self.outbox.poll_abort(cx) {
                    return Poll::Ready(End::Abort(status));
                }
            }
            return Poll::Pending;
        }
    }

    /// Encodes the next chunk of the batch and writes it; what the socket does not take is
    /// kept in `out` (so a connection whose peer keeps up holds no write buffer at all).
    fn write_encoded(&mut self, cx: &mut Context<'_>, encoding: Encoding) -> std::io::Result<()> {
        let Conn {
            io,
            batch,
            out,
            unflushed,
            ..
        } = self;
        let Some(batch) = batch.as_deref_mut() else {
            return Ok(());
        };
        let all_written = ENCODED.with_borrow_mut(|buf| {
            buf.clear();
            batch.encode(buf, encoding, WRITE_CHUNK);
            if buf.is_empty() {
                return Ok(false);
            }
            let n = match Pin::new(io).poll_write(cx, buf) {
                Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => 0,
            };
            out.extend_from_slice(&buf[n..]);
            *unflushed |= n > 0;
            if buf.capacity() > 4 * WRITE_CHUNK {
                *buf = BytesMut::new();
            }
            Ok(n > 0 && out.is_empty())
        })?;
        if all_written {
            self.last_write = now();
            self.endpoint.handle_sent(self.last_write);
        } else if !self.out.is_empty() {
            self.out_is_traffic = true;
        }
        Ok(())
    }

    /// Writes some of `out`; `Ok(false)` when it is empty.
    fn poll_write_some(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<bool>> {
        if self.out.is_empty() {
            return Poll::Ready(Ok(false));
        }
        let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
        if n == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
        }
        self.out.advance(n);
        self.unflushed = true;
        if self.out.is_empty() {
            self.out.clear();
            self.last_write = now();
            if std::mem::take(&mut self.out_is_traffic) {
                self.endpoint.handle_sent(self.last_write);
            }
        }
        Poll::Ready(Ok(true))
    }

    fn encoding(&self) -> Encoding {
        match self.framing {
            Framing::Raw => Encoding::WebSocket,
            Framing::SockJs { .. } => Encoding::SockJs,
        }
    }

    /// The batch was written: credit the outbox, note a close, keep the queue for reuse.
    fn finish_batch(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        let Batch {
            items,
            close,
            counted,
            ..
        } = *batch;
        self.outbox.written(counted);
        self.closing = close;
        self.outbox.recycle(items);
        self.spare_until = Some(self.last_write + SPARE_TTL);
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
        [
            self.endpoint.poll_timeout(),
            self.sockjs_heartbeat_due(),
            self.spare_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Queues the heartbeats that are due and lets the endpoint act on its deadlines.
    fn handle_timer(&mut self) {
        let now = now();
        if self.spare_until.is_some_and(|t| now >= t) {
            self.spare_until = None;
            self.outbox.release_spare();
            if self.out.is_empty() {
                self.out = BytesMut::new();
            }
        }
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
        self.congested.extend(self.endpoint.take_backpressure());
        end
    }
}

/// Reads once into `buf` (the thread's scratch buffer); 0 at end of stream.
pub(super) fn poll_read_into<Io: AsyncRead + Unpin>(
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
        let limits = crate::slow::SendLimits::new(1 << 20, 1 << 21, Duration::from_secs(10));
        let outbox = Arc::new(ConnOutbox::new(limits));
        let endpoint = Kind::Echo.open(
            None,
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
