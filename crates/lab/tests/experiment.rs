//! `stompbox lab 1006` end to end with small numbers, and the server's idle-timeout detection
//! seen through the proxy.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use stompbox_lab::client::{Client, ConnectOptions, Event};
use stompbox_lab::experiment::{self, ExperimentConfig};
use stompbox_lab::proxy::{Proxy, ProxyConfig};
use stompbox_server::{Server, ServerConfig, Shutdown};

#[tokio::test]
async fn the_lab_shows_the_seeds_1006_and_then_the_fix() {
    let config = ExperimentConfig {
        heartbeat: Duration::from_secs(3),
        proxy_timeout: Duration::from_secs(1),
        fixed_heartbeat: Duration::from_millis(300),
        hold: Duration::from_millis(2500),
    };
    let mut lines = Vec::new();
    let report = experiment::run(config, &mut |l| lines.push(l))
        .await
        .unwrap();
    let text = lines.join("\n");
    assert_eq!(report.broken.server_status.code, 1006, "{text}");
    assert_eq!(report.broken.client_code, 1006, "{text}");
    let idle = report.broken.server_idle.as_secs_f64();
    assert!((0.9..1.5).contains(&idle), "server idle {idle}: {text}");
    assert!(report.broken.cut.is_some(), "{text}");
    assert!(report.broken.server_line.contains("code=1006"), "{text}");
    assert_eq!(report.fixed.server_status.code, 1000, "{text}");
    assert!(report.fixed.cut.is_none(), "{text}");
    assert!(report.fixed.heartbeats >= 5, "{text}");
    assert!(text.contains("stompbox explain 1006"), "{text}");
}

#[test]
fn numbers_that_make_no_experiment_are_refused() {
    let bad = ExperimentConfig {
        fixed_heartbeat: Duration::from_secs(20),
        ..ExperimentConfig::default()
    };
    assert!(bad.validate().is_err());
    let bad = ExperimentConfig {
        heartbeat: Duration::from_secs(5),
        ..ExperimentConfig::default()
    };
    assert!(bad.validate().is_err());
    assert!(ExperimentConfig::default().validate().is_ok());
}

#[tokio::test]
async fn the_server_names_the_proxys_idle_timeout_after_three_cuts() {
    let mut config = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..ServerConfig::default()
    };
    config.stomp.heart_beat = "0,0".into();
    config.sockjs.heartbeat = Duration::from_secs(30);
    let server = Server::bind(config).await.unwrap();
    let upstream = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task =
        tokio::spawn(server.run(async move { stopped.await.unwrap_or(Shutdown::GoingAway) }));
    let proxy = Proxy::bind(ProxyConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        upstream,
        read_timeout: Some(Duration::from_millis(1500)),
        send_timeout: None,
    })
    .await
    .unwrap();
    let url = format!("http://{}/test-ws", proxy.local_addr());
    tokio::spawn(proxy.run(std::future::pending()));
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(
            Client::connect(&url, ConnectOptions::default())
                .await
                .unwrap(),
        );
        // Opened apart, so the cuts are apart: one instant's losses are not taken for a timeout.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    for c in &mut clients {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), c.next_event())
                .await
                .unwrap()
                .unwrap()
            {
                Event::Closed { code, .. } => {
                    assert_eq!(code, 1006);
                    break;
                }
                _ => continue,
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The finding is in /api/stats.
    let stats = http_get(upstream, "/api/stats").await;
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let findings = v["idleTimeouts"].as_array().unwrap();
    let closes = http_get(upstream, "/api/closes").await;
    assert_eq!(findings.len(), 1, "{closes}");
    let idle = findings[0]["idleSeconds"].as_f64().unwrap();
    assert!((1.4..2.0).contains(&idle), "{idle}");
    let _ = stop.send(Shutdown::GoingAway);
    let _ = task.await;
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_string()
}
