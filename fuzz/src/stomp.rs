//! `stomp_decode`: arbitrary bytes into the STOMP decoder.

use stompbox_stomp::{DecodeError, Decoder, Frame, Item, Limits, Version, encode};

use crate::Rng;

#[path = "../../crates/stomp/tests/common/mod.rs"]
#[allow(dead_code)] // `escapes` serves the property tests only
mod common;

use common::{after_round_trip, decode_at};

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
            let (whole, whole_end) = decode(version, limits, data, &mut || data.len());
            let (bytes, bytes_end) = decode(version, limits, data, &mut || 1);
            let mut rng = Rng::new(data);
            let max_chunk = data.len() / 4 + 1;
            let (chunks, chunks_end) =
                decode(version, limits, data, &mut || 1 + rng.below(max_chunk));
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

/// Feeds `data` in chunks of `next_chunk()` bytes and decodes until it runs out or fails.
fn decode(
    version: Version,
    limits: Limits,
    data: &[u8],
    next_chunk: &mut dyn FnMut() -> usize,
) -> (Vec<Item>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut cuts = Vec::new();
    let mut fed = 0;
    while fed < data.len() {
        fed = (fed + next_chunk().max(1)).min(data.len());
        cuts.push(fed);
    }
    decode_at(decoder, data, cuts)
}

/// encode → decode gives the frame back, with the changes the encoder documents.
fn round_trip(frame: &Frame, version: Version) {
    let roomy = Limits {
        max_frame_size: usize::MAX,
        max_headers: usize::MAX,
        max_header_len: usize::MAX,
    };
    let wire = encode(frame, version);
    let (items, end) = decode(version, roomy, &wire, &mut || wire.len());
    assert_eq!(end, Ok(()), "{version}: {frame:?} encoded as {wire:?}");
    assert_eq!(items, vec![Item::Frame(after_round_trip(frame, version))]);
}
