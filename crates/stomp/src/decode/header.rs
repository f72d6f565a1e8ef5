//! One header line: split at the first colon, unescape, check UTF-8 (STOMP 1.2 "Value Encoding").
//!
//! Pure functions over one line without its EOL; the line splitting and limits live in the
//! decoder.

use crate::{DecodeError, Header, Version};

/// How much of a bad line an error repeats back to the peer.
const ECHO_LIMIT: usize = 64;

/// Parses `name:value`. `escaping` is the version whose escape rules apply, or `None` when the
/// frame's headers are not escaped (STOMP 1.0, `CONNECT`, `STOMP`, `CONNECTED`).
///
/// The name ends at the first colon; later colons belong to the value, which 1.0 and the
/// unescaped frames need (`host:broker:61613` style values) and which is harmless elsewhere.
pub(super) fn parse(line: &[u8], escaping: Option<Version>) -> Result<Header, DecodeError> {
    let Some(colon) = memchr::memchr(b':', line) else {
        let shown = &line[..line.len().min(ECHO_LIMIT)];
        return Err(DecodeError::MissingColon(
            String::from_utf8_lossy(shown).into_owned(),
        ));
    };
    if colon == 0 {
        return Err(DecodeError::EmptyHeaderName);
    }
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    Ok((text(name, escaping)?, text(value, escaping)?))
}

/// A name or value as a `String`, unescaped when `escaping` says so.
fn text(raw: &[u8], escaping: Option<Version>) -> Result<String, DecodeError> {
    let bytes = match escaping {
        Some(version) if memchr::memchr(b'\\', raw).is_some() => unescape(raw, version)?,
        _ => raw.to_vec(),
    };
    String::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
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
        (name.to_owned(), value.to_owned())
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
    }
}
