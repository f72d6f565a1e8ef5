//! STOMP over plain TCP (the usual port is 61613): a thin pump between a socket and a broker
//! [`Session`]. Queued frames are copied into one buffer and written with one syscall. With
//! `[tls]`, the same over TLS (the handshake in the connection's task).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use stompbox_broker::{CloseStatus, Outbox, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::AppState;
use crate::endpoint::{Endpoint, Kind};
use crate::outbox::{ConnOutbox, Encoding};
use crate::pump::{self, now};
use crate::tls;

/// Largest batch copied into one write.
const MAX_BATCH_BYTES: usize = 256 * 1024;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Arc<AppState>,
    tls: Option<TlsAcceptor>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let app2 = app.clone();
                    match &tls {
                        None => app.tracker.spawn(serve(stream, remote, app2)),
                        Some(tls) => app.tracker.spawn(serve_tls(tls.clone(), stream, remote, app2)),
                    };
                }
                Err(error) => {
                    // EMFILE and friends: say so and keep accepting.
                    tracing::warn!("STOMP/TCP accept failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = app.stop_accepting.cancelled() => return,
        }
    }
}

async fn serve(stream: TcpStream, remote: SocketAddr, app: Arc<AppState>) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    serve_split(&mut reader, &mut writer, remote, &app).await;
}

/// STOMP over TLS: the same once the handshake is done (a failed one is only logged).
async fn serve_tls(tls: TlsAcceptor, stream: TcpStream, remote: SocketAddr, app: Arc<AppState>) {
    if let Some(stream) = tls::handshake(&tls, stream, remote, &app.stop_accepting).await {
        let (mut reader, mut writer) = tokio::io::split(stream);
        serve_split(&mut reader, &mut writer, remote, &app).await;
    }
}

async fn serve_split(
    reader: &mut (impl AsyncRead + Unpin),
    writer: &mut (impl AsyncWrite + Unpin),
    remote: SocketAddr,
    app: &AppState,
) {
    let (mut session, outbox) = pump::open(
        &Kind::Stomp(app.broker.clone()),
        None,
        Transport::Tcp,
        remote,
        &app.send_limits,
    );
    let status = run(session.as_mut(), reader, writer, &outbox).await;
    // Bounded: over TLS the close_notify may never fit into the socket of a slow consumer.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer.shutdown()).await;
    outbox.close();
    session.close(status, now());
}

/// Waits until every outbox that paused reading has drained.
async fn drained(congested: &mut Vec<Arc<dyn Outbox>>) {
    while let Some(outbox) = congested.last() {
        poll_fn(|cx| outbox.poll_drained(cx)).await;
        congested.pop();
    }
}

async fn run(
    session: &mut dyn Endpoint,
    reader: &mut (impl AsyncRead + Unpin),
    writer: &mut (impl AsyncWrite + Unpin),
    outbox: &ConnOutbox,
) -> CloseStatus {
    let mut read_buf = vec![0u8; 4096];
    let mut out = BytesMut::new();
    // Back-pressure: outboxes to wait for before reading again.
    let mut congested: Vec<Arc<dyn Outbox>> = Vec::new();
    loop {
        let deadline = session.poll_timeout();
        let paused = !congested.is_empty();
        tokio::select! {
            biased;
            mut batch = poll_fn(|cx| outbox.poll_take(cx)) => {
                while !batch.items.is_empty() {
                    batch.encode(&mut out, Encoding::Stomp, MAX_BATCH_BYTES);
                    tokio::select! {
                        biased;
                        written = writer.write_all(&out) => if written.is_err() {
                            return CloseStatus::abnormal();
                        },
                        // A slow consumer whose socket is full: closed without waiting for it.
                        status = poll_fn(|cx| outbox.poll_abort(cx)) => return status,
                    }
                    out.clear();
                    session.handle_sent(now());
                }
                // A no-op on TCP; TLS may hold the end of the batch until flushed.
                tokio::select! {
                    biased;
                    flushed = writer.flush() => if flushed.is_err() {
                        return CloseStatus::abnormal();
                    },
                    status = poll_fn(|cx| outbox.poll_abort(cx)) => return status,
                }
                if out.capacity() > MAX_BATCH_BYTES {
                    out = BytesMut::new();
                }
                outbox.written(batch.counted);
                if let Some(status) = batch.close {
                    if let Some(error) = shutdown_error(&status) {
                        let _ = writer.write_all(&error).await;
                        let _ = writer.flush().await;
                    }
                    return *status;
                }
            }
            () = drained(&mut congested), if paused => {
                session.resume(now());
                congested = session.take_backpressure();
            }
            read = reader.read(&mut read_buf), if !paused => match read {
                // EOF or reset without DISCONNECT: the TCP analogue of 1006.
                Ok(0) | Err(_) => return CloseStatus::abnormal(),
                Ok(n) => {
                    session.handle_data(&read_buf[..n], now());
                    congested = session.take_backpressure();
                }
            },
            () = pump::sleep_until(deadline) => {
                if paused {
                    // Not reading is our doing while paused: the peer is not silent as far as
                    // we know.
                    session.handle_activity(now());
                }
                session.handle_timeout(now());
            }
        }
    }
}

/// STOMP over TCP has no close code: a shutdown (1001, or 1012 with `serve --restart`) is
/// announced by an ERROR frame that names it, written after everything queued before it.
fn shutdown_error(status: &CloseStatus) -> Option<bytes::Bytes> {
    use stompbox_closecode::codes;
    let shutdown = matches!(status.code, codes::GOING_AWAY | codes::SERVICE_RESTART);
    if !shutdown || status.closed_by != stompbox_broker::ClosedBy::Server {
        return None;
    }
    let name = stompbox_closecode::lookup(status.code).map_or("", |e| e.name);
    let message = format!("{} ({} {name})", status.wire_reason(), status.code);
    let frame = stompbox_stomp::Frame::new(stompbox_stomp::Command::Error)
        .with_header("message", message.clone())
        .with_header("content-type", "text/plain")
        .with_body(format!("{message}\n"));
    Some(stompbox_stomp::encode(
        &frame,
        stompbox_stomp::Version::V1_2,
    ))
}
