//! Two nodes joined through a real redis-server: a topic message sent on one reaches the
//! subscribers of both, exactly once, with its body and headers.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_stomp::{Command, Frame};
use support::{Client, Node, Redis, wait_for};

const QUIET: Duration = Duration::from_millis(500);

fn assert_message(frame: &Frame, destination: &str, body: &str) {
    assert_eq!(frame.command, Command::Message, "{frame:?}");
    assert_eq!(frame.header("destination"), Some(destination));
    assert_eq!(frame.header("x-trace"), Some("t-1"));
    assert_eq!(frame.header("content-type"), Some("text/plain"));
    assert_eq!(&frame.body[..], body.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_message_reaches_every_node_exactly_once() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "t").await;
    let b = Node::start(&redis.url(), "t").await;

    let mut on_a = Client::connect(a.tcp).await;
    on_a.subscribe("s", "/topic/news").await;
    let mut on_b1 = Client::connect(b.tcp).await;
    on_b1.subscribe("s", "/topic/news").await;
    let mut on_b2 = Client::connect(b.tcp).await;
    on_b2.subscribe("s", "/topic/news").await;

    let mut sender = Client::connect(a.tcp).await;
    let headers = [("x-trace", "t-1"), ("content-type", "text/plain")];
    sender.publish("/topic/news", &headers, "hello").await;

    for client in [&mut on_a, &mut on_b1, &mut on_b2] {
        let frame = client.recv().await;
        assert_message(&frame, "/topic/news", "hello");
        assert!(client.try_recv(QUIET).await.is_none(), "delivered twice");
    }
    // One publish for the message, however many subscribers; A dropped its own echo.
    wait_for("A's echo", || a.cluster.stats().own_echoes == 1).await;
    let (sa, sb) = (a.cluster.stats(), b.cluster.stats());
    assert_eq!((sa.published, sa.received, sa.unpublished), (1, 0, 0));
    assert_eq!((sb.published, sb.received, sb.own_echoes), (0, 1, 0));

    // And the other way round.
    sender = Client::connect(b.tcp).await;
    sender.publish("/topic/news", &headers, "back").await;
    for client in [&mut on_a, &mut on_b1, &mut on_b2] {
        assert_message(&client.recv().await, "/topic/news", "back");
        assert!(client.try_recv(QUIET).await.is_none(), "delivered twice");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_clusters_stay_apart_and_queues_do_not_use_the_topic_channel() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "one").await;
    let b = Node::start(&redis.url(), "one").await;
    let other = Node::start(&redis.url(), "two").await;

    let mut on_b = Client::connect(b.tcp).await;
    on_b.subscribe("q", "/queue/work").await;
    let mut on_other = Client::connect(other.tcp).await;
    on_other.subscribe("t", "/topic/news").await;

    let mut sender = Client::connect(a.tcp).await;
    sender.publish("/queue/work", &[], "job").await;
    sender.publish("/topic/news", &[], "news").await;
    let job = on_b.recv().await;
    assert_eq!(
        &job.body[..],
        b"job",
        "the queue is shared (through its stream)"
    );
    assert!(
        on_other.try_recv(QUIET).await.is_none(),
        "another cluster's topic"
    );
    assert_eq!(a.cluster.stats().published, 1, "only the topic message");
    a.stop().await;
    b.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_faster_than_redis_is_paused_and_nothing_is_dropped() {
    let redis = Redis::start();
    let a = Node::start(&redis.url(), "t").await;
    let b = Node::start(&redis.url(), "t").await;
    let mut on_b = Client::connect(b.tcp).await;
    on_b.subscribe("s", "/topic/flood").await;
    // Redis stalls for 2 s: messages pile up on A until its sender is paused.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stall = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(2)
            .query_async(&mut conn)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    const N: usize = 12_000;
    let flood = support::flood(Client::connect(a.tcp).await, "/topic/flood", N);
    wait_for("A's sender paused", || {
        a.broker.stats().backpressure_pauses > 0
    })
    .await;
    stall.await.unwrap();
    flood.await.unwrap();
    let mut got = 0;
    while got < N {
        let f = on_b.recv().await;
        assert_eq!(&f.body[..], got.to_string().as_bytes(), "in order, once");
        got += 1;
    }
    assert_eq!(a.cluster.stats().unpublished, 0);
    a.stop().await;
    b.stop().await;
}
