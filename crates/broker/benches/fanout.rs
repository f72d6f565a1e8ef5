//! Broker-only fan-out cost: one SEND to a topic with N subscribers whose outboxes are cheap
//! in-memory sinks (no sockets). Measures routing + per-subscriber MESSAGE heads + shared tails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use stompbox_broker::{Broker, BrokerConfig, Outbound, Outbox, Session, SessionOptions, Transport};

/// Counts bytes and drops the items, like a socket that keeps up.
#[derive(Default)]
struct Sink(AtomicUsize);

impl Outbox for Sink {
    fn push(&self, item: Outbound) {
        self.0.fetch_add(item.wire_len(), Ordering::Relaxed);
    }
}

fn subscribers(broker: &Broker, n: usize) -> Vec<Session> {
    let now = Instant::now();
    (0..n)
        .map(|i| {
            let mut s = broker.open_session(
                SessionOptions::new(Transport::InMemory, None),
                Arc::new(Sink::default()),
                now,
            );
            s.handle_data(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0", now);
            s.handle_data(
                format!("SUBSCRIBE\nid:sub-{i}\ndestination:/topic/bench\n\n\0").as_bytes(),
                now,
            );
            s
        })
        .collect()
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    let body = "x".repeat(100);
    for n in [1_000usize, 10_000] {
        let broker = Broker::new(BrokerConfig::default());
        let _subs = subscribers(&broker, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("deliveries_100B", n), &n, |b, _| {
            b.iter(|| broker.publish("/topic/bench", Vec::new(), body.clone()))
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
