//! The connection outbox: wakes, capacity, encodings, close, congestion and drain, and the
//! slow-consumer limits (bytes and time).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;
use std::time::Duration;

use stompbox_broker::ClosedBy;

use super::*;
use crate::slow::SendLimits;

/// An outbox congested above `high_water` bytes, with a send buffer limit far above it and a
/// send time limit that these tests do not reach.
fn outbox(high_water: usize) -> ConnOutbox {
    ConnOutbox::new(SendLimits::new(
        high_water,
        high_water * 100,
        Duration::from_secs(3600),
    ))
}

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
    let outbox = outbox(1000);
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
    let outbox = outbox(1 << 20);
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
    let outbox = outbox(1 << 20);
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
    let outbox = outbox(1 << 20);
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
    let outbox = outbox(1 << 20);
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
    let outbox = outbox(100);
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
    let outbox = outbox(10);
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
    let outbox = outbox(1 << 20);
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

/// An outbox with a 100-byte high-water mark, a 300-byte send buffer and `time` to drain.
fn limited(time: Duration) -> (Arc<SendLimits>, ConnOutbox) {
    let limits = SendLimits::new(100, 300, time);
    (limits.clone(), ConnOutbox::new(limits))
}

fn frame(len: usize) -> Outbound {
    Outbound::Frame(Bytes::from(vec![b'x'; len]))
}

fn assert_slow_close(status: &CloseStatus, reason: &str) {
    assert_eq!(
        (status.code, status.reason.as_str(), status.closed_by),
        (4500, reason, ClosedBy::Server)
    );
}

#[test]
fn a_push_over_the_send_buffer_limit_closes_with_4500_drops_the_queue_and_releases_waiters() {
    let (limits, outbox) = limited(Duration::from_secs(3600));
    let (count, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    outbox.push(frame(250));
    assert!(outbox.is_congested());
    assert!(outbox.poll_drained(&mut cx).is_pending());
    assert!(outbox.poll_abort(&mut cx).is_pending());
    outbox.push(frame(60));
    assert!(count.0.load(Ordering::SeqCst) >= 1, "waiters woken");
    assert_eq!(outbox.queued_bytes(), 0, "the queue is dropped");
    assert!(!outbox.is_congested());
    assert!(outbox.poll_drained(&mut cx).is_ready(), "publishers go on");
    match outbox.poll_abort(&mut cx) {
        Poll::Ready(status) => {
            assert_slow_close(&status, "slow consumer: send buffer over 300 bytes")
        }
        Poll::Pending => panic!("the connection is told to stop"),
    }
    outbox.push(frame(10));
    assert_eq!(outbox.queued_bytes(), 0, "later pushes are dropped");
    let batch = take(&outbox);
    assert!(batch.items.is_empty());
    assert_eq!(batch.close.unwrap().code, 4500);
    assert_eq!(
        (limits.closes(Limit::Bytes), limits.closes(Limit::Time)),
        (1, 0)
    );
    assert_eq!(limits.peak_queued(), 250, "the peak never passes the limit");
}

#[test]
fn a_batch_written_after_a_slow_consumer_close_does_not_underflow_the_count() {
    let (_, outbox) = limited(Duration::from_secs(3600));
    outbox.push(frame(200));
    let batch = take(&outbox);
    outbox.push(frame(150));
    assert_eq!(outbox.queued_bytes(), 0, "350 > 300: closed");
    outbox.written(batch.counted);
    assert_eq!(outbox.queued_bytes(), 0);
    assert!(!outbox.is_congested());
}

#[test]
fn congestion_that_outlasts_the_send_time_limit_closes_on_the_next_push() {
    let (limits, outbox) = limited(Duration::from_millis(20));
    outbox.push(frame(150));
    std::thread::sleep(Duration::from_millis(30));
    outbox.push(frame(1));
    assert_eq!(outbox.queued_bytes(), 0);
    assert_eq!(limits.closes(Limit::Time), 1);
    let (_, waker) = waker();
    match outbox.poll_abort(&mut Context::from_waker(&waker)) {
        Poll::Ready(status) => assert_slow_close(&status, "slow consumer: could not send for 20ms"),
        Poll::Pending => panic!("closed for time"),
    }
}

#[test]
fn draining_to_the_low_water_mark_restarts_the_send_time_clock() {
    let (limits, outbox) = limited(Duration::from_millis(20));
    outbox.push(frame(150));
    let batch = take(&outbox);
    std::thread::sleep(Duration::from_millis(30));
    outbox.written(batch.counted);
    outbox.push(frame(150));
    outbox.push(frame(1));
    assert_eq!(outbox.queued_bytes(), 151, "congested again, but only just");
    assert_eq!(limits.closes(Limit::Time), 0);
}

#[test]
fn a_closed_connection_is_never_counted_as_a_slow_consumer() {
    let (limits, outbox) = limited(Duration::from_millis(1));
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    outbox.push(frame(150));
    outbox.close();
    std::thread::sleep(Duration::from_millis(5));
    assert!(outbox.poll_drained(&mut cx).is_ready());
    outbox.push(frame(500));
    assert_eq!(limits.closes(Limit::Bytes) + limits.closes(Limit::Time), 0);
}

/// A consumer that never reads and a publisher that never pushes again: the waiting publisher's
/// timer closes the outbox, and the connection (woken, its socket still full) hears of it.
#[tokio::test]
async fn a_waiting_publisher_closes_a_consumer_that_never_reads_once_the_time_limit_is_up() {
    let (limits, outbox) = limited(Duration::from_millis(50));
    let outbox = Arc::new(outbox);
    outbox.push(frame(150));
    let (woken, waker) = waker();
    assert!(
        outbox
            .poll_abort(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let waiting = {
        let outbox = outbox.clone();
        tokio::spawn(async move { std::future::poll_fn(|cx| outbox.poll_drained(cx)).await })
    };
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the publisher goes on within the time limit")
        .unwrap();
    assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the connection is woken");
    assert!(
        outbox
            .poll_abort(&mut Context::from_waker(&waker))
            .is_ready()
    );
    assert_eq!(limits.closes(Limit::Time), 1);
}

#[test]
fn one_message_larger_than_the_send_buffer_still_goes_to_an_empty_queue() {
    let (limits, outbox) = limited(Duration::from_secs(3600));
    outbox.push(frame(400));
    assert_eq!(outbox.queued_bytes(), 400);
    outbox.push(frame(1));
    assert_eq!(outbox.queued_bytes(), 0, "but nothing after it");
    assert_eq!(limits.closes(Limit::Bytes), 1);
}
