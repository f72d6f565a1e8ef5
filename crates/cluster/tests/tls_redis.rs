//! `rediss://`: nodes reach Redis over TLS, trusting the certificate given as `redis_ca`; a
//! CA file that is missing, not PEM, or given with a plain `redis://` URL is a clear error.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use stompbox_cluster::{Cluster, ClusterConfig, ClusterError};
use stompbox_stomp::Command;
use support::{Client, Node, Redis};

/// A self-signed certificate for 127.0.0.1 and its key, written to a fresh directory.
fn certificate() -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "stompbox-rediss-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = dir.join("redis.crt");
    let key = dir.join("redis.key");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (dir, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_topics_and_queues_through_redis_over_tls() {
    let (dir, cert, key) = certificate();
    let redis = Redis::start_tls(cert.to_str().unwrap(), key.to_str().unwrap());
    let config = ClusterConfig {
        name: "tls".to_string(),
        redis_ca: Some(cert.clone()),
        ..ClusterConfig::new(redis.tls_url())
    };
    let a = Node::start_joined(config.clone(), |_| {}).await;
    let b = Node::start_joined(config, |_| {}).await;
    let mut on_b = Client::connect(b.tcp).await;
    on_b.subscribe("t", "/topic/secure").await;
    on_b.subscribe("q", "/queue/secure").await;
    let mut sender = Client::connect(a.tcp).await;
    sender.publish("/topic/secure", &[], "over tls").await;
    sender
        .publish("/queue/secure", &[], "queued over tls")
        .await;
    let mut bodies = vec![on_b.recv().await, on_b.recv().await]
        .into_iter()
        .map(|f| {
            assert_eq!(f.command, Command::Message);
            String::from_utf8_lossy(&f.body).into_owned()
        })
        .collect::<Vec<_>>();
    bodies.sort();
    assert_eq!(bodies, ["over tls", "queued over tls"]);
    a.stop().await;
    b.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_ca_file_that_cannot_be_used_is_a_usage_error_naming_it() {
    let broker = stompbox_broker::Broker::default();
    let (dir, cert, _key) = certificate();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (url, ca, expected) in [
        (
            "rediss://127.0.0.1:1",
            dir.join("missing.pem"),
            "missing.pem",
        ),
        (
            "rediss://127.0.0.1:1",
            not_pem.clone(),
            "no PEM certificate",
        ),
        ("redis://127.0.0.1:1", cert.clone(), "rediss://"),
    ] {
        let config = ClusterConfig {
            redis_ca: Some(ca),
            ..ClusterConfig::new(url)
        };
        let err = Cluster::start(&config, broker.clone()).await.unwrap_err();
        assert!(matches!(err, ClusterError::InvalidCa { .. }), "{err}");
        assert!(err.is_usage());
        assert!(err.to_string().contains(expected), "{err}");
    }
    // Without the CA the server's self-signed certificate is not trusted: a clear start error.
    let redis = Redis::start_tls(cert.to_str().unwrap(), _key.to_str().unwrap());
    let err = Cluster::start(&ClusterConfig::new(redis.tls_url()), broker)
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
