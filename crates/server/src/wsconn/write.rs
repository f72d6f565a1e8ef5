//! RFC 6455 §5.2 frames from the server (unmasked), written straight into one batch buffer: the
//! WebSocket header, then the item's bytes — a MESSAGE's shared tail is copied once, into the
//! batch, with no intermediate buffer per delivery. Pure functions over `BytesMut`.

use bytes::{BufMut, BytesMut};
use stompbox_broker::Outbound;

/// §5.2 opcodes the server sends.
pub(crate) const TEXT: u8 = 0x1;
pub(crate) const BINARY: u8 = 0x2;
pub(crate) const CLOSE: u8 = 0x8;
pub(crate) const PONG: u8 = 0xA;

/// A final frame's header for `len` payload bytes (no mask: servers do not mask).
pub(crate) fn put_header(buf: &mut BytesMut, opcode: u8, len: usize) {
    buf.put_u8(0x80 | opcode);
    match len {
        0..=125 => buf.put_u8(len as u8),
        126..=0xFFFF => {
            buf.put_u8(126);
            buf.put_u16(len as u16);
        }
        _ => {
            buf.put_u8(127);
            buf.put_u64(len as u64);
        }
    }
}

/// Bytes `put_item` adds for `item` (header included).
pub(crate) fn framed_len(item: &Outbound) -> usize {
    let len = item.wire_len();
    len + match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// Appends `item` as one WebSocket message: text when it is UTF-8 (what browsers' STOMP
/// clients expect), binary otherwise. A Close writes nothing (see [`put_close`]).
pub(crate) fn put_item(buf: &mut BytesMut, item: &Outbound) {
    match item {
        Outbound::Frame(bytes) => {
            let opcode = if std::str::from_utf8(bytes).is_ok() {
                TEXT
            } else {
                BINARY
            };
            put_header(buf, opcode, bytes.len());
            buf.put_slice(bytes);
        }
        Outbound::Message { head, tail } => {
            // The head is UTF-8 by construction; the tail knows.
            let opcode = if tail.is_utf8() { TEXT } else { BINARY };
            put_header(buf, opcode, head.len() + tail.len());
            buf.put_slice(head);
            buf.put_slice(tail);
        }
        Outbound::HeartBeat => buf.put_slice(&[0x80 | TEXT, 1, b'\n']),
        Outbound::Close(_) => {}
    }
}

/// Appends a text message.
pub(crate) fn put_text(buf: &mut BytesMut, text: &str) {
    put_header(buf, TEXT, text.len());
    buf.put_slice(text.as_bytes());
}

/// Appends a Close frame: `None` for an empty payload, else the code and a reason (which the
/// caller keeps within 123 bytes).
pub(crate) fn put_close(buf: &mut BytesMut, close: Option<(u16, &str)>) {
    match close {
        None => put_header(buf, CLOSE, 0),
        Some((code, reason)) => {
            put_header(buf, CLOSE, 2 + reason.len());
            buf.put_u16(code);
            buf.put_slice(reason.as_bytes());
        }
    }
}

/// Appends a Pong carrying `payload` (a ping's, at most 125 bytes).
pub(crate) fn put_pong(buf: &mut BytesMut, payload: &[u8]) {
    put_header(buf, PONG, payload.len());
    buf.put_slice(payload);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Cursor;

    use bytes::Bytes;
    use stompbox_broker::Tail;
    use tungstenite::protocol::frame::FrameHeader;
    use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

    use super::*;

    /// Parses what we wrote with tungstenite: header, payload length, payload.
    fn parse(buf: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut cursor = Cursor::new(buf);
        let (header, len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
        let start = cursor.position() as usize;
        assert_eq!(buf.len(), start + len as usize, "exactly one frame");
        (header, buf[start..].to_vec())
    }

    #[test]
    fn headers_at_the_length_boundaries_parse_back() {
        for len in [0usize, 125, 126, 65535, 65536, 70000] {
            let item = Outbound::Frame(Bytes::from(vec![b'a'; len]));
            let mut buf = BytesMut::new();
            put_item(&mut buf, &item);
            assert_eq!(buf.len(), framed_len(&item), "length {len}");
            let (header, payload) = parse(&buf);
            assert!(header.is_final && header.mask.is_none());
            assert_eq!(header.opcode, OpCode::Data(Data::Text));
            assert_eq!(payload.len(), len);
        }
    }

    #[test]
    fn a_message_is_head_then_tail_and_binary_when_the_tail_is_not_utf8() {
        let item = Outbound::Message {
            head: Bytes::from_static(b"MESSAGE\nsubscription:1\n"),
            tail: Tail::new(Bytes::from_static(b"\nhi\0")),
        };
        let mut buf = BytesMut::new();
        put_item(&mut buf, &item);
        let (header, payload) = parse(&buf);
        assert_eq!(header.opcode, OpCode::Data(Data::Text));
        assert_eq!(payload, b"MESSAGE\nsubscription:1\n\nhi\0");
        let binary = Outbound::Message {
            head: Bytes::from_static(b"MESSAGE\n"),
            tail: Tail::new(Bytes::from_static(b"\n\xff\0")),
        };
        let mut buf = BytesMut::new();
        put_item(&mut buf, &binary);
        assert_eq!(parse(&buf).0.opcode, OpCode::Data(Data::Binary));
    }

    #[test]
    fn heart_beat_close_and_pong() {
        let mut buf = BytesMut::new();
        put_item(&mut buf, &Outbound::HeartBeat);
        assert_eq!(parse(&buf).1, b"\n");
        let mut buf = BytesMut::new();
        put_close(&mut buf, Some((4408, "late")));
        let (header, payload) = parse(&buf);
        assert_eq!(header.opcode, OpCode::Control(Control::Close));
        assert_eq!(payload, b"\x11\x38late");
        let mut buf = BytesMut::new();
        put_close(&mut buf, None);
        assert_eq!(parse(&buf).1, b"");
        let mut buf = BytesMut::new();
        put_pong(&mut buf, b"p");
        assert_eq!(parse(&buf).0.opcode, OpCode::Control(Control::Pong));
    }
}
