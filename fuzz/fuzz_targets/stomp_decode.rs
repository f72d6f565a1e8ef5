//! Arbitrary bytes into the STOMP decoder, whole and in several chunkings, for every version:
//! it must never panic, chunking must not change the outcome, and every decoded frame must
//! survive encode → decode. The checks live in `stompbox_fuzz::stomp_decode` so that
//! `cargo test` can run them over the seed corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stompbox_fuzz::stomp_decode(data);
});
