//! Queues lose nothing, over real sockets: a receipted SEND with no consumer waits for one,
//! competing consumers get each message once, NACK and killed consumers (TCP dropped mid-stream)
//! hand their unacknowledged messages to another consumer marked `redelivered:true`, and a full
//! queue refuses with an ERROR and 1013 instead of dropping.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use bytes::BytesMut;
use stompbox_broker::ClosedBy;
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits};
use support::{Client, TestServer, WAIT, send, subscribe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// STOMP over TCP: a consumer whose socket can be dropped without a word.
struct Tcp {
    stream: TcpStream,
    decoder: Decoder,
    buf: BytesMut,
}

impl Tcp {
    async fn connect(server: &TestServer) -> Tcp {
        let stream = TcpStream::connect(server.tcp_addr.unwrap()).await.unwrap();
        let mut t = Tcp {
            stream,
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
        };
        t.write("CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
            .await;
        assert_eq!(t.frame().await.command, Command::Connected);
        t
    }

    async fn write(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    async fn frame(&mut self) -> Frame {
        loop {
            if let Some(Item::Frame(f)) = self.decoder.decode(&mut self.buf).unwrap() {
                return f;
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a frame in time")
                .unwrap();
            assert!(n > 0, "the server closed the connection");
        }
    }
}

async fn tcp_server(max_queue_depth: usize) -> TestServer {
    TestServer::start_with(|c| {
        c.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
        c.limits.max_queue_depth = max_queue_depth;
    })
    .await
}

fn body(f: &Frame) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

fn is_redelivered(f: &Frame) -> bool {
    f.header("redelivered") == Some("true")
}

fn ack(f: &Frame) -> Frame {
    Frame::new(Command::Ack).with_header("id", f.header("ack").unwrap())
}

fn receipted(frame: Frame, receipt: &str) -> Frame {
    frame.with_header("receipt", receipt)
}

fn client_ack(id: &str, destination: &str) -> Frame {
    subscribe(id, destination).with_header("ack", "client-individual")
}

/// Sends and waits for the receipt.
async fn send_confirmed(c: &mut Client, frame: Frame) {
    c.send_frame(&receipted(frame, "r")).await;
    let r = c.frame().await;
    assert_eq!(
        (r.command, r.header("receipt-id")),
        (Command::Receipt, Some("r"))
    );
}

#[tokio::test]
async fn a_receipted_send_with_no_consumer_waits_for_a_later_subscriber() {
    let server = tcp_server(100).await;
    let (mut publisher, _) = Client::connect(&server, "p").await;
    send_confirmed(&mut publisher, send("/queue/later", "kept")).await;
    publisher.close(Some(1000)).await;
    assert_eq!(server.broker.stats().pending_messages, 1);
    let (mut consumer, _) = Client::connect(&server, "c").await;
    consumer.send_frame(&subscribe("0", "/queue/later")).await;
    let m = consumer.frame().await;
    assert_eq!((m.command, body(&m).as_str()), (Command::Message, "kept"));
    assert!(!is_redelivered(&m));
    assert_eq!(server.broker.stats().pending_messages, 0);
}

#[tokio::test]
async fn a_killed_consumers_unacked_messages_go_to_the_other_consumer_marked_redelivered() {
    let mut server = tcp_server(100).await;
    let mut killed = Tcp::connect(&server).await;
    killed
        .write("SUBSCRIBE\nid:0\ndestination:/queue/work\nack:client-individual\nreceipt:s\n\n\0")
        .await;
    assert_eq!(killed.frame().await.command, Command::Receipt);
    let (mut survivor, _) = Client::connect(&server, "survivor").await;
    send_confirmed(&mut survivor, client_ack("0", "/queue/work")).await;
    let (mut publisher, _) = Client::connect(&server, "p").await;
    for i in 0..10 {
        publisher
            .send_frame(&send("/queue/work", &format!("m{i}")))
            .await;
    }
    send_confirmed(&mut publisher, send("/queue/work", "m10")).await;
    // Round-robin: the killed consumer got m0, m2, …, m10; it reads two and vanishes.
    let first = killed.frame().await;
    let second = killed.frame().await;
    assert_eq!(
        (body(&first).as_str(), body(&second).as_str()),
        ("m0", "m2")
    );
    drop(killed);
    let mut fresh = BTreeSet::new();
    let mut again = BTreeSet::new();
    while fresh.len() + again.len() < 11 {
        let m = survivor.frame().await;
        assert_eq!(m.command, Command::Message, "{m:?}");
        survivor.send_frame(&ack(&m)).await;
        let set = if is_redelivered(&m) {
            &mut again
        } else {
            &mut fresh
        };
        assert!(set.insert(body(&m)), "{m:?} twice");
    }
    let odd: BTreeSet<String> = (1..10).step_by(2).map(|i| format!("m{i}")).collect();
    let even: BTreeSet<String> = (0..=10).step_by(2).map(|i| format!("m{i}")).collect();
    assert_eq!((fresh, again), (odd, even));
    // The killed consumer's end was noticed as the abnormal close it was.
    loop {
        let (_, status) = server.next_close().await;
        if status.code == 1006 {
            assert_eq!(status.closed_by, ClosedBy::Nobody);
            break;
        }
    }
    send_confirmed(
        &mut survivor,
        Frame::new(Command::Unsubscribe).with_header("id", "0"),
    )
    .await;
    let s = server.broker.stats();
    assert_eq!((s.unacked_messages, s.pending_messages), (0, 0), "{s:?}");
}

#[tokio::test]
async fn competing_consumers_get_each_message_exactly_once_when_all_ack() {
    const PER_CONSUMER: usize = 100;
    let server = tcp_server(100_000).await;
    let mut tasks = Vec::new();
    for i in 0..2 {
        let (mut c, _) = Client::connect(&server, &format!("ws{i}")).await;
        send_confirmed(&mut c, client_ack("0", "/queue/shared")).await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..PER_CONSUMER {
                let m = c.frame().await;
                c.send_frame(&ack(&m)).await;
                got.push(m);
            }
            send_confirmed(&mut c, Frame::new(Command::Disconnect)).await;
            got
        }));
    }
    let mut t = Tcp::connect(&server).await;
    t.write("SUBSCRIBE\nid:0\ndestination:/queue/shared\nack:client-individual\nreceipt:s\n\n\0")
        .await;
    assert_eq!(t.frame().await.command, Command::Receipt);
    tasks.push(tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..PER_CONSUMER {
            let m = t.frame().await;
            let id = m.header("ack").unwrap().to_string();
            t.write(&format!("ACK\nid:{id}\n\n\0")).await;
            got.push(m);
        }
        t.write("DISCONNECT\nreceipt:bye\n\n\0").await;
        assert_eq!(t.frame().await.header("receipt-id"), Some("bye"));
        got
    }));
    let (mut publisher, _) = Client::connect(&server, "p").await;
    let total = 3 * PER_CONSUMER;
    for i in 0..total - 1 {
        publisher
            .send_frame(&send("/queue/shared", &i.to_string()))
            .await;
    }
    send_confirmed(
        &mut publisher,
        send("/queue/shared", &(total - 1).to_string()),
    )
    .await;
    let mut seen = BTreeSet::new();
    for task in tasks {
        for m in tokio::time::timeout(WAIT, task).await.unwrap().unwrap() {
            assert_eq!(m.command, Command::Message);
            assert!(!is_redelivered(&m), "{m:?}");
            assert!(seen.insert(body(&m)), "{m:?} delivered twice");
        }
    }
    assert_eq!(seen.len(), total);
    let s = server.broker.stats();
    assert_eq!((s.unacked_messages, s.pending_messages), (0, 0), "{s:?}");
}

#[tokio::test]
async fn a_nack_hands_the_message_to_the_next_consumer_marked_redelivered() {
    let server = tcp_server(100).await;
    let (mut a, _) = Client::connect(&server, "a").await;
    send_confirmed(&mut a, client_ack("0", "/queue/nack")).await;
    let (mut b, _) = Client::connect(&server, "b").await;
    send_confirmed(&mut b, client_ack("0", "/queue/nack")).await;
    let (mut publisher, _) = Client::connect(&server, "p").await;
    send_confirmed(&mut publisher, send("/queue/nack", "job")).await;
    let m = a.frame().await;
    assert!(!is_redelivered(&m));
    let nack = Frame::new(Command::Nack).with_header("id", m.header("ack").unwrap());
    send_confirmed(&mut a, nack).await;
    let m = b.frame().await;
    assert_eq!(body(&m), "job");
    assert!(is_redelivered(&m), "{m:?}");
    send_confirmed(&mut b, ack(&m)).await;
    assert_eq!(server.broker.stats().unacked_messages, 0);
}

#[tokio::test]
async fn a_full_queue_refuses_the_send_with_an_error_and_1013_and_keeps_what_it_has() {
    let mut server = tcp_server(3).await;
    let (mut publisher, _) = Client::connect(&server, "p").await;
    for i in 0..3 {
        send_confirmed(&mut publisher, send("/queue/full", &format!("m{i}"))).await;
    }
    publisher
        .send_frame(&receipted(send("/queue/full", "m3"), "over"))
        .await;
    let e = publisher.error_then_close(1013).await;
    assert_eq!(e.header("receipt-id"), Some("over"));
    let message = e.header("message").unwrap();
    assert!(
        message.contains("/queue/full") && message.contains("limits.max_queue_depth"),
        "{message}"
    );
    drop(publisher);
    let (_, status) = server.next_close().await;
    assert_eq!((status.code, status.closed_by), (1013, ClosedBy::Server));
    let (mut consumer, _) = Client::connect(&server, "c").await;
    consumer.send_frame(&subscribe("0", "/queue/full")).await;
    for i in 0..3 {
        assert_eq!(body(&consumer.frame().await), format!("m{i}"));
    }
    send_confirmed(
        &mut consumer,
        Frame::new(Command::Unsubscribe).with_header("id", "0"),
    )
    .await;
    assert_eq!(server.broker.stats().pending_messages, 0);
}
