//! Shared by the property tests (`roundtrip.rs`) and the `stomp_decode` fuzz target
//! (`fuzz/src/stomp.rs` includes this file by path), so that both check the same round trip.

use bytes::BytesMut;
use stompbox_stomp::{Command, DecodeError, Decoder, Frame, Item, Version};

/// Whether headers of `command` are escaped in `version`.
pub(crate) fn escapes(command: Command, version: Version) -> bool {
    version > Version::V1_0 && command.escapes_headers()
}

/// The frame that encoding `frame` and decoding the result gives: CR and LF (and `:` in names)
/// become spaces where no escape exists for them, and a `content-length` is added.
pub(crate) fn after_round_trip(frame: &Frame, version: Version) -> Frame {
    let escaped = escapes(frame.command, version);
    let fix = |text: &str, is_name: bool| -> String {
        text.chars()
            .map(|c| match c {
                '\r' if version < Version::V1_2 || !escaped => ' ',
                '\n' if !escaped => ' ',
                ':' if is_name && !escaped => ' ',
                c => c,
            })
            .collect()
    };
    let mut expected = Frame {
        command: frame.command,
        headers: frame
            .headers
            .iter()
            .map(|(n, v)| (fix(n, true).into(), fix(v, false).into()))
            .collect(),
        body: frame.body.clone(),
    };
    if !frame.body.is_empty() && frame.header("content-length").is_none() {
        expected.push_header("content-length", frame.body.len().to_string());
    }
    expected
}

/// Feeds `bytes` to `decoder` in pieces ending at `cuts` (ascending, each at most
/// `bytes.len()`; the rest follows the last) and decodes after each; returns the items and
/// the error that ended them.
pub(crate) fn decode_at(
    mut decoder: Decoder,
    bytes: &[u8],
    cuts: impl IntoIterator<Item = usize>,
) -> (Vec<Item>, Result<(), DecodeError>) {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    let mut fed = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        buf.extend_from_slice(&bytes[fed..cut.max(fed)]);
        fed = cut.max(fed);
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
