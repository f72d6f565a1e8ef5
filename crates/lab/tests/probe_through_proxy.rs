//! `probe` measures a proxy's idle timeout over raw WebSocket and SockJS, within ±200 ms, and
//! the server logs the cut as 1006; without a cut it reports the whole wait, and keeps a SockJS
//! session free of `h` frames.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_broker::ClosedBy;
use stompbox_lab::client::Transport;
use stompbox_lab::probe::{Outcome, ProbeOptions, Recheck, probe};
use support::{assert_near, next_close, start_proxy, start_server};

async fn measure(transport: Transport, read_timeout: Duration) {
    let (server, mut events) = start_server(|_| {}).await;
    let (proxy, mut cuts) = start_proxy(server, Some(read_timeout), None).await;
    let url = match transport {
        Transport::WebSocket => format!("ws://{proxy}/test-ws"),
        Transport::SockJs => format!("http://{proxy}/test-ws"),
    };
    let options = ProbeOptions {
        max_wait: Duration::from_secs(10),
        ..ProbeOptions::default()
    };
    let report = probe(&url, &options).await.unwrap();
    let Outcome::Closed {
        idle, code, clean, ..
    } = report.outcome
    else {
        panic!("not cut: {report:?}");
    };
    assert_eq!((code, clean), (1006, false), "{report:?}");
    // The server behind the proxy still answers: an idle cut, not a server that went away.
    assert_eq!(report.recheck, Some(Recheck::Answered), "{report:?}");
    assert!(report.recommended_heartbeat().is_some());
    assert_near(idle, read_timeout);
    assert_eq!(report.received_while_waiting, 0, "{report:?}");
    assert_eq!(report.transport, transport);
    let cut = cuts.recv().await.unwrap();
    assert!(cut.upgraded);
    let status = next_close(&mut events).await;
    assert_eq!((status.code, status.closed_by), (1006, ClosedBy::Nobody));
}

#[tokio::test]
async fn websocket_cut_after_1s() {
    measure(Transport::WebSocket, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn websocket_cut_after_3s() {
    measure(Transport::WebSocket, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn sockjs_cut_after_1s() {
    measure(Transport::SockJs, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn sockjs_cut_after_3s() {
    measure(Transport::SockJs, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn uncut_sockjs_session_stays_silent_and_reports_the_wait() {
    // `h` after 200 ms of silence, unless STOMP heart-beats were negotiated: the probe's
    // heart-beat wish must switch them off.
    let (server, mut events) =
        start_server(|c| c.sockjs.heartbeat = Duration::from_millis(200)).await;
    let options = ProbeOptions {
        max_wait: Duration::from_millis(1500),
        ..ProbeOptions::default()
    };
    let report = probe(&format!("http://{server}/test-ws"), &options)
        .await
        .unwrap();
    let Outcome::Survived { waited } = report.outcome else {
        panic!("cut: {report:?}");
    };
    assert_near(waited, options.max_wait);
    assert_eq!(report.received_while_waiting, 0, "{report:?}");
    assert!(
        report
            .summary()
            .starts_with("nothing cut the idle connection within 1.5 s")
    );
    let status = next_close(&mut events).await;
    assert_eq!((status.code, status.closed_by), (1000, ClosedBy::Client));
}
