//! Codec throughput: decoding and encoding a typical SEND with a 100-byte and a 4 KiB body, and
//! a MESSAGE fan-out (shared template + per-subscriber head).
//!
//! `cargo bench -p stompbox-stomp --bench codec`

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use stompbox_stomp::{
    Command, Decoder, Frame, Limits, MessageTemplate, Version, encode, encode_into,
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

fn codec(c: &mut Criterion) {
    for (name, body_len) in [("100B", 100), ("4KiB", 4096)] {
        let frame = send(body_len);
        let wire = encode(&frame, Version::V1_2);
        let stream: Vec<u8> = wire
            .iter()
            .copied()
            .cycle()
            .take(wire.len() * FRAMES)
            .collect();

        let mut group = c.benchmark_group(format!("send_{name}"));
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
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function("encode", |b| {
            let mut buf = BytesMut::with_capacity(wire.len());
            b.iter(|| {
                buf.clear();
                encode_into(black_box(&frame), Version::V1_2, &mut buf);
                black_box(&buf);
            });
        });
        group.finish();
    }

    let headers = vec![
        ("message-id".to_owned(), "T_sub-0@@session-1@@42".to_owned()),
        (
            "destination".to_owned(),
            "/topic/prices.eu.stock-42".to_owned(),
        ),
        (
            "content-type".to_owned(),
            "application/json;charset=utf-8".to_owned(),
        ),
    ];
    let body = Bytes::from(vec![b'x'; 100]);
    let template = MessageTemplate::new(&headers, &body, Version::V1_2);
    let mut head = BytesMut::new();
    MessageTemplate::write_head(&mut head, Version::V1_2, "sub-0", Some("ack-42"));
    let mut group = c.benchmark_group("message_100B");
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
