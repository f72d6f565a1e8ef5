//! Incremental STOMP frame decoder: STOMP 1.2 "STOMP Frames", "Value Encoding", "Header
//! content-length", "Repeated Header Entries", "Size Limits" and the heart-beat EOLs of
//! "Heart-beating", with the 1.0 and 1.1 escaping rules.
//!
//! Owns finding frame boundaries in a growing buffer, enforcing [`Limits`] before anything
//! big is allocated, and turning header lines into [`Header`](crate::Header)s ([`header`]).
//! Must not do I/O or give meaning to any header but `content-length`: that is the session's
//! job.
//!
//! A complete frame is split off the buffer without copying, as one shared buffer that the
//! body and the header names and values slice (see [`Str`](crate::Str)).
//!
//! The decoder remembers how far it got in the buffer between calls (like tokio-util's
//! `LinesCodec`), so bytes trickling in are scanned once, not once per call.

mod error;
mod header;
mod limits;

use bytes::{Buf, BytesMut};

pub use error::DecodeError;
pub use limits::Limits;

use crate::{Command, Frame, UnknownCommand, Version};

/// The longest command line that can still name a command: `UNSUBSCRIBE` and a CR.
const MAX_COMMAND_LINE: usize = "UNSUBSCRIBE\r".len();

/// What the decoder yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A complete frame.
    Frame(Frame),
    /// A heart-beat: an EOL (`\n` or `\r\n`) between frames.
    HeartBeat,
}

/// Incremental decoder. Feed it a buffer that grows as bytes arrive.
///
/// Call [`Decoder::decode`] until it returns `Ok(None)`, read more bytes into the end of the
/// same buffer, repeat. After an `Err` the stream cannot be resynchronised: send an `ERROR`
/// frame and close with [`DecodeError::close_code`].
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    version: Version,
    /// The frame whose command line has been read, if any.
    partial: Option<Partial>,
    /// The buffer's length at the last `Ok(None)` (0 after an item or an error). Everything
    /// before it was searched, in the current phase, for the byte that phase waits for (the LF
    /// ending a header line, or the NUL ending a body) without finding it.
    scanned: usize,
    /// The header lines of the partial frame's head read so far (kept between frames so that
    /// its allocation is reused).
    lines: Vec<header::Line>,
}

/// A frame whose head is being read (`body` is `None`) or whose body is awaited.
#[derive(Debug, Clone)]
struct Partial {
    command: Command,
    /// Offset of the first header line not parsed yet; once the head is complete, of the body.
    pos: usize,
    /// `None` while the head is incomplete, then the body's length: `Some(Some(n))` from a
    /// `content-length` header, `Some(None)` when the body runs to the first NUL.
    body: Option<Option<usize>>,
    /// Once the head is complete: the version whose escape sequences its headers hold, if any.
    escaped: Option<Version>,
}

/// What the bytes at the front of the buffer start.
enum Start {
    /// Not enough bytes to tell.
    Incomplete,
    /// A heart-beat EOL of this many bytes.
    HeartBeat(usize),
    /// A frame, its command line read.
    Frame(Partial),
}

impl Decoder {
    /// A decoder with these limits, for a session whose version is not yet negotiated (1.2 rules).
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            version: Version::V1_2,
            partial: None,
            scanned: 0,
            lines: Vec::new(),
        }
    }

    /// Sets the negotiated version, which decides header unescaping.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The version whose rules the decoder applies.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Decodes one item from the front of `buf`, consuming its bytes; `Ok(None)` = need more bytes.
    ///
    /// `Ok(None)` consumes nothing. `buf` must hold the bytes of the previous call followed by
    /// any new ones; a buffer shorter than last time makes the decoder start over from its front.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, DecodeError> {
        if buf.len() < self.scanned {
            self.partial = None;
            self.scanned = 0;
        }
        let result = self.step(buf);
        if let Ok(None) = result {
            self.scanned = buf.len();
        } else {
            self.partial = None;
            self.scanned = 0;
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Item>, DecodeError> {
        let mut partial = match self.partial.take() {
            Some(partial) => partial,
            None => match start(buf)? {
                Start::Incomplete => return Ok(None),
                Start::HeartBeat(eol) => {
                    buf.advance(eol);
                    return Ok(Some(Item::HeartBeat));
                }
                Start::Frame(partial) => {
                    self.lines.clear();
                    partial
                }
            },
        };
        if partial.body.is_none() && !self.read_head(&mut partial, buf)? {
            self.partial = Some(partial);
            return Ok(None);
        }
        let Some(body_end) = self.body_end(&partial, buf)? else {
            self.partial = Some(partial);
            return Ok(None);
        };
        // One split for the whole frame, whose bytes then become the body: each split or
        // slice of the buffer costs an atomic reference count update.
        let mut body = buf.split_to(body_end + 1).freeze();
        let headers = header::headers(&body, &self.lines, partial.escaped)?;
        body.advance(partial.pos);
        body.truncate(body_end - partial.pos);
        Ok(Some(Item::Frame(Frame {
            command: partial.command,
            headers,
            body,
        })))
    }

    /// Parses complete header lines; `true` once the blank line ending the head was read.
    fn read_head(&mut self, partial: &mut Partial, buf: &BytesMut) -> Result<bool, DecodeError> {
        let limits = &self.limits;
        let escaping = (self.version > Version::V1_0 && partial.command.escapes_headers())
            .then_some(self.version);
        loop {
            let from = partial.pos.max(self.scanned);
            let Some(lf) = find(b'\n', buf, from) else {
                // Everything buffered belongs to this frame's head, most of it to this line.
                let pending = buf.get(partial.pos..).unwrap_or_default();
                limits.check_incomplete_head(pending, buf.len())?;
                return Ok(false);
            };
            limits.check_frame_size(lf + 1)?;
            let line = strip_cr(buf.get(partial.pos..lf).unwrap_or_default());
            if line.is_empty() {
                partial.pos = lf + 1;
                self.finish_head(partial, buf, escaping)?;
                return Ok(true);
            }
            limits.check_header_line(line, self.lines.len())?;
            self.lines.push(header::Line::parse(line, partial.pos)?);
            partial.pos = lf + 1;
        }
    }

    /// Checks the escape sequences of a complete head and reads its body length.
    fn finish_head(
        &self,
        partial: &mut Partial,
        buf: &BytesMut,
        escaping: Option<Version>,
    ) -> Result<(), DecodeError> {
        let head = buf.get(..partial.pos).unwrap_or_default();
        let escaped = header::check_escapes(head, &self.lines, escaping)?;
        partial.escaped = escaping.filter(|_| escaped);
        // A name with escape sequences cannot mean `content-length`, which needs none.
        let content_length = self
            .lines
            .iter()
            .find(|line| line.name(head) == b"content-length")
            .map(|line| line.value(head));
        let unescaped = match (content_length, partial.escaped) {
            (Some(value), Some(version)) => header::unescaped(value, version)?,
            _ => None,
        };
        let content_length = unescaped.as_deref().or(content_length);
        partial.body = Some(self.limits.body_length(content_length, partial.pos)?);
        Ok(())
    }

    /// The offset of the NUL ending the body, once the body and its NUL are all in `buf`.
    fn body_end(&self, partial: &Partial, buf: &BytesMut) -> Result<Option<usize>, DecodeError> {
        let start = partial.pos;
        match partial.body {
            Some(Some(length)) => {
                // `Limits::body_length` checked that this neither overflows nor breaks the limit.
                let end = start + length;
                match buf.get(end) {
                    None => Ok(None),
                    Some(0) => Ok(Some(end)),
                    Some(_) => Err(DecodeError::MissingNul),
                }
            }
            _ => match find(0, buf, start.max(self.scanned)) {
                Some(end) => {
                    self.limits.check_frame_size(end)?;
                    Ok(Some(end))
                }
                None => {
                    // Everything buffered belongs to this frame and its NUL is not among it.
                    self.limits.check_frame_size(buf.len())?;
                    Ok(None)
                }
            },
        }
    }
}

/// Reads a heart-beat or a command line at the front of `buf`.
fn start(buf: &BytesMut) -> Result<Start, DecodeError> {
    match buf.first() {
        None => return Ok(Start::Incomplete),
        Some(b'\n') => return Ok(Start::HeartBeat(1)),
        Some(b'\r') => match buf.get(1) {
            None => return Ok(Start::Incomplete),
            Some(b'\n') => return Ok(Start::HeartBeat(2)),
            // A command line starting with CR: `from_bytes` will reject it.
            Some(_) => {}
        },
        Some(_) => {}
    }
    // The command line is short, so there is no need to remember how far it was searched.
    let window = &buf[..buf.len().min(MAX_COMMAND_LINE + 1)];
    // Too short for a vectorised search to pay.
    match window.iter().position(|&b| b == b'\n') {
        Some(lf) => Ok(Start::Frame(Partial {
            command: Command::from_bytes(strip_cr(&window[..lf]))?,
            pos: lf + 1,
            body: None,
            escaped: None,
        })),
        // Too long to be a command even before its EOL arrives.
        None if window.len() > MAX_COMMAND_LINE => Err(DecodeError::UnknownCommand(
            UnknownCommand(String::from_utf8_lossy(window).into_owned()),
        )),
        None => Ok(Start::Incomplete),
    }
}

/// The offset of the first `byte` in `buf` at or after `from`.
fn find(byte: u8, buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    memchr::memchr(byte, rest).map(|i| from + i)
}

/// A line without the CR of a CRLF ending (accepted in every version, as most brokers do).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(super) fn limits(
        max_frame_size: usize,
        max_headers: usize,
        max_header_len: usize,
    ) -> Limits {
        Limits {
            max_frame_size,
            max_headers,
            max_header_len,
        }
    }

    /// Decodes everything `bytes` holds; leftovers of an incomplete item stay in the buffer.
    pub(super) fn drain(
        decoder: &mut Decoder,
        buf: &mut BytesMut,
    ) -> Result<Vec<Item>, DecodeError> {
        let mut items = Vec::new();
        while let Some(item) = decoder.decode(buf)? {
            items.push(item);
        }
        Ok(items)
    }

    pub(super) fn decode_all(bytes: &[u8]) -> Result<Vec<Item>, DecodeError> {
        decode_with(Decoder::new(Limits::default()), bytes)
    }

    pub(super) fn decode_with(
        mut decoder: Decoder,
        bytes: &[u8],
    ) -> Result<Vec<Item>, DecodeError> {
        let mut buf = BytesMut::from(bytes);
        let items = drain(&mut decoder, &mut buf)?;
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(items)
    }

    pub(super) fn one_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
        match decode_all(bytes)?.as_slice() {
            [Item::Frame(frame)] => Ok(frame.clone()),
            other => panic!("expected one frame, got {other:?}"),
        }
    }

    pub(super) fn first_error(decoder: Decoder, bytes: &[u8]) -> DecodeError {
        decode_with(decoder, bytes).expect_err("must not decode")
    }

    const STREAM: &[u8] = b"\nCONNECT\naccept-version:1.2\nhost:a:b\n\n\0\r\n\
        SEND\r\ndestination:/queue/a\r\ncontent-length:3\r\n\r\na\0b\0\n\n\
        SUBSCRIBE\nid:0\ndestination:/topic/x\\cy\n\n\0";

    fn stream_items() -> Vec<Item> {
        vec![
            Item::HeartBeat,
            Item::Frame(
                Frame::new(Command::Connect)
                    .with_header("accept-version", "1.2")
                    .with_header("host", "a:b"),
            ),
            Item::HeartBeat,
            Item::Frame(
                Frame::new(Command::Send)
                    .with_header("destination", "/queue/a")
                    .with_header("content-length", "3")
                    .with_body(&b"a\0b"[..]),
            ),
            Item::HeartBeat,
            Item::HeartBeat,
            Item::Frame(
                Frame::new(Command::Subscribe)
                    .with_header("id", "0")
                    .with_header("destination", "/topic/x:y"),
            ),
        ]
    }

    #[test]
    fn a_stream_of_frames_and_heart_beats_decodes_in_order() {
        assert_eq!(decode_all(STREAM).unwrap(), stream_items());
    }

    #[test]
    fn splitting_at_any_byte_gives_the_same_items() {
        for split in 0..=STREAM.len() {
            let mut decoder = Decoder::new(Limits::default());
            let mut buf = BytesMut::from(&STREAM[..split]);
            let mut items = drain(&mut decoder, &mut buf).unwrap();
            buf.extend_from_slice(&STREAM[split..]);
            items.extend(drain(&mut decoder, &mut buf).unwrap());
            assert_eq!(items, stream_items(), "split at {split}");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn feeding_one_byte_at_a_time_gives_the_same_items() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for &byte in STREAM {
            buf.extend_from_slice(&[byte]);
            items.extend(drain(&mut decoder, &mut buf).unwrap());
        }
        assert_eq!(items, stream_items());
    }

    #[test]
    fn an_incomplete_item_consumes_nothing() {
        let frame = b"SEND\ndestination:/q\ncontent-length:2\n\nhi\0";
        for end in 0..frame.len() {
            let mut buf = BytesMut::from(&frame[..end]);
            let mut decoder = Decoder::new(Limits::default());
            assert_eq!(decoder.decode(&mut buf), Ok(None), "prefix of {end}");
            assert_eq!(decoder.decode(&mut buf), Ok(None), "again at {end}");
            assert_eq!(&buf[..], &frame[..end]);
        }
        let mut buf = BytesMut::from(&b"\r"[..]);
        let mut decoder = Decoder::new(Limits::default());
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(None),
            "a lone CR waits for its LF"
        );
        buf.extend_from_slice(b"\n");
        assert_eq!(decoder.decode(&mut buf), Ok(Some(Item::HeartBeat)));
    }

    #[test]
    fn a_shorter_buffer_makes_the_decoder_start_over() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"SEND\ndestination:/queue/long-name"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        let mut other = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
        let frame = Frame::new(Command::Ack).with_header("id", "1");
        assert_eq!(decoder.decode(&mut other), Ok(Some(Item::Frame(frame))));
    }

    #[test]
    fn eols_after_a_frame_are_heart_beats() {
        let items = decode_all(b"\r\n\nDISCONNECT\n\n\0\n\r\n\n").unwrap();
        let beats = items.iter().filter(|i| **i == Item::HeartBeat).count();
        assert_eq!(items.len(), 6);
        assert_eq!(beats, 5);
        assert_eq!(items[2], Item::Frame(Frame::new(Command::Disconnect)));
    }

    #[test]
    fn crlf_line_endings_are_accepted_in_every_version() {
        for version in Version::ALL {
            let mut decoder = Decoder::new(Limits::default());
            decoder.set_version(version);
            let items = decode_with(decoder, b"SEND\r\ndestination:/q\r\n\r\nhi\0").unwrap();
            let frame = Frame::new(Command::Send)
                .with_header("destination", "/q")
                .with_body(&b"hi"[..]);
            assert_eq!(items, vec![Item::Frame(frame)], "{version}");
        }
    }

    #[test]
    fn a_content_length_body_may_contain_nul() {
        let frame = one_frame(b"SEND\ncontent-length:5\n\n\0\0x\0\0\0").unwrap();
        assert_eq!(&frame.body[..], b"\0\0x\0\0");
    }

    #[test]
    fn without_content_length_the_body_ends_at_the_first_nul() {
        let items = decode_all(b"SEND\n\nab\0cd\n").err();
        assert!(
            matches!(items, Some(DecodeError::UnknownCommand(_))),
            "`cd` is the next command line: {items:?}"
        );
        let frame = one_frame(b"SEND\ndestination:/q\n\nab\0").unwrap();
        assert_eq!(&frame.body[..], b"ab");
    }

    #[test]
    fn a_content_length_body_must_end_with_nul() {
        let err = first_error(
            Decoder::new(Limits::default()),
            b"SEND\ncontent-length:1\n\nab\0",
        );
        assert_eq!(err, DecodeError::MissingNul);
    }

    #[test]
    fn a_body_on_a_frame_that_should_have_none_is_kept() {
        let frame = one_frame(b"SUBSCRIBE\nid:1\n\nstray\0").unwrap();
        assert_eq!(&frame.body[..], b"stray");
    }

    #[test]
    fn unknown_commands_are_rejected() {
        for bytes in [&b"send\n\n\0"[..], b"FOO\n\n\0", b"\rSEND\n\n\0", b"\0\n"] {
            let err = first_error(Decoder::new(Limits::default()), bytes);
            assert!(
                matches!(err, DecodeError::UnknownCommand(_)),
                "{bytes:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_command_line_too_long_for_any_command_fails_before_its_eol() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"UNSUBSCRIBE\r"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"X");
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(DecodeError::UnknownCommand(_))
        ));
    }

    #[test]
    fn the_default_version_is_1_2() {
        let mut decoder = Decoder::new(Limits::default());
        assert_eq!(decoder.version(), Version::V1_2);
        decoder.set_version(Version::V1_1);
        assert_eq!(decoder.version(), Version::V1_1);
    }
}
