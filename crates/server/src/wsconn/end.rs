//! How a WebSocket connection ends (RFC 6455 §7): answering the peer's Close, or sending ours
//! and waiting (bounded) for its reply, or just dropping the socket. Runs once per connection,
//! in a boxed future, so that none of its state sits in every idle connection's task.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::Duration;

use stompbox_broker::CloseStatus;
use stompbox_sockjs as sockjs;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::conn::{Conn, SCRATCH, poll_read_into};
use super::parse::{Event, Flow};
use super::write;
use crate::ws::Framing;

/// How long a server-initiated close may take: sending our Close and receiving the peer's.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// How a connection ends.
#[derive(Debug)]
pub(super) enum End {
    /// The peer sent Close: answer with the same code and reason, then stop.
    PeerClosed(CloseStatus, Option<(u16, String)>),
    /// We fail or close the connection: send Close, wait (bounded) for the reply.
    Close(CloseStatus),
    /// Stop at once without a Close frame (the peer vanished, or SockJS broken JSON).
    Drop(CloseStatus),
    /// A slow consumer: its socket is full, so our Close goes out only if it fits now (after
    /// the rest of any frame already started), and nobody waits for a reply.
    Abort(CloseStatus),
}

impl<Io: AsyncRead + AsyncWrite + Unpin + Send> Conn<Io> {
    /// [`Conn::end`], boxed: it runs once per connection, so its state should not weigh on
    /// every idle connection's task.
    pub(super) fn end_boxed(
        &mut self,
        end: End,
    ) -> Pin<Box<dyn Future<Output = CloseStatus> + Send + '_>> {
        Box::pin(self.end(end))
    }

    /// Ends the connection as `end` says; returns the status the session closes with.
    pub(super) async fn end(&mut self, end: End) -> CloseStatus {
        match end {
            End::PeerClosed(status, reply) => {
                // After the rest of any frame already started.
                write::put_close(&mut self.out, reply.as_ref().map(|(c, r)| (*c, r.as_str())));
                let out = std::mem::take(&mut self.out);
                let reply = async {
                    self.io.write_all(&out).await?;
                    self.io.flush().await
                };
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, reply).await;
                status
            }
            End::Close(status) => {
                let _ =
                    tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, self.close_handshake(&status))
                        .await;
                status
            }
            End::Drop(status) => status,
            End::Abort(status) => {
                self.put_close(&status);
                let out = std::mem::take(&mut self.out);
                // One attempt each to write and to flush (TLS), without waiting.
                let _ = poll_fn(|cx| {
                    let _ = Pin::new(&mut self.io).poll_write(cx, &out);
                    Poll::Ready(Pin::new(&mut self.io).poll_flush(cx))
                })
                .await;
                status
            }
        }
    }

    /// Queues our Close after what is pending (SockJS's `c[…]` frame first).
    fn put_close(&mut self, status: &CloseStatus) {
        if let Framing::SockJs { .. } = self.framing {
            let frame = sockjs::close_frame(status.code, status.wire_reason());
            write::put_text(&mut self.out, &frame);
        }
        write::put_close(&mut self.out, Some((status.code, status.wire_reason())));
    }

    /// Sends our Close (after what is pending, and SockJS's `c[…]` frame) and waits for the
    /// peer's, discarding anything else it sends meanwhile.
    async fn close_handshake(&mut self, status: &CloseStatus) {
        self.put_close(status);
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
