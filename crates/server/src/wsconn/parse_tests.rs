//! The receiver against frames formatted by tungstenite's own client-side encoder.
#![allow(clippy::unwrap_used)]

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

use super::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame.
fn frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        mask: Some(MASK),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, payload.to_vec().into())
        .format(&mut out)
        .unwrap();
    out
}

fn text(payload: &str) -> Vec<u8> {
    frame(OpCode::Data(Data::Text), true, payload.as_bytes())
}

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Message(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(Option<(u16, String)>),
}

/// Feeds `input` in chunks of `chunk` bytes; collects events, or the error.
fn feed_chunked(input: &[u8], chunk: usize, max: usize) -> Result<Vec<Got>, WsError> {
    let mut receiver = Receiver::new(max);
    let mut got = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        let mut piece = piece.to_vec();
        let flow = receiver.feed(&mut piece, |event| {
            got.push(match event {
                Event::Message(m) => Got::Message(m.to_vec()),
                Event::Ping(p) => Got::Ping(p.to_vec()),
                Event::Pong => Got::Pong,
                Event::Close(c) => Got::Close(c.map(|(code, r)| (code, r.to_string()))),
            });
            Flow::Continue
        })?;
        assert_eq!(flow, Flow::Continue);
    }
    assert_eq!(
        receiver.buffered(),
        0,
        "nothing held after complete messages"
    );
    Ok(got)
}

fn feed(input: &[u8]) -> Result<Vec<Got>, WsError> {
    feed_chunked(input, input.len(), 1 << 20)
}

#[test]
fn a_masked_text_message_is_unmasked() {
    assert_eq!(
        feed(&text("SEND\n\n\0")).unwrap(),
        [Got::Message(b"SEND\n\n\0".to_vec())]
    );
}

#[test]
fn any_chunking_gives_the_same_events() {
    let mut input = text("hello");
    input.extend(frame(OpCode::Control(Control::Ping), true, b"p"));
    input.extend(frame(OpCode::Data(Data::Binary), true, &[0xff; 300]));
    let whole = feed(&input).unwrap();
    assert_eq!(whole.len(), 3);
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(
            feed_chunked(&input, chunk, 1 << 20).unwrap(),
            whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn lengths_at_the_encoding_boundaries() {
    for len in [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70000] {
        let payload = vec![b'x'; len];
        let input = frame(OpCode::Data(Data::Binary), true, &payload);
        assert_eq!(
            feed_chunked(&input, 4096, 1 << 20).unwrap(),
            [Got::Message(payload)],
            "length {len}"
        );
    }
}

#[test]
fn unmask_matches_a_bytewise_xor_at_every_length() {
    for len in 0..40 {
        let mut buf: Vec<u8> = (0..len as u8).collect();
        let expected: Vec<u8> = buf
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK[i % 4])
            .collect();
        unmask(&mut buf, MASK);
        assert_eq!(buf, expected, "length {len}");
    }
}

#[test]
fn fragments_make_one_message_with_control_frames_between() {
    let mut input = frame(OpCode::Data(Data::Text), false, b"SE");
    input.extend(frame(OpCode::Control(Control::Ping), true, b"1"));
    input.extend(frame(OpCode::Data(Data::Continue), false, b"N"));
    input.extend(frame(OpCode::Control(Control::Pong), true, b""));
    input.extend(frame(OpCode::Data(Data::Continue), true, b"D"));
    for chunk in [1, 5, input.len()] {
        assert_eq!(
            feed_chunked(&input, chunk, 1 << 20).unwrap(),
            [
                Got::Ping(b"1".to_vec()),
                Got::Pong,
                Got::Message(b"SEND".to_vec())
            ]
        );
    }
}

#[test]
fn utf8_split_across_fragments_is_fine() {
    let euro = "€".as_bytes();
    let mut input = frame(OpCode::Data(Data::Text), false, &euro[..1]);
    input.extend(frame(OpCode::Data(Data::Continue), true, &euro[1..]));
    assert_eq!(feed(&input).unwrap(), [Got::Message(euro.to_vec())]);
}

#[test]
fn invalid_utf8_in_text_is_1007_but_fine_in_binary() {
    let bad = [b'S', 0xff, 0xfe];
    let e = feed(&frame(OpCode::Data(Data::Text), true, &bad)).unwrap_err();
    assert_eq!(e, WsError::Utf8);
    assert_eq!(e.status().code, 1007);
    assert_eq!(e.status().closed_by, ClosedBy::Server);
    assert!(feed(&frame(OpCode::Data(Data::Binary), true, &bad)).is_ok());
}

fn protocol_error(input: &[u8]) -> ProtocolError {
    match feed(input) {
        Err(WsError::Protocol(p)) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unmasked_frame_is_1002() {
    let mut out = Vec::new();
    Frame::message("x", OpCode::Data(Data::Text), true)
        .format(&mut out)
        .unwrap();
    assert_eq!(protocol_error(&out), ProtocolError::UnmaskedFrameFromClient);
    let e = feed(&out).unwrap_err().status();
    assert_eq!((e.code, e.closed_by), (1002, ClosedBy::Server));
    assert_eq!(e.reason, "Received an unmasked frame from client");
}

#[test]
fn reserved_bits_are_1002() {
    let mut input = text("x");
    input[0] |= 0x40;
    assert_eq!(protocol_error(&input), ProtocolError::NonZeroReservedBits);
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in [3u8, 7, 0xb, 0xf] {
        let mut input = text("x");
        input[0] = 0x80 | op;
        assert_eq!(
            protocol_error(&input),
            ProtocolError::InvalidOpcode(op),
            "{op}"
        );
    }
}

#[test]
fn control_frames_must_be_short_and_final() {
    let long = frame(OpCode::Control(Control::Ping), true, &[0; 126]);
    assert_eq!(protocol_error(&long), ProtocolError::ControlFrameTooBig);
    let at_limit = frame(OpCode::Control(Control::Ping), true, &[0; 125]);
    assert_eq!(feed(&at_limit).unwrap(), [Got::Ping(vec![0; 125])]);
    let fragmented = frame(OpCode::Control(Control::Ping), false, b"");
    assert_eq!(
        protocol_error(&fragmented),
        ProtocolError::FragmentedControlFrame
    );
}

#[test]
fn fragment_order_is_enforced() {
    let lone = frame(OpCode::Data(Data::Continue), true, b"x");
    assert_eq!(
        protocol_error(&lone),
        ProtocolError::UnexpectedContinueFrame
    );
    let mut interleaved = frame(OpCode::Data(Data::Text), false, b"a");
    interleaved.extend(text("b"));
    assert_eq!(
        protocol_error(&interleaved),
        ProtocolError::ExpectedFragment(Data::Text)
    );
}

#[test]
fn too_big_messages_are_1009_before_the_payload_arrives() {
    let input = frame(OpCode::Data(Data::Text), true, &[b'x'; 1000]);
    // Only the header: refused already.
    let e = feed_chunked(&input[..8], 8, 999).unwrap_err();
    assert_eq!(
        e,
        WsError::Capacity(CapacityError::MessageTooLong {
            size: 1000,
            max_size: 999
        })
    );
    assert_eq!(e.status().code, 1009);
    assert!(feed_chunked(&input, 64, 1000).is_ok());
    // Fragments count together.
    let mut parts = frame(OpCode::Data(Data::Text), false, &[b'x'; 600]);
    parts.extend(frame(OpCode::Data(Data::Continue), true, &[b'x'; 600]));
    assert!(matches!(
        feed_chunked(&parts, 100, 1000),
        Err(WsError::Capacity(_))
    ));
}

#[test]
fn close_payloads() {
    let close = |payload: &[u8]| feed(&frame(OpCode::Control(Control::Close), true, payload));
    assert_eq!(close(b"").unwrap(), [Got::Close(None)]);
    let mut normal = 1000u16.to_be_bytes().to_vec();
    normal.extend(b"bye");
    assert_eq!(
        close(&normal).unwrap(),
        [Got::Close(Some((1000, "bye".into())))]
    );
    // Codes that must not be sent become 1002 "Protocol violation" (as tungstenite did).
    for code in [999u16, 1005, 1006, 1015, 1100] {
        assert_eq!(
            close(&code.to_be_bytes()).unwrap(),
            [Got::Close(Some((1002, "Protocol violation".into())))],
            "{code}"
        );
    }
    assert_eq!(
        close(&4000u16.to_be_bytes()).unwrap(),
        [Got::Close(Some((4000, String::new())))]
    );
    assert!(matches!(
        close(b"x"),
        Err(WsError::Protocol(ProtocolError::InvalidCloseSequence))
    ));
    assert_eq!(close(&[0x03, 0xe8, 0xff]).unwrap_err(), WsError::Utf8);
}

#[test]
fn input_after_a_close_is_ignored() {
    let mut input = frame(OpCode::Control(Control::Close), true, b"");
    input.extend(text("after"));
    let mut receiver = Receiver::new(1000);
    let mut events = 0;
    let flow = receiver
        .feed(&mut input, |_| {
            events += 1;
            Flow::Stop
        })
        .unwrap();
    assert_eq!((flow, events), (Flow::Stop, 1));
    assert_eq!(receiver.buffered(), 0);
}

#[test]
fn an_incomplete_frame_is_held_then_released() {
    let input = text(&"x".repeat(300));
    let mut receiver = Receiver::new(1000);
    let mut first = input[..100].to_vec();
    receiver.feed(&mut first, |_| Flow::Continue).unwrap();
    assert!(receiver.buffered() >= 100);
    let mut rest = input[100..].to_vec();
    let mut got = 0;
    receiver
        .feed(&mut rest, |e| {
            assert!(matches!(e, Event::Message(m) if m.len() == 300));
            got += 1;
            Flow::Continue
        })
        .unwrap();
    assert_eq!((got, receiver.buffered()), (1, 0));
}
