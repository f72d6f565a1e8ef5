//! `Sec-WebSocket-Protocol` negotiation: the best STOMP version the client offers wins, and
//! clients that offer none are accepted.
#![allow(clippy::unwrap_used)]

mod support;

use support::{Client, TestServer};

#[tokio::test]
async fn the_best_offered_version_is_selected() {
    let server = TestServer::start().await;
    let c = Client::open(&server.url(), &["v10.stomp", "v11.stomp", "v12.stomp"]).await;
    assert_eq!(c.protocol.as_deref(), Some("v12.stomp"));
}

#[tokio::test]
async fn stomp_js_2_3_3_offering_only_1_0_and_1_1_gets_1_1() {
    let server = TestServer::start().await;
    let mut c = Client::open(&server.url(), &["v10.stomp", "v11.stomp"]).await;
    assert_eq!(c.protocol.as_deref(), Some("v11.stomp"));
    c.send_text("CONNECT\naccept-version:1.1,1.0\nheart-beat:10000,10000\n\n\0")
        .await;
    let connected = c.frame().await;
    assert_eq!(connected.header("version"), Some("1.1"));
    assert_eq!(connected.header("heart-beat"), Some("10000,10000"));
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_is_accepted() {
    let server = TestServer::start().await;
    let mut c = Client::open(&server.url(), &[]).await;
    assert_eq!(c.protocol, None);
    c.send_text("CONNECT\naccept-version:1.2\n\n\0").await;
    assert_eq!(c.frame().await.header("version"), Some("1.2"));
}

#[tokio::test]
async fn a_client_offering_only_unknown_subprotocols_is_upgraded_without_one() {
    // tungstenite's client (like Node's `ws`) then refuses the handshake itself, so look at the
    // raw response.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /test-ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n\r\n",
        server.addr
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let n = s.read(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response[..n]).to_lowercase();
    assert!(response.starts_with("http/1.1 101"), "{response}");
    assert!(!response.contains("sec-websocket-protocol"), "{response}");
}

async fn plain_get(server: &TestServer) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /test-ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_plain_get_on_the_endpoint_gets_the_sockjs_greeting() {
    let server = TestServer::start().await;
    let response = plain_get(&server).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("Welcome to SockJS!\n"), "{response}");
}

#[tokio::test]
async fn without_sockjs_a_plain_get_on_the_endpoint_is_refused_with_a_reason() {
    let server = TestServer::start_with(|c| c.sockjs.enabled = false).await;
    let response = plain_get(&server).await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.to_lowercase().contains("upgrade"), "{response}");
}
