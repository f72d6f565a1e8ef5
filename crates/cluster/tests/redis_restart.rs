//! Redis killed while two nodes run: each goes on serving its own subscribers, counts what it
//! could not publish, reconnects and resubscribes once Redis is back, and cross-node delivery
//! works again.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use stompbox_cluster::ClusterStats;
use stompbox_stomp::Command;
use support::{Client, Node, Redis};

async fn wait_until(what: &str, node: &Node, done: impl Fn(&ClusterStats) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let stats = node.cluster.stats();
        if done(&stats) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_resubscribe_after_a_redis_restart_and_count_what_was_lost() {
    let mut redis = Redis::start();
    let a = Node::start(&redis.url(), "t").await;
    let b = Node::start(&redis.url(), "t").await;
    let mut on_a = Client::connect(a.tcp).await;
    on_a.subscribe("s", "/topic/r").await;
    let mut on_b = Client::connect(b.tcp).await;
    on_b.subscribe("s", "/topic/r").await;
    let mut sender = Client::connect(a.tcp).await;

    redis.kill();
    wait_until("B to see its subscription lost", &b, |s| !s.subscriber_up).await;
    // While Redis is down, A's own subscribers are still served.
    sender.publish("/topic/r", &[], "during").await;
    let frame = on_a.recv().await;
    assert_eq!(&frame.body[..], b"during");
    wait_until("the lost message counted", &a, |s| s.unpublished == 1).await;
    assert!(
        on_b.try_recv(Duration::from_millis(300)).await.is_none(),
        "nothing crosses while Redis is down"
    );

    let _redis = Redis::start_on(redis.port);
    for node in [&a, &b] {
        wait_until("resubscribed", node, |s| s.subscriber_up).await;
    }
    // A's publisher reconnects when it next has something to publish: the first messages after
    // the restart may be counted as lost, so send until one crosses.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let crossed = loop {
        n += 1;
        sender.publish("/topic/r", &[], &format!("after-{n}")).await;
        assert_eq!(on_a.recv().await.command, Command::Message);
        if let Some(frame) = on_b.try_recv(Duration::from_millis(300)).await {
            break frame;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery after the restart: {:?}",
            a.cluster.stats()
        );
    };
    assert_eq!(crossed.command, Command::Message);
    let stats = a.cluster.stats();
    assert!(stats.publisher_up, "{stats:?}");
    assert_eq!(
        stats.unpublished,
        u64::try_from(n).unwrap(),
        "each message before the one that crossed was counted lost: {stats:?}"
    );
    a.stop().await;
    b.stop().await;
}
