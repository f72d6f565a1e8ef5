//! The checks behind the fuzz targets, callable from `cargo test` without libFuzzer: each
//! target in `fuzz_targets/` is one line calling the function of the same name here, and the
//! tests below run every function over its seed corpus (`corpus/<target>/`) on stable.

mod sockjs_frames;
mod sockjs_http;
mod stomp;
mod ws_frames;

pub use sockjs_frames::sockjs_frames;
pub use sockjs_http::sockjs_http;
pub use stomp::stomp_decode;
pub use ws_frames::ws_frames;

/// xorshift64*, seeded from the input so that runs are reproducible.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(data: &[u8]) -> Rng {
        let seed = data
            .iter()
            .take(16)
            .fold(data.len() as u64 ^ 0x9e37_79b9_7f4a_7c15, |acc, &b| {
                (acc ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Rng(seed | 1)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    /// Runs `check` over every file in `corpus/<target>`; there must be at least `min`.
    fn corpus(target: &str, min: usize, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let mut seen = 0;
        for entry in fs::read_dir(&dir).expect("corpus dir") {
            let data = fs::read(entry.expect("corpus entry").path()).expect("corpus file");
            check(&data);
            seen += 1;
        }
        assert!(seen >= min, "only {seen} seeds in {}", dir.display());
    }

    #[test]
    fn stomp_decode_corpus_passes() {
        corpus("stomp_decode", 5, super::stomp_decode);
    }

    #[test]
    fn sockjs_frames_corpus_passes() {
        corpus("sockjs_frames", 5, super::sockjs_frames);
    }

    #[test]
    fn sockjs_http_corpus_passes() {
        corpus("sockjs_http", 5, super::sockjs_http);
    }

    #[test]
    fn ws_frames_corpus_passes() {
        corpus("ws_frames", 5, super::ws_frames);
    }

    #[test]
    fn odd_stomp_inputs_pass() {
        for data in [
            &b""[..],
            b"\r",
            b"\n\r\n",
            b"CONNECT\nk:a\r\r\n\n\0",
            b"SEND\nk:a\r\r\n\nbody\0",
            b"SEND\ncontent-length:99999999999999999999999\n\n",
            b"MESSAGE\nx\\c:\\r\\n\\\\\n\n\0\n",
        ] {
            super::stomp_decode(data);
        }
    }
}
