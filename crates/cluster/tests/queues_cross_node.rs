//! `/queue/…` destinations shared by every node through Redis streams: competing consumers,
//! each message to one consumer, kept until one subscribes, redelivered when a consumer or a
//! whole node dies before acknowledging, never redelivered once acknowledged.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use stompbox_stomp::{Command, Frame};
use support::{Client, Node, Redis, wait_for};

const QUIET: Duration = Duration::from_millis(700);

async fn subscribe_client_ack(c: &mut Client, destination: &str) {
    c.send(
        Frame::new(Command::Subscribe)
            .with_header("id", "s")
            .with_header("destination", destination)
            .with_header("ack", "client-individual")
            .with_header("receipt", "sub"),
    )
    .await;
    assert_eq!(c.recv().await.command, Command::Receipt);
}

async fn ack(c: &mut Client, message: &Frame) {
    let id = message.header("ack").unwrap().to_string();
    c.send(Frame::new(Command::Ack).with_header("id", id)).await;
}

/// Everything `c` receives until it has been quiet for `QUIET`.
async fn drain(c: &mut Client) -> Vec<Frame> {
    let mut got = Vec::new();
    while let Some(f) = c.try_recv(QUIET).await {
        assert_eq!(f.command, Command::Message, "{f:?}");
        got.push(f);
    }
    got
}

fn body(f: &Frame) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_on_two_nodes_compete_and_each_message_is_delivered_once() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "q").await;
    let b = Node::start(&redis.url(), "q").await;
    let mut on_a = Client::connect(a.tcp).await;
    let mut on_b = Client::connect(b.tcp).await;
    on_a.subscribe("s", "/queue/work").await;
    on_b.subscribe("s", "/queue/work").await;

    // The receipt comes once Redis has the message.
    let mut sender = Client::connect(a.tcp).await;
    for i in 0..40 {
        sender
            .publish(
                "/queue/work",
                &[("x-n", &i.to_string())],
                &format!("job {i}"),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (got_a, got_b) = (drain(&mut on_a).await, drain(&mut on_b).await);
    let mut all: Vec<String> = got_a.iter().chain(&got_b).map(body).collect();
    all.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!("job {i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every message once");
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both nodes' consumers got work: {} on A, {} on B",
        got_a.len(),
        got_b.len()
    );
    let f = &got_b[0];
    assert_eq!(f.header("destination"), Some("/queue/work"));
    assert!(f.header("x-n").is_some());
    assert_eq!(f.header("redelivered"), None);
    assert_eq!(a.cluster.stats().queue_stored, 40);
    assert_eq!(
        a.cluster.stats().published,
        0,
        "queues do not go over pub/sub"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_for_a_consumer_on_any_node_and_a_dead_consumers_goes_to_another() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "q").await;
    let b = Node::start(&redis.url(), "q").await;
    let mut sender = Client::connect(a.tcp).await;
    sender.publish("/queue/jobs", &[], "early").await;

    // Nobody subscribed when it was sent: kept in Redis until a consumer subscribes.
    let mut first = Client::connect(a.tcp).await;
    subscribe_client_ack(&mut first, "/queue/jobs").await;
    let got = first.recv().await;
    assert_eq!(body(&got), "early");
    // That consumer dies without ACK and A has no other: the message goes back to Redis and
    // to a consumer on B, marked redelivered.
    let mut second = Client::connect(b.tcp).await;
    subscribe_client_ack(&mut second, "/queue/jobs").await;
    drop(first);
    let again = second.recv().await;
    assert_eq!(body(&again), "early");
    assert_eq!(again.header("redelivered"), Some("true"));
    ack(&mut second, &again).await;
    assert!(
        drain(&mut second).await.is_empty(),
        "delivered again after ACK"
    );
    // Counted once the writer has settled the original in Redis (twice when A's reader, still
    // blocked from before, caught the message again and gave it back again).
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while a.cluster.stats().queue_released == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            a.cluster.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_unacknowledged_messages_go_to_another_node_and_acked_ones_do_not() {
    let redis = Redis::start();
    let timeout = Duration::from_millis(1500);
    let a = Node::start_with(&redis.url(), "q", timeout).await;
    let b = Node::start_with(&redis.url(), "q", timeout).await;
    let mut on_a = Client::connect(a.tcp).await;
    subscribe_client_ack(&mut on_a, "/queue/orders").await;
    let mut sender = Client::connect(b.tcp).await;
    for i in 0..6 {
        sender.publish("/queue/orders", &[], &format!("o{i}")).await;
    }
    let held = drain(&mut on_a).await;
    assert_eq!(held.len(), 6);
    // Three acknowledged before A dies, three not.
    for f in &held[..3] {
        ack(&mut on_a, f).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    drop(on_a);

    let mut on_b = Client::connect(b.tcp).await;
    subscribe_client_ack(&mut on_b, "/queue/orders").await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout + support::WAIT;
    while got.len() < 3 && tokio::time::Instant::now() < deadline {
        if let Some(f) = on_b.try_recv(Duration::from_millis(200)).await {
            got.push(f);
        }
    }
    let bodies: HashSet<String> = got.iter().map(body).collect();
    let unacked: HashSet<String> = held[3..].iter().map(body).collect();
    assert_eq!(bodies, unacked, "exactly the unacknowledged ones");
    assert!(got.iter().all(|f| f.header("redelivered") == Some("true")));
    for f in &got {
        ack(&mut on_b, f).await;
    }
    assert!(
        drain(&mut on_b).await.is_empty(),
        "an acknowledged message came back"
    );
    assert_eq!(b.cluster.stats().queue_claimed, 3);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_holds_the_receipt_and_a_refused_send_gets_an_error() {
    let mut redis = Redis::start();
    let a = Node::start(&redis.url(), "q").await;
    let mut consumer = Client::connect(a.tcp).await;
    consumer.subscribe("s", "/queue/held").await;
    redis.kill();
    let mut sender = Client::connect(a.tcp).await;
    sender
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/queue/held")
                .with_header("receipt", "r1")
                .with_body("kept"),
        )
        .await;
    assert!(
        sender.try_recv(QUIET).await.is_none(),
        "a receipt for a message Redis does not have"
    );
    // Redis back on the same port: the message is written, its receipt sent, and delivered.
    let _redis = Redis::start_on(redis.port);
    let receipt = sender.recv().await;
    assert_eq!(receipt.command, Command::Receipt);
    assert_eq!(receipt.header("receipt-id"), Some("r1"));
    assert_eq!(body(&consumer.recv().await), "kept");
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_gives_its_unacknowledged_messages_back_at_once() {
    let redis = Redis::start();
    // A node timeout far longer than the test: only a clean leave can hand the messages over.
    let a = Node::start_with(&redis.url(), "q", Duration::from_secs(60)).await;
    let b = Node::start_with(&redis.url(), "q", Duration::from_secs(60)).await;
    let mut on_a = Client::connect(a.tcp).await;
    subscribe_client_ack(&mut on_a, "/queue/tasks").await;
    let mut sender = Client::connect(b.tcp).await;
    sender.publish("/queue/tasks", &[], "t1").await;
    sender.publish("/queue/tasks", &[], "t2").await;
    assert_eq!(drain(&mut on_a).await.len(), 2);
    let mut on_b = Client::connect(b.tcp).await;
    subscribe_client_ack(&mut on_b, "/queue/tasks").await;

    assert_eq!(a.stop_and_leave().await, 0, "queue writes left undone");
    let got = [on_b.recv().await, on_b.recv().await];
    let mut bodies: Vec<String> = got.iter().map(body).collect();
    bodies.sort();
    assert_eq!(bodies, ["t1", "t2"]);
    assert!(got.iter().all(|f| f.header("redelivered") == Some("true")));
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_shared_queue_refuses_a_send_with_an_error_naming_the_limit() {
    let redis = Redis::start();
    let a = Node::start_custom(&redis.url(), "q", Duration::from_secs(10), |c| {
        c.limits.max_queue_depth = 2;
    })
    .await;
    let mut sender = Client::connect(a.tcp).await;
    sender.publish("/queue/small", &[], "1").await;
    sender.publish("/queue/small", &[], "2").await;
    // No receipt asked for: the refusal still comes, as an ERROR.
    sender
        .send(
            Frame::new(Command::Send)
                .with_header("destination", "/queue/small")
                .with_body("3"),
        )
        .await;
    let error = sender.recv().await;
    assert_eq!(error.command, Command::Error, "{error:?}");
    let message = error.header("message").unwrap();
    assert!(message.contains("limits.max_queue_depth"), "{message}");
    assert_eq!(error.header("receipt-id"), None);
    assert_eq!(a.cluster.stats().queue_refused, 1);
    // The two kept messages are delivered; the third never is.
    let mut consumer = Client::connect(a.tcp).await;
    consumer.subscribe("s", "/queue/small").await;
    let got: Vec<String> = drain(&mut consumer).await.iter().map(body).collect();
    assert_eq!(got, ["1", "2"]);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_faster_than_redis_is_paused_not_refused() {
    let mut redis = Redis::start();
    let a = Node::start(&redis.url(), "q").await;
    let mut consumer = Client::connect(a.tcp).await;
    consumer.subscribe("s", "/queue/flood").await;
    // Redis gone: every SEND waits for it; past 8 192 waiting the sender is no longer read.
    redis.kill();
    const N: usize = 12_000;
    let flood = support::flood(Client::connect(a.tcp).await, "/queue/flood", N);
    wait_for("the sender paused", || {
        a.broker.stats().backpressure_pauses > 0
    })
    .await;
    assert_eq!(a.cluster.stats().queue_refused, 0);
    // Redis back: the sender goes on, nothing refused, every message delivered once.
    let _redis = Redis::start_on(redis.port);
    let mut sender = tokio::time::timeout(support::WAIT * 4, flood)
        .await
        .expect("the sender resumed")
        .unwrap();
    let mut seen = HashSet::new();
    while seen.len() < N {
        let f = consumer
            .try_recv(support::WAIT)
            .await
            .expect("all delivered");
        assert!(seen.insert(body(&f)), "delivered twice");
    }
    assert_eq!(a.cluster.stats().queue_refused, 0);
    sender.publish("/queue/flood", &[], "last").await;
    a.stop().await;
}
