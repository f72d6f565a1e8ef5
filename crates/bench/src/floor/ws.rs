//! WebSocket framing for the floor (RFC 6455 §5), sans-IO: client frames out of a read buffer,
//! server frames into [`Bytes`].
//!
//! Owns unmasking, reassembling fragments and the framing rules a server must enforce (masked
//! client frames, no reserved bits, short unfragmented control frames). Header parsing is
//! tungstenite's [`FrameHeader::parse`]. Must not read or write sockets. Text payloads are not
//! checked for UTF-8: the floor passes STOMP bytes through, as fast as it can.

use std::io::Cursor;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::FrameHeader;
pub(super) use tungstenite::protocol::frame::coding::Control;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// Close code 1000 (Normal Closure).
pub(super) const NORMAL: u16 = 1000;
/// Close code 1002 (Protocol Error).
pub(super) const PROTOCOL_ERROR: u16 = 1002;
/// Close code 1009 (Message Too Big).
pub(super) const TOO_BIG: u16 = 1009;

/// The longest server frame header: unmasked, 64-bit length.
const MAX_HEAD: usize = 10;

/// What the client sent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Message {
    /// A whole text or binary message.
    Data(BytesMut),
    /// A ping, to be answered with a pong carrying the same payload.
    Ping(Bytes),
    /// A close frame and its status code, if it had one.
    Close(Option<u16>),
}

/// A framing violation: the connection is closed with [`Violation::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Violation {
    /// Unmasked frame, reserved bits or opcode, bad control frame or fragment order.
    Protocol,
    /// A message longer than the reader's limit.
    TooBig,
}

impl Violation {
    pub(super) fn close_code(self) -> u16 {
        match self {
            Violation::Protocol => PROTOCOL_ERROR,
            Violation::TooBig => TOO_BIG,
        }
    }
}

/// Reads client frames from a buffer that grows as bytes arrive.
#[derive(Debug)]
pub(super) struct Reader {
    max_message: usize,
    /// The fragments of an unfinished message, unmasked and joined.
    fragments: Option<BytesMut>,
}

impl Reader {
    pub(super) fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            fragments: None,
        }
    }

    /// The next message at the front of `buf`, consuming its frames; `Ok(None)` = need more
    /// bytes (and `buf` has room reserved for the frame being read).
    pub(super) fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, Violation> {
        loop {
            let mut cursor = Cursor::new(&buf[..]);
            let Some((header, length)) =
                FrameHeader::parse(&mut cursor).map_err(|_| Violation::Protocol)?
            else {
                return Ok(None);
            };
            let head = usize::try_from(cursor.position()).map_err(|_| Violation::Protocol)?;
            let Some(mask) = header.mask else {
                return Err(Violation::Protocol);
            };
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(Violation::Protocol);
            }
            let buffered = self.fragments.as_ref().map_or(0, BytesMut::len);
            let length = usize::try_from(length)
                .ok()
                .filter(|&n| n <= self.max_message.saturating_sub(buffered))
                .ok_or(Violation::TooBig)?;
            if buf.len() < head + length {
                buf.reserve(head + length - buf.len());
                return Ok(None);
            }
            buf.advance(head);
            let mut payload = buf.split_to(length);
            unmask(&mut payload, mask);
            match header.opcode {
                OpCode::Control(control) => {
                    if !header.is_final || length > 125 {
                        return Err(Violation::Protocol);
                    }
                    match control {
                        Control::Ping => return Ok(Some(Message::Ping(payload.freeze()))),
                        Control::Pong => {}
                        Control::Close => return close(&payload).map(Some),
                        Control::Reserved(_) => return Err(Violation::Protocol),
                    }
                }
                OpCode::Data(Data::Continue) => {
                    let mut message = self.fragments.take().ok_or(Violation::Protocol)?;
                    message.extend_from_slice(&payload);
                    if header.is_final {
                        return Ok(Some(Message::Data(message)));
                    }
                    self.fragments = Some(message);
                }
                OpCode::Data(Data::Text | Data::Binary) => {
                    if self.fragments.is_some() {
                        return Err(Violation::Protocol);
                    }
                    if header.is_final {
                        return Ok(Some(Message::Data(payload)));
                    }
                    self.fragments = Some(payload);
                }
                OpCode::Data(Data::Reserved(_)) => return Err(Violation::Protocol),
            }
        }
    }
}

/// The status code of a close frame; RFC 6455 §7.4 codes an endpoint must not send are
/// violations.
fn close(payload: &[u8]) -> Result<Message, Violation> {
    match payload {
        [] => Ok(Message::Close(None)),
        [a, b, ..] if CloseCode::from(u16::from_be_bytes([*a, *b])).is_allowed() => {
            Ok(Message::Close(Some(u16::from_be_bytes([*a, *b]))))
        }
        _ => Err(Violation::Protocol),
    }
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let value = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= m;
    }
}

/// A server text frame whose payload `write` appends, framed without copying the payload:
/// the header is written into room left in front of it.
pub(super) fn text(capacity: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut buf = BytesMut::with_capacity(MAX_HEAD + capacity);
    buf.put_bytes(0, MAX_HEAD);
    write(&mut buf);
    frame_in_place(buf, OpCode::Data(Data::Text))
}

/// A server control frame (pong or close).
pub(super) fn control(control: Control, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(MAX_HEAD + payload.len());
    buf.put_bytes(0, MAX_HEAD);
    buf.put_slice(payload);
    frame_in_place(buf, OpCode::Control(control))
}

/// A close frame with this status code.
pub(super) fn close_frame(code: u16) -> Bytes {
    control(Control::Close, &code.to_be_bytes())
}

/// Writes the header for the payload after `buf[..MAX_HEAD]` and drops the unused front.
fn frame_in_place(mut buf: BytesMut, opcode: OpCode) -> Bytes {
    let length = (buf.len() - MAX_HEAD) as u64;
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    let start = MAX_HEAD - header.len(length);
    let mut room = &mut buf[start..MAX_HEAD];
    // An unmasked header is at most MAX_HEAD bytes, so it always fits in the room left for it.
    header
        .format(length, &mut room)
        .expect("an unmasked header fits in MAX_HEAD bytes");
    buf.advance(start);
    buf.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut frame = FrameHeader {
            is_final: first & 0x80 != 0,
            opcode: OpCode::from(first & 0x0f),
            mask: Some(mask),
            ..FrameHeader::default()
        };
        frame.rsv1 = first & 0x40 != 0;
        let mut out = Vec::new();
        frame.format(payload.len() as u64, &mut out).unwrap();
        let mut masked = payload.to_vec();
        unmask(&mut masked, mask);
        out.extend_from_slice(&masked);
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Message>, Violation> {
        let mut reader = Reader::new(1 << 20);
        let mut buf = BytesMut::from(bytes);
        let mut messages = Vec::new();
        while let Some(message) = reader.read(&mut buf)? {
            messages.push(message);
        }
        Ok(messages)
    }

    #[test]
    fn fragments_are_joined_around_control_frames() {
        let mut bytes = client(0x01, b"SEND\n");
        bytes.extend(client(0x89, b"hi"));
        bytes.extend(client(0x8a, b"pong is ignored"));
        bytes.extend(client(0x80, b"\n\0"));
        bytes.extend(client(0x88, &1001u16.to_be_bytes()));
        assert_eq!(
            read_all(&bytes).unwrap(),
            vec![
                Message::Ping(Bytes::from_static(b"hi")),
                Message::Data(BytesMut::from(&b"SEND\n\n\0"[..])),
                Message::Close(Some(1001)),
            ]
        );
    }

    #[test]
    fn a_split_frame_waits_for_its_bytes() {
        let payload = vec![b'x'; 70_000];
        let bytes = client(0x82, &payload);
        let mut reader = Reader::new(1 << 20);
        for end in [0, 1, 2, 9, 13, 14, 1000, bytes.len() - 1] {
            let mut buf = BytesMut::from(&bytes[..end]);
            assert_eq!(reader.read(&mut buf), Ok(None), "prefix {end}");
            assert_eq!(buf.len(), end, "nothing consumed");
        }
        let mut buf = BytesMut::from(&bytes[..]);
        let expected = Message::Data(BytesMut::from(&payload[..]));
        assert_eq!(reader.read(&mut buf), Ok(Some(expected)));
    }

    #[test]
    fn violations_are_named() {
        let unmasked = [0x81, 0x01, b'a'];
        assert_eq!(read_all(&unmasked), Err(Violation::Protocol));
        assert_eq!(read_all(&client(0xc1, b"rsv1")), Err(Violation::Protocol));
        assert_eq!(read_all(&client(0x80, b"orphan")), Err(Violation::Protocol));
        assert_eq!(
            read_all(&client(0x09, b"fragmented ping")),
            Err(Violation::Protocol)
        );
        assert_eq!(
            read_all(&client(0x83, b"reserved")),
            Err(Violation::Protocol)
        );
        assert_eq!(read_all(&client(0x88, b"x")), Err(Violation::Protocol));
        assert_eq!(
            read_all(&client(0x88, &1005u16.to_be_bytes())),
            Err(Violation::Protocol)
        );
        let mut twice = client(0x01, b"a");
        twice.extend(client(0x81, b"b"));
        assert_eq!(read_all(&twice), Err(Violation::Protocol));
        let mut reader = Reader::new(10);
        let mut buf = BytesMut::from(&client(0x81, b"eleven byte")[..]);
        assert_eq!(reader.read(&mut buf), Err(Violation::TooBig));
    }

    #[test]
    fn random_bytes_end_in_a_message_a_wait_or_a_violation_never_a_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8);
            }
            // Mostly masked, short frames, so that the reader gets past the first checks.
            if let Some(second) = bytes.get_mut(1) {
                *second = (*second | 0x80) & if state % 4 == 0 { 0xff } else { 0x8f };
            }
            let _ = read_all(&bytes);
        }
    }

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let small = text(4, |b| b.put_slice(b"hi"));
        assert_eq!(&small[..], b"\x81\x02hi");
        let medium = text(300, |b| b.put_bytes(b'x', 300));
        assert_eq!(&medium[..4], b"\x81\x7e\x01\x2c");
        assert_eq!(medium.len(), 304);
        let large = text(0, |b| b.put_bytes(b'x', 70_000));
        assert_eq!(&large[..2], b"\x81\x7f");
        assert_eq!(large.len(), 70_010);
        assert_eq!(&close_frame(1002)[..], b"\x88\x02\x03\xea");
        assert_eq!(&control(Control::Pong, b"p")[..], b"\x8a\x01p");
    }
}
