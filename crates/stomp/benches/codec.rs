//! Codec throughput in bytes per second: decoding and encoding a typical SEND with a 100-byte
//! and a 4 KiB body, decoding the MESSAGE a subscriber gets for a 100-byte body, and a MESSAGE
//! fan-out (shared template + per-subscriber head).
//!
//! `cargo bench -p stompbox-stomp --bench codec`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use stompbox_stomp::{
    Command, Decoder, Frame, Header, Limits, MessageTemplate, Str, Version, encode, encode_into,
};

/// Frames per decoded buffer, so that per-iteration setup is amortised.
const FRAMES: usize = 64;

fn send(body_len: usize) -> Frame {
    Frame::new(Command::Send)
        .with_header("destination", "/topic/prices.eu.stock-42")
        .with_header("content-type", "application/json;charset=utf-8")
        .with_header("receipt", "r-1234")
        .with_header("x-trace-id", "7f3c2a9e-0b1d-4e5f-9a8b-1c2d3e4f5a6b")
        .with_body(vec![b'x'; body_len])
}

/// The headers a broker shares between the subscribers of one message.
fn message_headers() -> Vec<Header> {
    [
        ("message-id", "T_sub-0@@session-1@@42"),
        ("destination", "/topic/prices.eu.stock-42"),
        ("content-type", "application/json;charset=utf-8"),
    ]
    .into_iter()
    .map(|(name, value)| (Str::from_static(name), Str::from_static(value)))
    .collect()
}

/// Decodes `wire` repeated [`FRAMES`] times from one buffer.
fn bench_decode(group: &mut BenchmarkGroup<'_, WallTime>, wire: &[u8]) {
    let stream = wire.repeat(FRAMES);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("decode", |b| {
        let limits = Limits::default();
        b.iter_batched(
            || BytesMut::from(&stream[..]),
            |mut buf| {
                let mut decoder = Decoder::new(limits);
                let mut n = 0;
                while let Ok(Some(item)) = decoder.decode(&mut buf) {
                    black_box(item);
                    n += 1;
                }
                assert_eq!(n, FRAMES);
            },
            BatchSize::SmallInput,
        );
    });
}

fn bench_encode(group: &mut BenchmarkGroup<'_, WallTime>, frame: &Frame) {
    let len = encode(frame, Version::V1_2).len();
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("encode", |b| {
        let mut buf = BytesMut::with_capacity(len);
        b.iter(|| {
            buf.clear();
            encode_into(black_box(frame), Version::V1_2, &mut buf);
            black_box(&buf);
        });
    });
}

fn codec(c: &mut Criterion) {
    for (name, body_len) in [("100B", 100), ("4KiB", 4096)] {
        let frame = send(body_len);
        let mut group = c.benchmark_group(format!("send_{name}"));
        bench_decode(&mut group, &encode(&frame, Version::V1_2));
        bench_encode(&mut group, &frame);
        group.finish();
    }

    let headers = message_headers();
    let body = Bytes::from(vec![b'x'; 100]);
    let template = MessageTemplate::new(&headers, &body, Version::V1_2);
    let mut message = BytesMut::new();
    MessageTemplate::write_head(&mut message, Version::V1_2, "sub-0", None);
    message.extend_from_slice(template.tail());
    let mut group = c.benchmark_group("message_100B");
    bench_decode(&mut group, &message);

    let mut head = BytesMut::new();
    MessageTemplate::write_head(&mut head, Version::V1_2, "sub-0", Some("ack-42"));
    group.throughput(Throughput::Bytes(
        (head.len() + template.tail().len()) as u64,
    ));
    group.bench_function("template_new", |b| {
        b.iter(|| MessageTemplate::new(black_box(&headers), &body, Version::V1_2));
    });
    group.bench_function("head_plus_tail", |b| {
        let mut buf = BytesMut::with_capacity(256);
        b.iter(|| {
            buf.clear();
            MessageTemplate::write_head(
                &mut buf,
                Version::V1_2,
                black_box("sub-0"),
                Some("ack-42"),
            );
            buf.extend_from_slice(template.tail());
            black_box(&buf);
        });
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
