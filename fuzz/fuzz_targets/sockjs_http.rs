//! Sequences of HTTP requests to a SockJS endpoint through the sans-IO half of the server's
//! adapter (routes, origins, callbacks, payloads, sessions, transports). The checks live in
//! `stompbox_fuzz::sockjs_http` so that `cargo test` runs them over the seed corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stompbox_fuzz::sockjs_http(data);
});
