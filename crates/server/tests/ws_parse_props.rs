//! Property tests of the server's WebSocket receiver (`wsconn/parse.rs`, through the hidden
//! `fuzzing` module): client frames written by tungstenite's encoder — messages whole or in
//! fragments with control frames between them, random masks, every length encoding — parse back
//! to the same messages however the bytes are split; a message over the limit fails with 1009
//! after everything before it; arbitrary bytes give the same outcome at any split (the property
//! of `fuzz/ws_frames`).

use proptest::prelude::*;
use proptest::sample::Index;
use stompbox_server::fuzzing::{WsEvent, WsFailure, WsReceiver};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};

/// One thing a client sends.
#[derive(Debug, Clone)]
enum Sent {
    /// A data message, cut into fragments at `cuts`, with an optional ping after the first.
    Message {
        text: bool,
        data: Vec<u8>,
        cuts: Vec<Index>,
        ping: Option<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let header = FrameHeader {
        is_final: fin,
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    let mut out = Vec::new();
    Frame::from_payload(header, payload.to_vec().into())
        .format(&mut out)
        .expect("formatting into a Vec");
    out
}

/// The wire bytes of `sent` and the events the server must see.
fn encode(sent: &[Sent], close: &Option<(u16, String)>, mask: [u8; 4]) -> (Vec<u8>, Vec<WsEvent>) {
    let mut wire = Vec::new();
    let mut events = Vec::new();
    for item in sent {
        match item {
            Sent::Message {
                text,
                data,
                cuts,
                ping,
            } => {
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
                at.push(data.len());
                at.sort_unstable();
                at.dedup();
                let kind = if *text { Data::Text } else { Data::Binary };
                let mut start = 0;
                for (i, &end) in at.iter().enumerate() {
                    let opcode = OpCode::Data(if i == 0 { kind } else { Data::Continue });
                    let fin = i + 1 == at.len();
                    wire.extend(frame(opcode, fin, &data[start..end], mask));
                    start = end;
                    if let (0, false, Some(p)) = (i, fin, ping) {
                        wire.extend(frame(OpCode::Control(Control::Ping), true, p, mask));
                        events.push(WsEvent::Ping(p.clone()));
                    }
                }
                events.push(WsEvent::Message(data.clone()));
            }
            Sent::Ping(p) => {
                wire.extend(frame(OpCode::Control(Control::Ping), true, p, mask));
                events.push(WsEvent::Ping(p.clone()));
            }
            Sent::Pong(p) => {
                wire.extend(frame(OpCode::Control(Control::Pong), true, p, mask));
                events.push(WsEvent::Pong);
            }
        }
    }
    if let Some((code, reason)) = close {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        wire.extend(frame(OpCode::Control(Control::Close), true, &payload, mask));
        events.push(WsEvent::Close(Some((*code, reason.clone()))));
    }
    (wire, events)
}

/// Feeds `wire` cut at `cuts`, as the server does: stops after a Close or a failure.
fn receive(
    max: usize,
    wire: &[u8],
    cuts: &[Index],
) -> (Vec<WsEvent>, Result<bool, WsFailure>, (usize, usize)) {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
    at.push(wire.len());
    at.sort_unstable();
    let mut receiver = WsReceiver::new(max);
    let mut events = Vec::new();
    let mut fed = 0;
    for end in at {
        let mut piece = wire[fed..end].to_vec();
        fed = end;
        match receiver.feed(&mut piece, &mut events) {
            Ok(false) => {}
            end => return (events, end, receiver.held()),
        }
    }
    (events, Ok(false), receiver.held())
}

fn payload(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn sent() -> impl Strategy<Value = Sent> {
    let text = ".{0,40}"
        .prop_map(String::into_bytes)
        .prop_map(|d| (true, d));
    let binary = prop_oneof![4 => payload(40), 1 => payload(70_000)].prop_map(|d| (false, d));
    prop_oneof![
        4 => (
            prop_oneof![text, binary],
            prop::collection::vec(any::<Index>(), 0..4),
            prop::option::of(payload(126)),
        )
            .prop_map(|((text, data), cuts, ping)| Sent::Message { text, data, cuts, ping }),
        1 => payload(126).prop_map(Sent::Ping),
        1 => payload(126).prop_map(Sent::Pong),
    ]
}

fn close() -> impl Strategy<Value = Option<(u16, String)>> {
    let code = prop::sample::select(vec![1000u16, 1001, 1003, 1008, 1011, 3000, 4500, 4999]);
    prop::option::of((code, "[a-zé ]{0,40}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn encoded_frames_parse_back_at_any_split(
        sent in prop::collection::vec(sent(), 0..6),
        close in close(),
        mask in any::<[u8; 4]>(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let (wire, expected) = encode(&sent, &close, mask);
        let (events, end, held) = receive(70_000, &wire, &cuts);
        prop_assert_eq!(events, expected);
        prop_assert_eq!(end, Ok(close.is_some()));
        if close.is_none() {
            prop_assert_eq!(held, (0, 0), "nothing held after complete messages");
        }
    }

    #[test]
    fn a_message_over_the_limit_fails_with_1009_after_the_ones_before(
        before in prop::collection::vec(payload(20), 0..4),
        size in 21usize..200,
        cuts in prop::collection::vec(any::<Index>(), 0..8),
        fragment_at in any::<Index>(),
    ) {
        let limit = 20;
        let mut sent: Vec<Sent> = before.into_iter().map(|data| Sent::Message {
            text: false, data, cuts: vec![], ping: None,
        }).collect();
        let expected: Vec<WsEvent> = sent.iter().map(|s| match s {
            Sent::Message { data, .. } => WsEvent::Message(data.clone()),
            _ => unreachable!(),
        }).collect();
        sent.push(Sent::Message { text: false, data: vec![7; size], cuts: vec![fragment_at], ping: None });
        let (wire, _) = encode(&sent, &None, [1, 2, 3, 4]);
        let (events, end, _) = receive(limit, &wire, &cuts);
        prop_assert_eq!(events, expected);
        let failure = end.expect_err("over the limit");
        prop_assert_eq!(failure.code, 1009, "{:?}", failure);
    }

    #[test]
    fn arbitrary_bytes_give_the_same_outcome_at_any_split(
        wire in prop::collection::vec(any::<u8>(), 0..300),
        max in prop::sample::select(vec![0usize, 5, 125, 1000]),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let (events, end, _) = receive(max, &wire, &[]);
        let (split_events, split_end, _) = receive(max, &wire, &cuts);
        prop_assert_eq!(&events, &split_events);
        prop_assert_eq!(end, split_end);
        for event in events {
            if let WsEvent::Message(m) = event {
                prop_assert!(m.len() <= max);
            }
        }
    }
}
