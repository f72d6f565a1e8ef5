//! `ws_frames`: bytes from a WebSocket client into the server's hand-written receiver
//! (`crates/server/src/wsconn/parse.rs`), whole, one byte at a time and in pseudo-random chunks.
//! It must never panic, never hold more than one frame's worth of an incomplete frame, never
//! deliver a message over the size limit, and give the same events and the same end (Close,
//! failure with its close code and reason, or more input wanted) however the bytes are split.
//!
//! The first input byte picks the size limit and how the rest is read: as raw bytes, or as
//! frame specifications that tungstenite's encoder turns into well-formed (masked) frames, so
//! that the fuzzer also reaches what lies behind the masking and the length encodings.

use stompbox_server::fuzzing::{WsEvent, WsFailure, WsReceiver};
use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::{Frame, FrameHeader};

use crate::Rng;

/// Message size limits to fuzz with: small ones are reached by small inputs; the server's own
/// is at least 64 KiB.
const LIMITS: [usize; 4] = [0, 7, 125, 64 * 1024];

/// The longest frame header: 2 bytes, an 8-byte length and a 4-byte mask.
const MAX_HEADER: usize = 14;

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;

/// How a feeding ended.
type End = Result<bool, WsFailure>;

/// Checks one fuzz input; panics on a finding.
pub fn ws_frames(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
    let max = LIMITS[usize::from(config & 3)];
    let stream = if config & 4 == 0 {
        rest.to_vec()
    } else {
        encode_specs(rest)
    };
    let (whole, whole_end) = receive(max, &stream, &mut || usize::MAX);
    let (bytes, bytes_end) = receive(max, &stream, &mut || 1);
    let mut rng = Rng::new(data);
    let max_chunk = stream.len() / 4 + 1;
    let (chunks, chunks_end) = receive(max, &stream, &mut || 1 + rng.below(max_chunk));
    assert_eq!(whole, bytes, "one byte at a time");
    assert_eq!(whole_end, bytes_end, "one byte at a time");
    assert_eq!(whole, chunks, "in chunks");
    assert_eq!(whole_end, chunks_end, "in chunks");
    for event in &whole {
        match event {
            WsEvent::Message(m) => assert!(m.len() <= max, "{} > {max} bytes", m.len()),
            WsEvent::Ping(p) => assert!(p.len() <= MAX_CONTROL),
            WsEvent::Close(Some((_, reason))) => assert!(reason.len() <= MAX_CONTROL - 2),
            WsEvent::Pong | WsEvent::Close(None) => {}
        }
    }
    if let Err(failure) = &whole_end {
        assert!(
            matches!(failure.code, 1002 | 1007 | 1009),
            "unexpected close code {failure:?}"
        );
    }
}

/// Feeds `stream` in chunks of `next_chunk()` bytes until it ends, a Close stops the receiver,
/// or it fails; checks what the receiver holds after each chunk.
fn receive(
    max: usize,
    stream: &[u8],
    next_chunk: &mut dyn FnMut() -> usize,
) -> (Vec<WsEvent>, End) {
    let mut receiver = WsReceiver::new(max);
    let mut events = Vec::new();
    let mut fed = 0;
    while fed < stream.len() {
        let end = fed + next_chunk().clamp(1, stream.len() - fed);
        let mut piece = stream[fed..end].to_vec();
        fed = end;
        match receiver.feed(&mut piece, &mut events) {
            Ok(false) => {}
            end => return (events, end),
        }
        let (partial, fragments) = receiver.held();
        assert!(
            partial < MAX_HEADER + max.max(MAX_CONTROL),
            "{partial} bytes of an incomplete frame held (limit {max})"
        );
        assert!(
            fragments <= max,
            "{fragments} bytes of a fragmented message held (limit {max})"
        );
    }
    (events, Ok(false))
}

/// Frames from specifications: per frame a flags byte (bit 7 FIN, bits 4-6 RSV1-3, bits 0-3 the
/// opcode), a length byte (bit 7: send unmasked; 0-125 the payload length, 126 a 16-bit length
/// from the next two bytes, 127 a length over the largest limit) and the payload, taken from
/// the input (shorter if the input runs out; the frame then says more than it carries).
fn encode_specs(mut specs: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let [flags, length, rest @ ..] = specs {
        let (len, rest) = match length & 0x7f {
            126 => match rest {
                [hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
                _ => (0, rest),
            },
            127 => (LIMITS[3] + 1, rest),
            n => (usize::from(n), rest),
        };
        let take = len.min(rest.len());
        let (payload, rest) = rest.split_at(take);
        let header = FrameHeader {
            is_final: flags & 0x80 != 0,
            rsv1: flags & 0x40 != 0,
            rsv2: flags & 0x20 != 0,
            rsv3: flags & 0x10 != 0,
            opcode: OpCode::from(flags & 0x0f),
            mask: (length & 0x80 == 0).then_some([0x5a, 0x01, 0xc3, 0x00]),
        };
        let mut frame = Vec::new();
        // Formatting into a Vec does no I/O and cannot fail.
        let _ = Frame::from_payload(header, payload.to_vec().into()).format(&mut frame);
        if take < len {
            // Say the full length, carry what there is: an incomplete frame.
            frame = rewrite_length(&frame, payload.len(), len);
        }
        out.extend_from_slice(&frame);
        specs = rest;
    }
    out
}

/// `frame` (header and `carried` payload bytes) with its header re-encoded to claim `claimed`
/// bytes of payload.
fn rewrite_length(frame: &[u8], carried: usize, claimed: usize) -> Vec<u8> {
    let header_len = frame.len() - carried;
    let masked = frame[1] & 0x80 != 0;
    let mut out = vec![frame[0]];
    let mask_bit = if masked { 0x80 } else { 0 };
    match claimed {
        0..=125 => out.push(mask_bit | claimed as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(claimed as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(claimed as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&frame[header_len - 4..header_len]);
    }
    out.extend_from_slice(&frame[header_len..]);
    out
}
