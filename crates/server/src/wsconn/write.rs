//! RFC 6455 §5.2 frames from the server (unmasked), written straight into the buffer they are
//! sent from (the connection's outbox encodes each item this way as it is queued). Pure
//! functions over `BytesMut`.

use bytes::{BufMut, BytesMut};

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
            let mut buf = BytesMut::new();
            put_header(&mut buf, BINARY, len);
            buf.put_bytes(b'a', len);
            let (header, payload) = parse(&buf);
            assert!(header.is_final && header.mask.is_none());
            assert_eq!(header.opcode, OpCode::Data(Data::Binary));
            assert_eq!(payload.len(), len, "length {len}");
        }
    }

    #[test]
    fn text_close_and_pong() {
        let mut buf = BytesMut::new();
        put_text(&mut buf, "\n");
        assert_eq!(
            parse(&buf),
            (
                FrameHeader {
                    opcode: OpCode::Data(Data::Text),
                    ..FrameHeader::default()
                },
                b"\n".to_vec()
            )
        );
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
