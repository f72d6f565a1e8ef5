//! STOMP over plain TCP.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::BytesMut;
use stompbox_broker::ClosedBy;
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};
use support::{TestServer, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Tcp {
    stream: TcpStream,
    decoder: Decoder,
    buf: BytesMut,
}

impl Tcp {
    async fn open(server: &TestServer) -> Tcp {
        Tcp {
            stream: TcpStream::connect(server.tcp_addr.unwrap()).await.unwrap(),
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
        }
    }

    async fn write(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    /// The next frame, or None at EOF.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            match self.decoder.decode(&mut self.buf).unwrap() {
                Some(Item::Frame(f)) => return Some(f),
                Some(Item::HeartBeat) => continue,
                None => {}
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("in time")
                .unwrap();
            if n == 0 {
                return None;
            }
        }
    }
}

async fn tcp_server() -> TestServer {
    TestServer::start_with(|c| c.tcp_listen = Some("127.0.0.1:0".parse().unwrap())).await
}

#[tokio::test]
async fn stomp_over_tcp_subscribes_sends_and_receives() {
    let server = tcp_server().await;
    let mut c = Tcp::open(&server).await;
    c.write("CONNECT\naccept-version:1.2\nhost:h\n\n\0").await;
    assert_eq!(c.frame().await.unwrap().command, Command::Connected);
    c.write("SUBSCRIBE\nid:0\ndestination:/topic/t\n\n\0SEND\ndestination:/topic/t\n\nhi\0")
        .await;
    let m = c.frame().await.unwrap();
    assert_eq!(m.command, Command::Message);
    assert_eq!(&m.body[..], b"hi");
}

#[tokio::test]
async fn websocket_and_tcp_clients_share_topics() {
    let server = tcp_server().await;
    let mut t = Tcp::open(&server).await;
    t.write(
        "CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/t\nreceipt:r\n\n\0",
    )
    .await;
    t.frame().await.unwrap();
    assert_eq!(t.frame().await.unwrap().command, Command::Receipt);
    let (mut w, _) = support::Client::connect(&server, "w").await;
    w.send_frame(&support::send("/topic/t", "from ws")).await;
    assert_eq!(&t.frame().await.unwrap().body[..], b"from ws");
}

#[tokio::test]
async fn eof_without_disconnect_is_reported_as_1006() {
    let mut server = tcp_server().await;
    let mut c = Tcp::open(&server).await;
    c.write("CONNECT\naccept-version:1.2\n\n\0").await;
    c.frame().await.unwrap();
    drop(c);
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1006, ClosedBy::Nobody));
    server.assert_empty();
}

#[tokio::test]
async fn disconnect_gets_its_receipt_and_the_connection_ends() {
    let mut server = tcp_server().await;
    let mut c = Tcp::open(&server).await;
    c.write("CONNECT\naccept-version:1.2\n\n\0DISCONNECT\nreceipt:77\n\n\0")
        .await;
    c.frame().await.unwrap();
    assert_eq!(c.frame().await.unwrap().header("receipt-id"), Some("77"));
    assert!(c.frame().await.is_none(), "server closes after DISCONNECT");
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1000, ClosedBy::Client));
}

#[tokio::test]
async fn a_bad_frame_gets_an_error_and_the_connection_ends() {
    let server = tcp_server().await;
    let mut c = Tcp::open(&server).await;
    c.write("CONNECT\naccept-version:1.2\n\n\0FOO\n\n\0").await;
    c.frame().await.unwrap();
    let e = c.frame().await.unwrap();
    assert_eq!(e.command, Command::Error);
    assert!(e.header("message").unwrap().contains("FOO"));
    assert!(c.frame().await.is_none());
}
