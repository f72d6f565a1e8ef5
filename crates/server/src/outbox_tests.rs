//! The connection outbox: wakes, capacity, encodings, close, congestion and drain.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::task::Wake;

use stompbox_broker::ClosedBy;

use super::*;

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count::default());
    let waker = Waker::from(count.clone());
    (count, waker)
}

fn take(outbox: &ConnOutbox) -> Batch {
    let (_, waker) = waker();
    match outbox.poll_take(&mut Context::from_waker(&waker)) {
        Poll::Ready(batch) => batch,
        Poll::Pending => panic!("nothing queued"),
    }
}

/// The whole batch encoded, in chunks of `limit` bytes.
fn encoded(outbox: &ConnOutbox, encoding: Encoding, limit: usize) -> Vec<u8> {
    let mut batch = take(outbox);
    let mut all = Vec::new();
    while !batch.items.is_empty() {
        let mut out = BytesMut::new();
        batch.encode(&mut out, encoding, limit);
        all.extend_from_slice(&out);
    }
    all
}

fn message(body: &[u8]) -> (Bytes, Tail) {
    let mut tail = b"destination:/topic/t\n\n".to_vec();
    tail.extend_from_slice(body);
    tail.push(0);
    (
        Bytes::from_static(b"MESSAGE\nsubscription:1\n"),
        Tail::new(Bytes::from(tail)),
    )
}

#[test]
fn one_wake_per_burst_and_no_queue_kept_when_idle() {
    let outbox = ConnOutbox::new(1000);
    let (count, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    assert!(outbox.poll_take(&mut cx).is_pending());
    for _ in 0..3 {
        outbox.push(Outbound::HeartBeat);
    }
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake for a burst");
    let batch = take(&outbox);
    assert_eq!((batch.items.len(), batch.counted), (3, 3));
    assert_eq!(outbox.queued_bytes(), 3, "counted until written");
    outbox.written(batch.counted);
    assert_eq!(outbox.queued_bytes(), 0);
    assert!(outbox.poll_take(&mut cx).is_pending());
    assert_eq!(outbox.state.lock().items.capacity(), 0);
}

#[test]
fn a_subscription_head_is_queued_once_per_batch() {
    let outbox = ConnOutbox::new(1 << 20);
    let (head, tail) = message(b"hi");
    for _ in 0..3 {
        outbox.push_message(&head, &tail);
    }
    let other = Bytes::from_static(b"MESSAGE\nsubscription:2\n");
    outbox.push_message(&other, &tail);
    let batch = take(&outbox);
    let heads = batch
        .items
        .iter()
        .filter(|i| matches!(i, Item::Head(_)))
        .count();
    assert_eq!((batch.items.len(), heads), (6, 2));
    assert_eq!(batch.counted, 4 * (head.len() + tail.len()));
}

#[test]
fn websocket_encoding_frames_each_item_text_or_binary() {
    let outbox = ConnOutbox::new(1 << 20);
    let (head, tail) = message(b"hi");
    outbox.push_message(&head, &tail);
    let (_, binary) = message(b"\xff");
    outbox.push_message(&head, &binary);
    outbox.push(Outbound::HeartBeat);
    // One item per chunk: the head stays current across chunks.
    let all = encoded(&outbox, Encoding::WebSocket, 1);
    let first = head.len() + tail.len();
    assert_eq!(all[..2], [0x81, first as u8]);
    assert_eq!(&all[2..2 + head.len()], &head[..]);
    assert_eq!(&all[2 + head.len()..2 + first], &tail[..]);
    assert_eq!(all[2 + first], 0x82, "a non-UTF-8 body goes as binary");
    assert_eq!(all[all.len() - 3..], [0x81, 1, b'\n']);
}

#[test]
fn stomp_and_sockjs_encodings() {
    let outbox = ConnOutbox::new(1 << 20);
    let (head, tail) = message(b"x");
    outbox.push_message(&head, &tail);
    outbox.push(Outbound::HeartBeat);
    let mut expected = head.to_vec();
    expected.extend_from_slice(&tail);
    expected.push(b'\n');
    assert_eq!(encoded(&outbox, Encoding::Stomp, 1 << 16), expected);

    outbox.push(Outbound::Frame(Bytes::from_static(b"a\"b\n")));
    outbox.push(Outbound::HeartBeat);
    let all = encoded(&outbox, Encoding::SockJs, 1 << 16);
    assert_eq!(&all[2..], br#"a["a\"b\n","\n"]"#);
}

#[test]
fn a_close_ends_the_batch_and_later_pushes_are_dropped() {
    let outbox = ConnOutbox::new(1 << 20);
    outbox.push(Outbound::HeartBeat);
    outbox.push(Outbound::Close(CloseStatus::new(
        1000,
        "",
        ClosedBy::Server,
    )));
    outbox.push(Outbound::HeartBeat);
    let batch = take(&outbox);
    assert_eq!(batch.items.len(), 1);
    assert_eq!(batch.close.unwrap().code, 1000);
}

#[test]
fn congestion_above_high_water_and_drain_at_low_water() {
    let outbox = ConnOutbox::new(100);
    let (count, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    outbox.push(Outbound::Frame(Bytes::from(vec![b'x'; 101])));
    assert!(outbox.is_congested());
    assert!(outbox.poll_drained(&mut cx).is_pending());
    let batch = take(&outbox);
    assert!(
        outbox.poll_drained(&mut cx).is_pending(),
        "taken but not written: still counted"
    );
    outbox.push(Outbound::Frame(Bytes::from(vec![b'x'; 20])));
    outbox.written(batch.counted);
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "drain waiter woken");
    assert!(!outbox.is_congested());
    assert!(outbox.poll_drained(&mut cx).is_ready());
}

#[test]
fn a_closed_outbox_drops_pushes_and_releases_waiters() {
    let outbox = ConnOutbox::new(10);
    let (count, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    outbox.push(Outbound::Frame(Bytes::from(vec![b'x'; 50])));
    assert!(outbox.poll_drained(&mut cx).is_pending());
    outbox.close();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(outbox.poll_drained(&mut cx).is_ready());
    outbox.push(Outbound::Frame(Bytes::from(vec![b'x'; 50])));
    assert_eq!(outbox.queued_bytes(), 0);
}

#[test]
fn a_recycled_queue_is_reused_then_released() {
    let outbox = ConnOutbox::new(1 << 20);
    for _ in 0..100 {
        outbox.push(Outbound::HeartBeat);
    }
    let batch = take(&outbox);
    let capacity = batch.items.capacity();
    outbox.recycle(batch.items);
    // The recycled queue takes the place of the next batch taken...
    outbox.push(Outbound::HeartBeat);
    take(&outbox);
    // ... so the pushes after it go into it, without allocating.
    outbox.push(Outbound::HeartBeat);
    assert_eq!(take(&outbox).items.capacity(), capacity);
    outbox.push(Outbound::HeartBeat);
    outbox.recycle(take(&outbox).items);
    outbox.release_spare();
    assert_eq!(outbox.state.lock().spare.capacity(), 0);
}
