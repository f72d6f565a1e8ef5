//! The raw floor (issue 6): the same fan-out as a broker, written as a minimal broadcaster that
//! sends one pre-encoded frame to N sockets with no broker at all. `stompbox bench raw-floor`
//! compares a broker to it.
//!
//! It speaks just enough STOMP over WebSocket for the generator's conventions
//! (notes/bench-spec.md): a hand-written upgrade (`handshake`), client frames read with
//! tungstenite's frame header parser (`ws`), CONNECT/SUBSCRIBE/UNSUBSCRIBE/SEND/DISCONNECT
//! (`session`), subscriber groups shared copy-on-write (`groups`).
//!
//! Each connection is one task running a reader and a writer side by side. The writer owns a
//! bounded queue of ready-to-send frames; it waits for one, takes everything else queued and
//! writes the batch with one `write`. A publisher pushes the same `Bytes` into every
//! subscriber's queue and waits when one is full, so a slow subscriber throttles publishers
//! (TCP does the rest) instead of growing the floor's memory.

mod groups;
mod handshake;
mod session;
mod ws;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, Receiver};
use tokio::task::JoinSet;
use tokio::time::timeout;

use groups::Groups;
use session::{Flow, MAX_FRAME, Session};

/// Frames a connection's queue holds before publishers wait for its writer.
const QUEUE: usize = 1024;
/// Most frames taken from the queue for one batch.
const BATCH: usize = 256;
/// A batch is written once it holds this many bytes.
const FLUSH_AT: usize = 64 * 1024;
/// Room made in a read buffer before each read.
const READ_CHUNK: usize = 4096;
/// How long a client has to send its upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the floor waits, after its close frame, for the client's close and for the
/// writer to drain.
const LINGER: Duration = Duration::from_secs(5);

/// Serves the floor on `listener` until this future is dropped; dropping it ends every
/// connection. Accept errors (e.g. out of file descriptors) are reported on stderr and retried.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    let groups = Arc::new(Groups::default());
    let mut connections = JoinSet::new();
    let mut next_conn = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next_conn += 1;
                    connections.spawn(connection(stream, Arc::clone(&groups), next_conn));
                }
                Err(error) => {
                    eprintln!("floor: accept failed: {error}; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// One connection, from the upgrade request to the last byte written.
async fn connection(stream: TcpStream, groups: Arc<Groups>, conn: u64) {
    // Frames are batched by the writer, so Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = BytesMut::new();
    let response = match timeout(HANDSHAKE_TIMEOUT, upgrade(&mut reader, &mut buf)).await {
        Ok(Ok(response)) => response,
        Ok(Err(Some(rejection))) => {
            let _ = writer.write_all(rejection.response().as_bytes()).await;
            let _ = writer.shutdown().await;
            return;
        }
        Ok(Err(None)) | Err(_) => return,
    };
    if writer.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    let (queue, outgoing) = mpsc::channel(QUEUE);
    let write = write_loop(writer, outgoing);
    tokio::pin!(write);
    tokio::select! {
        // The session is gone, so only in-flight deliveries can still queue: drain, then FIN.
        () = read_loop(reader, buf, Session::new(conn, groups, queue)) => {
            let _ = timeout(LINGER, write).await;
        }
        // The socket cannot be written: dropping the reader drops the session.
        _ = &mut write => {}
    }
}

/// Reads the upgrade request; `Err(None)` when the client went away first.
async fn upgrade(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<String, Option<handshake::Rejection>> {
    loop {
        if let Some(upgrade) = handshake::parse(buf)? {
            buf.advance(upgrade.consumed);
            return Ok(upgrade.response);
        }
        if !fill(reader, buf).await {
            return Err(None);
        }
    }
}

/// Feeds the session until the connection closes.
async fn read_loop(mut reader: OwnedReadHalf, mut buf: BytesMut, mut session: Session) {
    let mut frames = ws::Reader::new(MAX_FRAME);
    let parse_until_close = loop {
        match frames.read(&mut buf) {
            Ok(Some(message)) => match session.handle(message).await {
                Flow::Continue => continue,
                Flow::Close => break true,
                Flow::Closed => return,
            },
            Ok(None) => {}
            Err(violation) => {
                session.fail(violation).await;
                break false;
            }
        }
        if !fill(&mut reader, &mut buf).await {
            return;
        }
    };
    // The floor sent a close frame: wait for the client's (or EOF) before closing TCP, so the
    // client reads our frames instead of a reset (RFC 6455 §7.1.1). Unparseable bytes are
    // skipped.
    let _ = timeout(LINGER, async {
        loop {
            if parse_until_close {
                match frames.read(&mut buf) {
                    Ok(Some(ws::Message::Close(_))) | Err(_) => return,
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                }
            } else {
                buf.clear();
            }
            if !fill(&mut reader, &mut buf).await {
                return;
            }
        }
    })
    .await;
}

/// Reads more bytes into `buf`; `false` at EOF or on an error.
///
/// An empty buffer is released before waiting and allocated when bytes are there, so idle
/// connections hold no read buffer.
async fn fill(reader: &mut OwnedReadHalf, buf: &mut BytesMut) -> bool {
    if buf.is_empty() {
        *buf = BytesMut::new();
    }
    loop {
        if reader.readable().await.is_err() {
            return false;
        }
        buf.reserve(READ_CHUNK);
        match reader.try_read_buf(buf) {
            Ok(n) => return n > 0,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
}

/// Writes queued frames, many per `write` when they pile up, until every sender is gone.
async fn write_loop(mut writer: OwnedWriteHalf, mut outgoing: Receiver<Bytes>) -> io::Result<()> {
    let mut items: Vec<Bytes> = Vec::new();
    while outgoing.recv_many(&mut items, BATCH).await > 0 {
        if let [item] = items.as_slice() {
            writer.write_all(item).await?;
        } else {
            let total: usize = items.iter().map(Bytes::len).sum();
            // A fresh buffer per batch: idle connections keep no batch memory.
            let mut batch = BytesMut::with_capacity(total.min(FLUSH_AT));
            for item in &items {
                if !batch.is_empty() && batch.len() + item.len() > FLUSH_AT {
                    writer.write_all(&batch).await?;
                    batch.clear();
                }
                batch.extend_from_slice(item);
            }
            writer.write_all(&batch).await?;
        }
        items.clear();
        if outgoing.is_empty() && items.capacity() > 16 {
            // Idle after a burst: keep no batch memory.
            items = Vec::new();
        }
    }
    writer.shutdown().await
}
