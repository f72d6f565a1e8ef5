//! The checks behind the fuzz targets, callable from `cargo test` without libFuzzer.

use bytes::BytesMut;
use stompbox_stomp::{DecodeError, Decoder, Frame, Item, Limits, Version, encode};

/// Small limits, so that fuzzing reaches them with small inputs.
const SMALL: Limits = Limits {
    max_frame_size: 256,
    max_headers: 8,
    max_header_len: 64,
};

/// Decodes `data` whole, one byte at a time and in pseudo-random chunks, for every version and
/// with default and small limits. Panics if the outcomes differ or a frame does not re-encode.
pub fn stomp_decode(data: &[u8]) {
    for version in Version::ALL {
        for limits in [Limits::default(), SMALL] {
            let (whole, whole_end) = decode(version, limits, data, &mut |_| data.len());
            let (bytes, bytes_end) = decode(version, limits, data, &mut |_| 1);
            let mut rng = Rng::new(data);
            let max_chunk = data.len() / 4 + 1;
            let (chunks, chunks_end) =
                decode(version, limits, data, &mut |_| 1 + rng.below(max_chunk));
            assert_eq!(whole, bytes, "{version}, one byte at a time");
            assert_eq!(whole, chunks, "{version}, in chunks");
            // Which limit is crossed first may depend on the chunking, not whether one is.
            assert_eq!(whole_end.is_err(), bytes_end.is_err());
            assert_eq!(whole_end.is_err(), chunks_end.is_err());
            for item in whole {
                if let Item::Frame(frame) = item {
                    round_trip(&frame, version);
                }
            }
        }
    }
}

/// Feeds `data` in chunks of `next_chunk(fed)` bytes and decodes until it runs out or fails.
fn decode(
    version: Version,
    limits: Limits,
    data: &[u8],
    next_chunk: &mut dyn FnMut(usize) -> usize,
) -> (Vec<Item>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut fed = 0;
    while fed < data.len() {
        let end = (fed + next_chunk(fed).max(1)).min(data.len());
        buf.extend_from_slice(&data[fed..end]);
        fed = end;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(err) => return (items, Err(err)),
            }
        }
    }
    (items, Ok(()))
}

/// encode → decode gives the frame back, with the changes the encoder documents.
fn round_trip(frame: &Frame, version: Version) {
    let roomy = Limits {
        max_frame_size: usize::MAX,
        max_headers: usize::MAX,
        max_header_len: usize::MAX,
    };
    let wire = encode(frame, version);
    let (items, end) = decode(version, roomy, &wire, &mut |_| wire.len());
    assert_eq!(end, Ok(()), "{version}: {frame:?} encoded as {wire:?}");
    assert_eq!(items, vec![Item::Frame(after_round_trip(frame, version))]);
}

/// What a decoded frame becomes after encode → decode: a CR becomes a space where no escape
/// exists for it (1.0, 1.1, unescaped frames; a decoded frame cannot hold an LF there, nor a
/// colon in a name), and a `content-length` is added to a body without one.
fn after_round_trip(frame: &Frame, version: Version) -> Frame {
    let keeps_cr = version == Version::V1_2 && frame.command.escapes_headers();
    let fix = |text: &str| {
        if keeps_cr {
            text.to_owned()
        } else {
            text.replace('\r', " ")
        }
    };
    let mut expected = Frame {
        command: frame.command,
        headers: frame
            .headers
            .iter()
            .map(|(n, v)| (fix(n).into(), fix(v).into()))
            .collect(),
        body: frame.body.clone(),
    };
    if !frame.body.is_empty() && frame.header("content-length").is_none() {
        expected.push_header("content-length", frame.body.len().to_string());
    }
    expected
}

/// xorshift64*, seeded from the input so that runs are reproducible.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Rng {
        let seed = data
            .iter()
            .take(16)
            .fold(data.len() as u64 ^ 0x9e37_79b9_7f4a_7c15, |acc, &b| {
                (acc ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        Rng(seed | 1)
    }

    fn below(&mut self, n: usize) -> usize {
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

    #[test]
    fn the_seed_corpus_passes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/stomp_decode");
        let mut seen = 0;
        for entry in fs::read_dir(&dir).expect("corpus dir") {
            let data = fs::read(entry.expect("corpus entry").path()).expect("corpus file");
            super::stomp_decode(&data);
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} seeds in {}", dir.display());
    }

    #[test]
    fn odd_inputs_pass() {
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
