//! Header lines: split at the first colon, unescape (STOMP 1.2 "Value Encoding"), and once the
//! frame is complete, turn them into [`Header`]s that share the head's bytes.
//!
//! Pure functions; the line splitting and limits live in the decoder. A line's colon is found
//! as soon as its EOL arrives; escape sequences are checked once the head is complete (one
//! search for a backslash in the whole head, as most heads have none). Only when the frame is
//! complete are names and values checked for UTF-8 and made into [`Str`]s: slices of the
//! head, or copies for the few that had escape sequences. The names the specification
//! defines are static strings.

use bytes::Bytes;

use crate::{DecodeError, Header, Str, Version};

/// How much of a bad line an error repeats back to the peer.
const ECHO_LIMIT: usize = 64;

/// Where a header line's name and value are in the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Line {
    /// Offset of the line.
    start: usize,
    /// Offset of the colon ending the name.
    colon: usize,
    /// Offset of the line's end, without its EOL.
    end: usize,
}

impl Line {
    /// Splits `line`, found at `start` in the head, at its first colon.
    ///
    /// The name ends at the first colon; later colons belong to the value, which 1.0 and the
    /// unescaped frames need (`host:broker:61613` style values) and which is harmless elsewhere.
    // Inlined with its errors made elsewhere, so that the `Line` is not passed through memory.
    #[inline(always)]
    pub(super) fn parse(line: &[u8], start: usize) -> Result<Line, DecodeError> {
        match first_colon(line) {
            Some(colon) if colon > 0 => Ok(Line {
                start,
                colon: start + colon,
                end: start + line.len(),
            }),
            colon => Err(malformed(line, colon)),
        }
    }

    /// The raw (still escaped) name in `head`, the buffer the line was parsed from.
    pub(super) fn name<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        head.get(self.start..self.colon).unwrap_or_default()
    }

    /// The raw (still escaped) value in `head`, the buffer the line was parsed from.
    pub(super) fn value<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        head.get(self.colon + 1..self.end).unwrap_or_default()
    }
}

/// Why `line`, whose first colon is at `colon`, is not a header.
#[cold]
fn malformed(line: &[u8], colon: Option<usize>) -> DecodeError {
    if colon.is_some() {
        return DecodeError::EmptyHeaderName;
    }
    let shown = &line[..line.len().min(ECHO_LIMIT)];
    DecodeError::MissingColon(String::from_utf8_lossy(shown).into_owned())
}

/// The offset of the first `:` in `line`.
///
/// Names are short, so this looks at eight bytes at a time in a `u64` rather than byte by byte
/// (whose loop exit is a mispredicted branch per line) or with `memchr` (whose setup costs more
/// than the search). The last word overlaps the one before rather than being padded through a
/// copy, whose stores a wide load cannot take its bytes from without stalling.
fn first_colon(line: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_le_bytes([0x80; 8]);
    const COLONS: u64 = u64::from_le_bytes([b':'; 8]);
    /// The offset in `word` of its first colon.
    fn colon_in(word: &[u8]) -> Option<usize> {
        let word = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ COLONS;
        // Bit 7 of the lowest zero byte is set (bits above it may be too).
        let found = word.wrapping_sub(ONES) & !word & HIGH_BITS;
        (found != 0).then(|| found.trailing_zeros() as usize / 8)
    }
    let Some(last) = line.len().checked_sub(8) else {
        return line.iter().position(|&b| b == b':');
    };
    let mut chunks = line.chunks_exact(8);
    if let Some(at) = chunks
        .by_ref()
        .enumerate()
        .find_map(|(i, chunk)| colon_in(chunk).map(|offset| i * 8 + offset))
    {
        return Some(at);
    }
    // The bytes this shares with the words before hold no colon.
    colon_in(&line[last..]).map(|offset| last + offset)
}

/// Whether the header lines of `head` (a complete head: command line to blank line) hold escape
/// sequences that `escaping` defines; fails on one it does not. `escaping` is `None` when the
/// frame's headers are not escaped (STOMP 1.0, `CONNECT`, `STOMP`, `CONNECTED`).
pub(super) fn check_escapes(
    head: &[u8],
    lines: &[Line],
    escaping: Option<Version>,
) -> Result<bool, DecodeError> {
    let Some(version) = escaping else {
        return Ok(false);
    };
    if memchr::memchr(b'\\', head).is_none() {
        return Ok(false);
    }
    for line in lines {
        unescaped(line.name(head), version)?;
        unescaped(line.value(head), version)?;
    }
    Ok(true)
}

/// `raw` unescaped: `None` when it has no backslash, so stays as it is.
pub(super) fn unescaped(raw: &[u8], version: Version) -> Result<Option<Vec<u8>>, DecodeError> {
    if memchr::memchr(b'\\', raw).is_none() {
        return Ok(None);
    }
    unescape(raw, version).map(Some)
}

/// The headers of a complete frame: `head` is its head's bytes (command line to blank line),
/// `lines` its header lines in order, and `escaped` the version whose escape sequences they
/// hold (see [`check_escapes`]), if any. Fails if a name or value is not UTF-8.
pub(super) fn headers(
    head: &Bytes,
    lines: &[Line],
    escaped: Option<Version>,
) -> Result<Vec<Header>, DecodeError> {
    // Extended from an infallible `map`, so that each header is written straight into the
    // vector: assembled on the stack and copied, it cost a stalled load per header.
    let mut invalid = false;
    let mut headers = Vec::with_capacity(lines.len());
    headers.extend(lines.iter().map(|line| {
        let mut text = |range| {
            text(head, range, escaped).unwrap_or_else(|| {
                invalid = true;
                Str::new()
            })
        };
        // A well-known name has no backslash, so it is the same escaped or not.
        let name = match well_known(line.name(head)) {
            Some(name) => Str::from_static(name),
            None => text(line.start..line.colon),
        };
        (name, text(line.colon + 1..line.end))
    }));
    if invalid {
        return Err(DecodeError::InvalidUtf8);
    }
    Ok(headers)
}

/// The text at `range` of `head`, unescaped for `escaped`: a slice of `head` unless it had
/// escape sequences. `None` if it is not UTF-8.
// Inlined, returning an `Option` (not a `Result` with a large error), and with `Bytes::slice`
// rather than `slice_ref`, so that the new `Str` stays in registers: passing it through memory
// cost more than the rest of building a header.
#[inline(always)]
fn text(head: &Bytes, range: std::ops::Range<usize>, escaped: Option<Version>) -> Option<Str> {
    // Lines are parsed from `head`, so it always has the range.
    let raw = head.get(range.clone())?;
    if let Some(version) = escaped {
        if memchr::memchr(b'\\', raw).is_some() {
            return owned(raw, version);
        }
    }
    Str::from_utf8(head.slice(range)).ok()
}

/// Text with escape sequences, unescaped; `None` if it is not UTF-8 (its escape sequences were
/// checked by [`check_escapes`]).
#[cold]
fn owned(raw: &[u8], version: Version) -> Option<Str> {
    let bytes = unescape(raw, version).ok()?;
    String::from_utf8(bytes).ok().map(Str::from)
}

/// The header names of the STOMP 1.2 specification and a few common extensions, as static
/// strings, so that decoding them needs no reference to the frame's buffer.
fn well_known(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"accept-version" => "accept-version",
        b"ack" => "ack",
        b"content-length" => "content-length",
        b"content-type" => "content-type",
        b"destination" => "destination",
        b"heart-beat" => "heart-beat",
        b"host" => "host",
        b"id" => "id",
        b"login" => "login",
        b"message" => "message",
        b"message-id" => "message-id",
        b"passcode" => "passcode",
        b"receipt" => "receipt",
        b"receipt-id" => "receipt-id",
        b"server" => "server",
        b"session" => "session",
        b"subscription" => "subscription",
        b"transaction" => "transaction",
        b"version" => "version",
        b"redelivered" => "redelivered",
        b"persistent" => "persistent",
        b"priority" => "priority",
        b"expires" => "expires",
        b"reply-to" => "reply-to",
        b"user-name" => "user-name",
        _ => return None,
    })
}

/// Replaces `\\`, `\n`, `\c` (and in 1.2 `\r`) by the byte they stand for.
fn unescape(raw: &[u8], version: Version) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let next = bytes.next();
        out.push(match next {
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b'c') => b':',
            Some(b'r') if version >= Version::V1_2 => b'\r',
            _ => {
                let mut sequence = String::from("\\");
                if let Some(n) = next {
                    // Show the escaped byte as text when it is one, else as a hex escape.
                    if n.is_ascii_graphic() {
                        sequence.push(char::from(n));
                    } else {
                        sequence.push_str(&format!("\\x{n:02x}"));
                    }
                }
                return Err(DecodeError::InvalidEscape { sequence, version });
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decode::tests::{decode_with, first_error, one_frame};
    use crate::{Decoder, Item, Limits};

    fn header(name: &str, value: &str) -> Header {
        (name.into(), value.into())
    }

    /// Parses one line as a whole head.
    fn parse(line: &[u8], escaping: Option<Version>) -> Result<Header, DecodeError> {
        let lines = [Line::parse(line, 0)?];
        let escaped = check_escapes(line, &lines, escaping)?;
        let mut headers = headers(
            &Bytes::copy_from_slice(line),
            &lines,
            escaping.filter(|_| escaped),
        )?;
        Ok(headers.remove(0))
    }

    #[test]
    fn finds_the_first_colon_at_any_offset() {
        for len in 0..40 {
            let mut line = vec![b'a'; len];
            assert_eq!(first_colon(&line), None, "{len}");
            for at in 0..len {
                line[at] = b':';
                assert_eq!(first_colon(&line), Some(at), "{len} {at}");
                line[len - 1] = b':';
                assert_eq!(first_colon(&line), Some(at), "{len} {at}");
                line.fill(b'a');
            }
        }
        assert_eq!(
            first_colon(&[0xba, 0x3b, 0x3a, 0x39, 0xff, 0, 0x3a]),
            Some(2)
        );
    }

    #[test]
    fn splits_at_the_first_colon() {
        assert_eq!(parse(b"host:a:b", None), Ok(header("host", "a:b")));
        assert_eq!(parse(b"x:", Some(Version::V1_2)), Ok(header("x", "")));
        assert_eq!(parse(b" x : y ", None), Ok(header(" x ", " y ")));
    }

    #[test]
    fn unescapes_the_1_2_sequences() {
        let parsed = parse(br"a\cb:\\\n\r\c", Some(Version::V1_2));
        assert_eq!(parsed, Ok(header("a:b", "\\\n\r:")));
    }

    #[test]
    fn carriage_return_escape_is_1_2_only() {
        let err = parse(br"a:\r", Some(Version::V1_1));
        assert!(matches!(
            err,
            Err(DecodeError::InvalidEscape { ref sequence, version: Version::V1_1 }) if sequence == "\\r"
        ));
        assert_eq!(
            parse(br"a:\\\n\c", Some(Version::V1_1)),
            Ok(header("a", "\\\n:"))
        );
    }

    #[test]
    fn without_escaping_backslashes_stay() {
        assert_eq!(parse(br"a\c:\t\n", None), Ok(header(r"a\c", r"\t\n")));
    }

    #[test]
    fn undefined_and_dangling_escapes_are_errors() {
        for line in [&br"a:\t"[..], br"a:x\", br"a\:b", b"a:\\\x01"] {
            let err = parse(line, Some(Version::V1_2));
            assert!(
                matches!(err, Err(DecodeError::InvalidEscape { .. })),
                "{line:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(matches!(
            parse(b"no colon", None),
            Err(DecodeError::MissingColon(ref l)) if l == "no colon"
        ));
        assert_eq!(parse(b":value", None), Err(DecodeError::EmptyHeaderName));
        assert_eq!(parse(b"a:\xff", None), Err(DecodeError::InvalidUtf8));
        assert_eq!(
            parse(b"\xc3:x", Some(Version::V1_2)),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn utf8_is_checked_after_unescaping() {
        // An escape cannot split a UTF-8 sequence into validity or out of it.
        assert_eq!(
            parse("é\\c:ü".as_bytes(), Some(Version::V1_2)),
            Ok(header("é:", "ü"))
        );
    }

    // The same rules, through the decoder.

    #[test]
    fn header_escapes_follow_the_version() {
        let bytes = b"SEND\na\\cb:1\\\\2\\n3\\c4\n\n\0";
        let frame = one_frame(bytes).unwrap();
        assert_eq!(frame.headers, vec![("a:b".into(), "1\\2\n3:4".into())]);

        let cr = b"SEND\nx:a\\rb\n\n\0";
        assert_eq!(one_frame(cr).unwrap().header("x"), Some("a\rb"));
        let mut v11 = Decoder::new(Limits::default());
        v11.set_version(Version::V1_1);
        assert!(matches!(
            first_error(v11.clone(), cr),
            DecodeError::InvalidEscape {
                version: Version::V1_1,
                ..
            }
        ));
        let items = decode_with(v11, bytes).unwrap();
        let Item::Frame(frame) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(frame.headers, vec![("a:b".into(), "1\\2\n3:4".into())]);

        let mut v10 = Decoder::new(Limits::default());
        v10.set_version(Version::V1_0);
        let items = decode_with(v10, b"SEND\nx:a\\tb\\c\n\n\0").unwrap();
        let Item::Frame(frame) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(frame.header("x"), Some("a\\tb\\c"), "1.0 has no escaping");
    }

    #[test]
    fn an_undefined_escape_is_an_error() {
        let err = first_error(Decoder::new(Limits::default()), b"SEND\nx:a\\tb\n\n\0");
        assert!(
            matches!(err, DecodeError::InvalidEscape { ref sequence, version: Version::V1_2 } if sequence == "\\t")
        );
    }

    #[test]
    fn connect_stomp_and_connected_are_never_unescaped() {
        for command in ["CONNECT", "STOMP", "CONNECTED"] {
            for version in Version::ALL {
                let mut decoder = Decoder::new(Limits::default());
                decoder.set_version(version);
                let bytes = format!("{command}\npasscode:a\\tb\\c\\n\n\n\0");
                let items = decode_with(decoder, bytes.as_bytes()).unwrap();
                let Item::Frame(frame) = &items[0] else {
                    panic!("{items:?}")
                };
                assert_eq!(
                    frame.header("passcode"),
                    Some("a\\tb\\c\\n"),
                    "{command} {version}"
                );
            }
        }
    }

    #[test]
    fn repeated_headers_are_kept_in_order_and_the_first_wins() {
        let frame = one_frame(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0").unwrap();
        assert_eq!(frame.header("foo"), Some("World"));
        let values: Vec<_> = frame.headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(values, ["World", "Hello"]);
    }

    #[test]
    fn malformed_header_lines_are_rejected() {
        let err = first_error(Decoder::new(Limits::default()), b"SEND\nnocolon\n\n\0");
        assert!(matches!(err, DecodeError::MissingColon(_)));
        let err = first_error(Decoder::new(Limits::default()), b"SEND\n:value\n\n\0");
        assert_eq!(err, DecodeError::EmptyHeaderName);
        let err = first_error(Decoder::new(Limits::default()), b"SEND\nx:\xc3\x28\n\n\0");
        assert_eq!(err, DecodeError::InvalidUtf8);
        let err = first_error(Decoder::new(Limits::default()), b"CONNECT\n\xff:x\n\n\0");
        assert_eq!(err, DecodeError::InvalidUtf8);
        let err = first_error(Decoder::new(Limits::default()), b"SEND\nx:\\c\xff\n\n\0");
        assert_eq!(
            err,
            DecodeError::InvalidUtf8,
            "checked after unescaping too"
        );
    }

    #[test]
    fn a_malformed_line_fails_before_the_head_is_complete() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = bytes::BytesMut::from(&b"SEND\nnocolon\n"[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(DecodeError::MissingColon(_))
        ));
    }

    #[test]
    fn an_undefined_escape_fails_once_the_head_is_complete() {
        let mut decoder = Decoder::new(Limits::default());
        let mut buf = bytes::BytesMut::from(&b"SEND\nx:\\t\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"\n");
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(DecodeError::InvalidEscape { .. })
        ));
    }

    #[test]
    fn decoded_values_share_the_buffer_and_known_names_are_static() {
        let mut buf = bytes::BytesMut::from(&b"SEND\ndestination:/q\nx-a:b\\cc\n\nhi\0"[..]);
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let Ok(Some(Item::Frame(frame))) = Decoder::new(Limits::default()).decode(&mut buf) else {
            panic!("no frame");
        };
        let within = |text: &str| (start..end).contains(&(text.as_ptr() as usize));
        let (name, value) = &frame.headers[0];
        assert!(!within(name), "`destination` is a static string");
        assert!(within(value), "`/q` is a slice of the buffer");
        let (name, value) = &frame.headers[1];
        assert!(within(name));
        assert_eq!(value, "b:c");
        assert!(!within(value), "an unescaped value is a copy");
        assert!(within(std::str::from_utf8(&frame.body).unwrap()));
    }
}
