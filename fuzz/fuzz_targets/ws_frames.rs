//! Client bytes into the server's WebSocket receiver, whole and split anywhere: no panic, the
//! size limit holds, and the split never changes the outcome. The checks live in
//! `stompbox_fuzz::ws_frames` so that `cargo test` runs them over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stompbox_fuzz::ws_frames(data);
});
