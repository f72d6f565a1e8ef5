//! Joining a cluster fails clearly, naming the URL, when Redis is not there or the URL is bad.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;

use stompbox_broker::Broker;
use stompbox_cluster::{Cluster, ClusterConfig, ClusterError};

#[tokio::test]
async fn unreachable_redis_is_a_clear_error_naming_the_url() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("redis://127.0.0.1:{port}");
    let err = Cluster::start(&ClusterConfig::new(&url), Broker::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::Unreachable { .. }), "{err:?}");
    assert!(!err.is_usage());
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.starts_with("cannot reach Redis at"), "{text}");
}

#[tokio::test]
async fn a_bad_url_or_name_is_a_usage_error_and_hides_the_password() {
    let err = Cluster::start(
        &ClusterConfig::new("http://user:secret@host"),
        Broker::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClusterError::InvalidUrl { .. }), "{err:?}");
    assert!(err.is_usage());
    assert!(!err.to_string().contains("secret"), "{err}");

    let config = ClusterConfig {
        name: "a b".into(),
        ..ClusterConfig::new("redis://127.0.0.1:1")
    };
    let err = Cluster::start(&config, Broker::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClusterError::InvalidName { .. }), "{err:?}");
}
