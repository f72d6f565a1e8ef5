//! `Proxy` cuts like nginx: `read_timeout` after the upstream's silence (either side's, once
//! upgraded by a 101), `send_timeout` only when writes to the upstream stall — each within
//! ±200 ms, with a plain TCP close on both sides.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stompbox_lab::proxy::Timeout;
use support::{assert_near, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const READ: Duration = Duration::from_secs(1);

/// A proxied connection: (client side, upstream side).
async fn pair(listener: &TcpListener, proxy: std::net::SocketAddr) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(proxy).await.unwrap();
    let (upstream, _) = listener.accept().await.unwrap();
    (client, upstream)
}

/// Reads until EOF; returns when it came. Fails on data or after 5 s.
async fn eof(stream: &mut TcpStream) -> Instant {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
        Ok(Ok(0)) => Instant::now(),
        other => panic!("expected EOF, got {other:?}"),
    }
}

/// Reads (and drops) until EOF; returns when it came.
async fn drain_to_eof(stream: &mut TcpStream) -> Instant {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) => return Instant::now(),
            Ok(Ok(_)) => {}
            other => panic!("expected EOF, got {other:?}"),
        }
    }
}

/// Sends a byte every 300 ms, five times (longer than `READ` in total).
async fn trickle(stream: &mut TcpStream) {
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stream.write_all(b".").await.unwrap();
    }
}

#[tokio::test]
async fn read_timeout_cuts_a_silent_connection_on_both_sides() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, mut cuts) = start_proxy(listener.local_addr().unwrap(), Some(READ), None).await;
    let start = Instant::now();
    let (mut client, mut upstream) = pair(&listener, proxy).await;
    assert_near(eof(&mut client).await - start, READ);
    eof(&mut upstream).await;
    let cut = cuts.recv().await.unwrap();
    assert_eq!((cut.which, cut.upgraded), (Timeout::Read, false));
    assert_near(cut.idle, READ);
}

#[tokio::test]
async fn upstream_data_rearms_the_read_timer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, _cuts) = start_proxy(listener.local_addr().unwrap(), Some(READ), None).await;
    let (mut client, mut upstream) = pair(&listener, proxy).await;
    trickle(&mut upstream).await;
    let mut got = [0u8; 5];
    client.read_exact(&mut got).await.unwrap();
    let last = Instant::now();
    assert_near(eof(&mut client).await - last, READ);
}

#[tokio::test]
async fn client_data_does_not_rearm_it_before_an_upgrade() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, _cuts) = start_proxy(listener.local_addr().unwrap(), Some(READ), None).await;
    let start = Instant::now();
    let (mut client, mut upstream) = pair(&listener, proxy).await;
    // Writes after the cut may fail; the cut itself is what is measured.
    tokio::spawn(async move { trickle(&mut client).await });
    assert_near(drain_to_eof(&mut upstream).await - start, READ);
}

#[tokio::test]
async fn client_data_rearms_it_after_101_switching_protocols() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, mut cuts) = start_proxy(listener.local_addr().unwrap(), Some(READ), None).await;
    let (mut client, mut upstream) = pair(&listener, proxy).await;
    let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    upstream.write_all(answer).await.unwrap();
    let mut got = vec![0u8; answer.len()];
    client.read_exact(&mut got).await.unwrap();
    trickle(&mut client).await;
    let last = Instant::now();
    assert_near(eof(&mut client).await - last, READ);
    let cut = cuts.recv().await.unwrap();
    assert_eq!((cut.which, cut.upgraded), (Timeout::Read, true));
}

#[tokio::test]
async fn send_timeout_never_cuts_an_idle_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, mut cuts) = start_proxy(listener.local_addr().unwrap(), None, Some(READ)).await;
    let (mut client, _upstream) = pair(&listener, proxy).await;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(2 * READ, client.read(&mut buf)).await;
    assert!(
        read.is_err(),
        "still open after twice the send timeout: {read:?}"
    );
    assert!(cuts.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_timeout_cuts_when_the_upstream_stops_reading() {
    // A small receive buffer upstream, so that the proxy's writes stall soon after it stops
    // reading.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(8).unwrap();
    let (proxy, mut cuts) = start_proxy(listener.local_addr().unwrap(), None, Some(READ)).await;
    let (mut client, mut upstream) = pair(&listener, proxy).await;
    let client_progress = Arc::new(Mutex::new(Instant::now()));
    let progress = client_progress.clone();
    tokio::spawn(async move {
        let chunk = vec![b'x'; 16 * 1024];
        while client.write_all(&chunk).await.is_ok() {
            *progress.lock().unwrap() = Instant::now();
        }
    });
    let reading = Arc::new(AtomicBool::new(true));
    let reader = reading.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while reader.load(Ordering::Relaxed) {
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(50), upstream.read(&mut buf)).await
            {
                return;
            }
        }
        // Keep the connection open without reading: the proxy's writes stall.
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(upstream);
    });
    // Traffic to a reading upstream for twice the send timeout: no cut.
    tokio::time::sleep(2 * READ).await;
    assert!(
        cuts.try_recv().is_err(),
        "cut while the upstream was reading"
    );
    reading.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    let cut = tokio::time::timeout(Duration::from_secs(5), cuts.recv())
        .await
        .unwrap()
        .unwrap();
    let at = Instant::now();
    assert_eq!((cut.which, cut.idle), (Timeout::Send, READ));
    // The proxy's writes stalled after the upstream stopped reading and before the client's
    // writes did (the client fills the proxy's receive buffer last): the cut is one send
    // timeout after a moment between the two.
    let client_stalled = *client_progress.lock().unwrap();
    let slack = Duration::from_millis(20);
    assert!(
        at - stopped >= READ - slack,
        "cut {:?} after the stop",
        at - stopped
    );
    assert!(
        at - client_stalled <= READ + slack,
        "cut {:?} after the client's last write",
        at - client_stalled
    );
    assert_near(at - stopped, READ);
}
