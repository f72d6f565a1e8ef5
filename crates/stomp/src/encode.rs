//! STOMP frame encoder: STOMP 1.2 "STOMP Frames", "Value Encoding" and "Header content-length",
//! with the 1.0 and 1.1 escaping rules.
//!
//! Owns turning a [`Frame`] into bytes, and [`MessageTemplate`], which encodes a MESSAGE's
//! shared part once for a fan-out. Must not check what a frame means (required headers, which
//! commands may have a body): the session decides what to send.
//!
//! Escaping, per header name and value:
//! - 1.2: `\` → `\\`, LF → `\n`, CR → `\r`, `:` → `\c`.
//! - 1.1: the same without `\r`, which 1.1 lacks; a CR becomes a space, since a decoder that
//!   accepts CRLF line ends (most do, ours too) would drop a CR before the LF.
//! - 1.0, and `CONNECT`, `STOMP` and `CONNECTED` in every version (their headers are never
//!   escaped): no escape sequences exist, so CR and LF, and a `:` in a header name, become
//!   spaces; anything else is written as it is. A frame's framing cannot be broken by a header.
//!
//! Header names must not be empty: the decoder rejects a line starting with `:`.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Command, Frame, Header, Version};

/// The header the encoder adds so that bodies containing NUL survive.
const CONTENT_LENGTH: &str = "content-length";

/// Encodes a frame into a new buffer.
pub fn encode(frame: &Frame, version: Version) -> Bytes {
    let mut buf = BytesMut::new();
    encode_into(frame, version, &mut buf);
    buf.freeze()
}

/// Appends an encoded frame to `buf`: the command line, the headers escaped for `version` (see
/// the module docs), a `content-length` header when the body is not empty and the frame has
/// none, the blank line, the body and the NUL. Lines end with a bare LF, which every version
/// accepts.
///
/// A `content-length` header already in the frame is written as it is and must match the body.
pub fn encode_into(frame: &Frame, version: Version, buf: &mut BytesMut) {
    let escaping = Escaping::new(frame.command, version);
    buf.reserve(estimate(
        frame.command.as_str().len(),
        &frame.headers,
        &frame.body,
    ));
    buf.put_slice(frame.command.as_str().as_bytes());
    buf.put_u8(b'\n');
    put_headers(buf, &frame.headers, escaping);
    put_rest(buf, &frame.headers, &frame.body);
}

/// A MESSAGE frame encoded once for a fan-out.
///
/// Everything but the per-subscriber lines (command, `subscription`, `ack`) is encoded once into
/// a shared [`Bytes`] tail; [`MessageTemplate::write_head`] writes the few per-subscriber bytes.
/// `head + tail` is a complete frame.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    tail: Bytes,
}

impl MessageTemplate {
    /// Encodes the shared part: `headers` (e.g. `message-id`, `destination`, `content-type`), a
    /// `content-length` when the body is not empty, the blank line, the body and the NUL.
    ///
    /// Headers are escaped for `version`, which must be the version `write_head` is given.
    pub fn new(headers: &[Header], body: &Bytes, version: Version) -> MessageTemplate {
        let mut buf = BytesMut::with_capacity(estimate(0, headers, body));
        put_headers(&mut buf, headers, Escaping::new(Command::Message, version));
        put_rest(&mut buf, headers, body);
        MessageTemplate { tail: buf.freeze() }
    }

    /// The shared tail.
    pub fn tail(&self) -> &Bytes {
        &self.tail
    }

    /// Writes `MESSAGE\nsubscription:<id>\n` and `ack:<ack>\n` when given.
    pub fn write_head(buf: &mut BytesMut, version: Version, subscription: &str, ack: Option<&str>) {
        let escaping = Escaping::new(Command::Message, version);
        buf.reserve(32 + subscription.len() + ack.map_or(0, str::len));
        buf.put_slice(b"MESSAGE\n");
        put_header(buf, "subscription", subscription, escaping);
        if let Some(ack) = ack {
            put_header(buf, "ack", ack, escaping);
        }
    }
}

/// How header names and values are written; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escaping {
    /// STOMP 1.0, and frames whose headers are never escaped.
    Raw,
    /// STOMP 1.1.
    V1_1,
    /// STOMP 1.2.
    V1_2,
}

impl Escaping {
    fn new(command: Command, version: Version) -> Escaping {
        match version {
            _ if !command.escapes_headers() => Escaping::Raw,
            Version::V1_0 => Escaping::Raw,
            Version::V1_1 => Escaping::V1_1,
            Version::V1_2 => Escaping::V1_2,
        }
    }
}

fn put_headers(buf: &mut BytesMut, headers: &[Header], escaping: Escaping) {
    for (name, value) in headers {
        put_header(buf, name, value, escaping);
    }
}

fn put_header(buf: &mut BytesMut, name: &str, value: &str, escaping: Escaping) {
    put_text(buf, name, escaping, true);
    buf.put_u8(b':');
    put_text(buf, value, escaping, false);
    buf.put_u8(b'\n');
}

/// The `content-length` header if needed, the blank line, the body and the NUL.
fn put_rest(buf: &mut BytesMut, headers: &[Header], body: &Bytes) {
    if !body.is_empty() && !headers.iter().any(|(name, _)| name == CONTENT_LENGTH) {
        buf.put_slice(CONTENT_LENGTH.as_bytes());
        buf.put_u8(b':');
        put_decimal(buf, body.len());
        buf.put_u8(b'\n');
    }
    buf.put_u8(b'\n');
    buf.put_slice(body);
    buf.put_u8(0);
}

/// Writes a header name or value, copying runs of plain bytes in one go.
fn put_text(buf: &mut BytesMut, text: &str, escaping: Escaping, is_name: bool) {
    let bytes = text.as_bytes();
    if !has_special(bytes) {
        buf.put_slice(bytes);
        return;
    }
    let mut plain = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let replacement: &[u8] = match (escaping, byte) {
            (Escaping::Raw, b'\n' | b'\r') => b" ",
            (Escaping::Raw, b':') if is_name => b" ",
            (Escaping::Raw, _) => continue,
            (_, b'\\') => b"\\\\",
            (_, b'\n') => b"\\n",
            (_, b':') => b"\\c",
            (Escaping::V1_2, b'\r') => b"\\r",
            (Escaping::V1_1, b'\r') => b" ",
            _ => continue,
        };
        buf.put_slice(&bytes[plain..i]);
        buf.put_slice(replacement);
        plain = i + 1;
    }
    buf.put_slice(&bytes[plain..]);
}

/// Whether `bytes` has a byte that some escaping rewrites (`\\`, LF, CR, `:`), which most
/// names and values do not: then they are copied as they are.
///
/// Reads whole blocks straight from `bytes` (overlapping at the end rather than padded through a
/// copy, whose stores a wide load cannot take its bytes from without stalling).
fn has_special(bytes: &[u8]) -> bool {
    const SPECIAL: [u8; 4] = [b'\\', b'\n', b'\r', b':'];
    // Sixteen bytes at a time, one byte value at a time, without early exit inside a block, so
    // that the compiler compares a whole block with a few vector instructions.
    fn block_has(block: &[u8]) -> bool {
        let block: [u8; 16] = block.try_into().unwrap_or_default();
        let any = |special: u8| block.iter().fold(false, |found, &b| found | (b == special));
        SPECIAL
            .iter()
            .fold(false, |found, &special| found | any(special))
    }
    /// Eight bytes in a `u64`: a byte equals `special` when it is zero after `^`.
    fn word_has(word: &[u8]) -> bool {
        const ONES: u64 = u64::from_le_bytes([1; 8]);
        const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
        SPECIAL.iter().fold(0, |found, &special| {
            let x = word ^ u64::from_le_bytes([special; 8]);
            found | (x.wrapping_sub(ONES) & !x & HIGH_BITS)
        }) != 0
    }
    let len = bytes.len();
    if len >= 16 {
        return bytes.chunks_exact(16).any(block_has) || block_has(&bytes[len - 16..]);
    }
    if len >= 8 {
        return word_has(&bytes[..8]) || word_has(&bytes[len - 8..]);
    }
    bytes.iter().any(|b| SPECIAL.contains(b))
}

fn put_decimal(buf: &mut BytesMut, n: usize) {
    buf.put_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Bytes an encoding will take, unless escaping makes it longer: one allocation in the usual case.
fn estimate(command_len: usize, headers: &[Header], body: &Bytes) -> usize {
    let headers: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    command_len + headers + body.len() + 40
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{Decoder, Item, Limits};

    fn decode_one(bytes: &[u8], version: Version) -> Frame {
        let mut decoder = Decoder::new(Limits::default());
        decoder.set_version(version);
        let mut buf = BytesMut::from(bytes);
        let item = decoder.decode(&mut buf).unwrap();
        assert!(buf.is_empty(), "left over: {buf:?}");
        match item {
            Some(Item::Frame(frame)) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn a_frame_is_command_headers_blank_line_body_nul() {
        let frame = Frame::new(Command::Subscribe)
            .with_header("id", "0")
            .with_header("destination", "/topic/a");
        assert_eq!(
            &encode(&frame, Version::V1_2)[..],
            b"SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0"
        );
        assert_eq!(
            &encode(&Frame::new(Command::Disconnect), Version::V1_0)[..],
            b"DISCONNECT\n\n\0"
        );
    }

    #[test]
    fn a_body_gets_a_content_length_unless_it_has_one() {
        let frame = Frame::new(Command::Send).with_body(&b"a\0b"[..]);
        assert_eq!(
            &encode(&frame, Version::V1_2)[..],
            b"SEND\ncontent-length:3\n\na\0b\0"
        );
        let frame = frame.with_header("content-length", "3");
        assert_eq!(
            &encode(&frame, Version::V1_2)[..],
            b"SEND\ncontent-length:3\n\na\0b\0"
        );
        let big = Frame::new(Command::Send).with_body(vec![b'x'; 12345]);
        assert_eq!(
            decode_one(&encode(&big, Version::V1_2), Version::V1_2).header("content-length"),
            Some("12345")
        );
    }

    #[test]
    fn a_body_with_nul_survives_a_round_trip() {
        let frame = Frame::new(Command::Message)
            .with_header("destination", "/q")
            .with_body(&b"\0\0\0"[..]);
        let decoded = decode_one(&encode(&frame, Version::V1_2), Version::V1_2);
        assert_eq!(decoded, frame.with_header("content-length", "3"));
    }

    #[test]
    fn encode_into_appends() {
        let mut buf = BytesMut::from(&b"\n"[..]);
        encode_into(&Frame::new(Command::Commit), Version::V1_2, &mut buf);
        assert_eq!(&buf[..], b"\nCOMMIT\n\n\0");
    }

    #[test]
    fn headers_are_escaped_per_version() {
        let frame = Frame::new(Command::Send).with_header("a:b\\", "c\nd\re:");
        let cases: [(Version, &[u8]); 3] = [
            (Version::V1_2, b"SEND\na\\cb\\\\:c\\nd\\re\\c\n\n\0"),
            (Version::V1_1, b"SEND\na\\cb\\\\:c\\nd e\\c\n\n\0"),
            (Version::V1_0, b"SEND\na b\\:c d e:\n\n\0"),
        ];
        for (version, bytes) in cases {
            assert_eq!(&encode(&frame, version)[..], bytes, "{version}");
        }
    }

    #[test]
    fn connect_and_connected_headers_are_never_escaped() {
        for command in [Command::Connect, Command::Stomp, Command::Connected] {
            let frame = Frame::new(command)
                .with_header("host", "a:b\\c")
                .with_header("login", "x\r\ny");
            let expected = format!("{command}\nhost:a:b\\c\nlogin:x  y\n\n\0");
            assert_eq!(&encode(&frame, Version::V1_2)[..], expected.as_bytes());
        }
    }

    #[test]
    fn escaped_headers_round_trip() {
        let value = "\\ \n : \\c é";
        for version in [Version::V1_1, Version::V1_2] {
            let frame = Frame::new(Command::Send).with_header(value, value);
            assert_eq!(
                decode_one(&encode(&frame, version), version),
                frame,
                "{version}"
            );
        }
        let frame = Frame::new(Command::Send).with_header("x", "a\rb");
        assert_eq!(
            decode_one(&encode(&frame, Version::V1_2), Version::V1_2),
            frame
        );
    }

    #[test]
    fn a_message_template_and_head_make_a_message_frame() {
        let headers = vec![
            ("message-id".into(), "7".into()),
            ("destination".into(), "/topic/a:b".into()),
        ];
        let body = Bytes::from_static(b"hi\0");
        let template = MessageTemplate::new(&headers, &body, Version::V1_2);
        assert_eq!(
            &template.tail()[..],
            b"message-id:7\ndestination:/topic/a\\cb\ncontent-length:3\n\nhi\0\0"
        );

        let mut buf = BytesMut::new();
        MessageTemplate::write_head(&mut buf, Version::V1_2, "sub:1", Some("ack\n2"));
        assert_eq!(&buf[..], b"MESSAGE\nsubscription:sub\\c1\nack:ack\\n2\n");
        buf.extend_from_slice(template.tail());
        let expected = Frame::new(Command::Message)
            .with_header("subscription", "sub:1")
            .with_header("ack", "ack\n2")
            .with_header("message-id", "7")
            .with_header("destination", "/topic/a:b")
            .with_header("content-length", "3")
            .with_body(body);
        assert_eq!(decode_one(&buf, Version::V1_2), expected);
    }

    #[test]
    fn a_message_template_without_body_or_ack() {
        let headers = vec![("destination".into(), "/q".into())];
        let template = MessageTemplate::new(&headers, &Bytes::new(), Version::V1_0);
        let mut buf = BytesMut::new();
        MessageTemplate::write_head(&mut buf, Version::V1_0, "0", None);
        buf.extend_from_slice(template.tail());
        assert_eq!(&buf[..], b"MESSAGE\nsubscription:0\ndestination:/q\n\n\0");
        let expected = Frame::new(Command::Message)
            .with_header("subscription", "0")
            .with_header("destination", "/q");
        assert_eq!(decode_one(&buf, Version::V1_0), expected);
    }

    #[test]
    fn a_message_template_keeps_a_given_content_length() {
        let headers = vec![("content-length".into(), "2".into())];
        let template = MessageTemplate::new(&headers, &Bytes::from_static(b"ok"), Version::V1_1);
        assert_eq!(&template.tail()[..], b"content-length:2\n\nok\0");
    }

    #[test]
    fn special_bytes_are_found_at_any_offset() {
        for len in 0..50 {
            let mut text = vec![b'a'; len];
            assert!(!has_special(&text), "{len}");
            for at in 0..len {
                for special in [b'\\', b'\n', b'\r', b':'] {
                    text[at] = special;
                    assert!(has_special(&text), "{len} {at} {special}");
                }
                text[at] = b'a';
            }
        }
    }

    #[test]
    fn decimals() {
        for n in [0, 7, 10, 65536, usize::MAX] {
            let mut buf = BytesMut::new();
            put_decimal(&mut buf, n);
            assert_eq!(&buf[..], n.to_string().as_bytes());
        }
    }
}
