//! Property tests: encode → decode at arbitrary split points gives the frames back, and
//! decoding arbitrary bytes never panics, does not depend on how the bytes are split, and
//! re-encodes every frame it yields faithfully (the same property as `fuzz/stomp_decode`).

mod common;

use bytes::Bytes;
use common::{after_round_trip, decode_at, escapes};
use proptest::prelude::*;
use proptest::sample::Index;
use stompbox_stomp::{Command, DecodeError, Decoder, Frame, Item, Limits, Version, encode};

const COMMANDS: [Command; 15] = [
    Command::Connect,
    Command::Stomp,
    Command::Send,
    Command::Subscribe,
    Command::Unsubscribe,
    Command::Ack,
    Command::Nack,
    Command::Begin,
    Command::Commit,
    Command::Abort,
    Command::Disconnect,
    Command::Connected,
    Command::Message,
    Command::Receipt,
    Command::Error,
];

/// Feeds `bytes` in chunks cut at `cuts`; returns the items and the error that ended them.
fn decode_chunked(
    decoder: Decoder,
    bytes: &[u8],
    cuts: &[Index],
) -> (Vec<Item>, Result<(), DecodeError>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
    cuts.sort_unstable();
    decode_at(decoder, bytes, cuts)
}

fn decoder(version: Version, limits: Limits) -> Decoder {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    decoder
}

fn version() -> impl Strategy<Value = Version> {
    prop::sample::select(Version::ALL.to_vec())
}

/// Header text with the characters that matter to framing and escaping over-represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-c:\\\\\r\n\0 é]{0,10}"]
}

/// A frame whose headers can be carried by `version`: `Frame`s that cannot are covered by
/// `after_round_trip` and the unit tests of the encoder.
fn frame(version: Version) -> impl Strategy<Value = Frame> {
    let header = (text(), text());
    let body = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 0..64)
    ];
    (
        prop::sample::select(COMMANDS.to_vec()),
        prop::collection::vec(header, 0..6),
        body,
    )
        .prop_map(move |(command, headers, body)| {
            let escaped = escapes(command, version);
            let keep = |c: &char, is_name: bool| match c {
                '\r' => escaped && version == Version::V1_2,
                '\n' => escaped,
                ':' => escaped || !is_name,
                _ => true,
            };
            let mut frame = Frame::new(command).with_body(body);
            for (name, value) in headers {
                let mut name: String = name.chars().filter(|c| keep(c, true)).collect();
                if name.is_empty() || name == "content-length" {
                    name.insert_str(0, "x-");
                }
                let value: String = value.chars().filter(|c| keep(c, false)).collect();
                frame.push_header(name, value);
            }
            frame
        })
}

fn frames() -> impl Strategy<Value = (Version, Vec<(Frame, u8)>)> {
    version().prop_flat_map(|version| {
        let eols = 0u8..3;
        (
            Just(version),
            prop::collection::vec((frame(version), eols), 1..4),
        )
    })
}

/// STOMP-ish fragments, so that random input often gets past the command line.
fn stomp_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        &b"SEND\n"[..],
        b"MESSAGE\r\n",
        b"CONNECT\n",
        b"CONNECTED\n",
        b"a:b\n",
        b"x\\c:y\\n\n",
        b"k:v\\r\r\n",
        b"content-length:3\n",
        b"content-length:0\n",
        b"content-length:x\n",
        b"\n",
        b"\r\n",
        b"\0",
        b"abc",
        b"\\",
        b"\\t",
        b":",
        b"\xff",
        b"\r",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat()),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1usize..256, 0usize..8, 0usize..64).prop_map(|(max_frame_size, max_headers, len)| {
            Limits {
                max_frame_size,
                max_headers,
                max_header_len: len,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn encoded_frames_decode_back_at_any_split(
        (version, frames) in frames(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (frame, eols) in &frames {
            bytes.extend_from_slice(&encode(frame, version));
            expected.push(Item::Frame(after_round_trip(frame, version)));
            for i in 0..*eols {
                bytes.extend_from_slice(if i % 2 == 0 { b"\n" } else { b"\r\n" });
                expected.push(Item::HeartBeat);
            }
        }
        let (items, result) = decode_chunked(decoder(version, Limits::default()), &bytes, &cuts);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(items, expected);
    }

    #[test]
    fn frames_that_cannot_be_carried_are_sanitized_not_broken(
        version in version(),
        command in prop::sample::select(COMMANDS.to_vec()),
        headers in prop::collection::vec(("[a-c:\r\n\\\\]{1,6}", text()), 0..4),
    ) {
        let headers = headers.into_iter().map(|(n, v)| (n.into(), v.into())).collect();
        let frame = Frame { command, headers, body: Bytes::new() };
        let bytes = encode(&frame, version);
        let (items, result) = decode_chunked(decoder(version, Limits::default()), &bytes, &[]);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(items, vec![Item::Frame(after_round_trip(&frame, version))]);
    }

    #[test]
    fn arbitrary_bytes_decode_the_same_at_any_split_and_re_encode(
        bytes in stomp_bytes(),
        version in version(),
        limits in limits(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let (whole, whole_result) = decode_chunked(decoder(version, limits), &bytes, &[]);
        let (split, split_result) = decode_chunked(decoder(version, limits), &bytes, &cuts);
        prop_assert_eq!(&whole, &split);
        // Which limit is crossed first may depend on the split, not whether one is.
        prop_assert_eq!(whole_result.is_err(), split_result.is_err());
        for item in whole {
            let Item::Frame(frame) = item else { continue };
            let again = encode(&frame, version);
            let roomy = Limits { max_frame_size: usize::MAX, max_headers: usize::MAX, max_header_len: usize::MAX };
            let (items, result) = decode_chunked(decoder(version, roomy), &again, &cuts);
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(items, vec![Item::Frame(after_round_trip(&frame, version))]);
        }
    }
}
