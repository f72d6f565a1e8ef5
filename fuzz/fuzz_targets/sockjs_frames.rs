//! What SockJS clients send (xhr_send/jsonp_send bodies, WebSocket messages) into the payload
//! decoders, and strings from the input through the frame encoders and back. The checks live in
//! `stompbox_fuzz::sockjs_frames` so that `cargo test` runs them over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stompbox_fuzz::sockjs_frames(data);
});
