//! Back-pressure, deterministically: outboxes that count bytes against a high-water mark, a
//! publisher that pauses, buffers, and resumes once they have drained. No runtime, no sockets.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::Mutex;

use crate::*;

/// An outbox with a high-water mark whose "connection" drains only when told to.
#[derive(Default)]
struct Counting {
    items: Mutex<Vec<Outbound>>,
    queued: AtomicUsize,
    high_water: usize,
}

impl Counting {
    fn new(high_water: usize) -> Arc<Counting> {
        Arc::new(Counting {
            high_water,
            ..Counting::default()
        })
    }

    /// The peer read everything: returns how many MESSAGE frames it got.
    fn drain(&self) -> usize {
        self.queued.store(0, Ordering::SeqCst);
        let items = std::mem::take(&mut *self.items.lock());
        items
            .iter()
            .filter(|i| matches!(i, Outbound::Message { .. }))
            .count()
    }
}

impl Outbox for Counting {
    fn push(&self, item: Outbound) {
        self.queued.fetch_add(item.wire_len(), Ordering::SeqCst);
        self.items.lock().push(item);
    }
    fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }
    fn is_congested(&self) -> bool {
        self.queued_bytes() > self.high_water
    }
    fn poll_drained(&self, _cx: &mut Context<'_>) -> Poll<()> {
        if self.queued_bytes() <= self.high_water / 2 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn open(broker: &Broker, outbox: Arc<Counting>, now: Instant) -> Session {
    let mut s = broker.open_session(SessionOptions::new(Transport::InMemory, None), outbox, now);
    s.handle_data(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0", now);
    s
}

fn send(body_len: usize) -> String {
    format!("SEND\ndestination:/topic/t\n\n{}\0", "x".repeat(body_len))
}

fn is_drained(outbox: &Arc<dyn Outbox>) -> bool {
    outbox
        .poll_drained(&mut Context::from_waker(Waker::noop()))
        .is_ready()
}

#[test]
fn a_fan_out_that_congests_a_subscriber_pauses_the_publisher_and_loses_nothing() {
    let broker = Broker::default();
    let t0 = Instant::now();
    let slow = Counting::new(1000);
    let mut subscriber = open(&broker, slow.clone(), t0);
    subscriber.handle_data(b"SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    slow.drain();
    let mut publisher = open(&broker, Counting::new(1 << 20), t0);
    assert!(publisher.take_backpressure().is_empty());

    // Ten SENDs of 300-byte bodies in one read: the third MESSAGE crosses 1000 bytes.
    let input: String = (0..10).map(|_| send(300)).collect();
    publisher.handle_data(input.as_bytes(), t0);
    assert!(publisher.is_paused());
    let congested = publisher.take_backpressure();
    assert_eq!(congested.len(), 1);
    assert!(!is_drained(&congested[0]));
    assert_eq!(broker.stats().messages_published, 3, "decoding stopped");
    assert_eq!(broker.stats().backpressure_pauses, 1);

    // More input while paused is only buffered.
    publisher.handle_data(send(300).as_bytes(), t0);
    assert_eq!(broker.stats().messages_published, 3);

    let mut received = slow.drain();
    assert!(is_drained(&congested[0]));
    while publisher.is_paused() {
        publisher.resume(t0);
        let again = publisher.take_backpressure();
        received += slow.drain();
        assert!(again.iter().all(is_drained));
    }
    assert_eq!(received, 11, "every message arrives");
    assert_eq!(broker.stats().messages_published, 11);
}

#[test]
fn a_session_that_does_not_read_its_own_receipts_is_paused() {
    let broker = Broker::default();
    let t0 = Instant::now();
    let own = Counting::new(100);
    let mut s = open(&broker, own.clone(), t0);
    let receipts: String = (0..20)
        .map(|i| format!("SEND\ndestination:/topic/nobody\nreceipt:r-{i}\n\n\0"))
        .collect();
    s.handle_data(receipts.as_bytes(), t0);
    assert!(s.is_paused());
    assert!(broker.stats().messages_published < 20);
    while s.is_paused() {
        assert!(!s.take_backpressure().is_empty());
        own.drain();
        s.resume(t0);
    }
    assert_eq!(broker.stats().messages_published, 20);
}

#[test]
fn outboxes_that_do_not_count_never_pause() {
    let broker = Broker::default();
    let t0 = Instant::now();
    let outbox = MemoryOutbox::new();
    let mut sub = broker.open_session(
        SessionOptions::new(Transport::InMemory, None),
        Arc::new(outbox.clone()),
        t0,
    );
    sub.handle_data(b"CONNECT\naccept-version:1.2\n\n\0", t0);
    sub.handle_data(b"SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0", t0);
    let mut publisher = open(&broker, Counting::new(usize::MAX), t0);
    let input: String = (0..100).map(|_| send(1000)).collect();
    publisher.handle_data(input.as_bytes(), t0);
    assert!(!publisher.is_paused());
    assert_eq!(broker.stats().messages_published, 100);
}
