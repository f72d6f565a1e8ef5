//! The decoder's [`Limits`] and where they are checked: STOMP 1.2 "Size Limits" lets a server
//! bound frames, header counts and header lengths. Every check runs before the bytes it guards
//! are allocated, and also while a frame is incomplete, so a peer that never ends a line or a
//! body is stopped as soon as the buffered bytes are over a limit.

use crate::DecodeError;

/// Limits the decoder enforces before allocating. Defaults: frame 64 KiB, 64 headers, header line 8 KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame: the bytes of the command line, header lines, blank line and body, without
    /// the final NUL. Default: 64 KiB (Spring's message size limit).
    pub max_frame_size: usize,
    /// Most header lines in one frame. Default: 64.
    pub max_headers: usize,
    /// Longest header line (name, colon and value, without the EOL). Default: 8 KiB.
    pub max_header_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_size: 64 * 1024,
            max_headers: 64,
            max_header_len: 8 * 1024,
        }
    }
}

impl Limits {
    /// At least `size` bytes of the frame come before its NUL.
    pub(super) fn check_frame_size(&self, size: usize) -> Result<(), DecodeError> {
        if size > self.max_frame_size {
            return Err(DecodeError::FrameTooLarge {
                limit: self.max_frame_size,
            });
        }
        Ok(())
    }

    /// A head waiting for the LF of its current line: `pending` is the line so far, `buffered`
    /// all the bytes of the frame so far.
    pub(super) fn check_incomplete_head(
        &self,
        pending: &[u8],
        buffered: usize,
    ) -> Result<(), DecodeError> {
        // A CR at the end may be the start of a CRLF, so it does not count yet.
        let maybe_cr = usize::from(pending.last() == Some(&b'\r'));
        self.check_line_len(pending.len() - maybe_cr)?;
        self.check_frame_size(buffered)
    }

    /// A complete header line (without its EOL) after `count` headers.
    pub(super) fn check_header_line(&self, line: &[u8], count: usize) -> Result<(), DecodeError> {
        self.check_line_len(line.len())?;
        if count >= self.max_headers {
            return Err(DecodeError::TooManyHeaders {
                limit: self.max_headers,
            });
        }
        Ok(())
    }

    fn check_line_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.max_header_len {
            return Err(DecodeError::HeaderTooLong {
                limit: self.max_header_len,
            });
        }
        Ok(())
    }

    /// The body length the first `content-length` header's `value` gives (`None` when there is
    /// no such header: the body runs to the first NUL), checked against the frame limit before
    /// the body arrives.
    pub(super) fn body_length(
        &self,
        value: Option<&[u8]>,
        body_start: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let Some(value) = value else {
            return Ok(None);
        };
        // Lenient about surrounding spaces, strict about everything else.
        let digits = value.trim_ascii();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            let value = std::str::from_utf8(value).map_err(|_| DecodeError::InvalidUtf8)?;
            return Err(DecodeError::InvalidContentLength(
                value.chars().take(64).collect(),
            ));
        }
        let too_large = DecodeError::FrameTooLarge {
            limit: self.max_frame_size,
        };
        // All digits, so the only way to fail is to overflow: far beyond any limit.
        let length = digits.iter().try_fold(0usize, |n, &digit| {
            n.checked_mul(10)?.checked_add(usize::from(digit - b'0'))
        });
        let size = length
            .and_then(|length| body_start.checked_add(length))
            .ok_or(too_large)?;
        self.check_frame_size(size)?;
        Ok(Some(size - body_start))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::decode::tests::{decode_with, first_error, limits, one_frame};
    use crate::{Decoder, Item};

    #[test]
    fn frames_up_to_the_limit_pass() {
        // "SEND\n" (5) + "\n" (1) + body (4) = 10 bytes before the NUL.
        let decoder = Decoder::new(limits(10, 64, 64));
        assert!(decode_with(decoder.clone(), b"SEND\n\nabcd\0").is_ok());
        assert!(decode_with(decoder.clone(), b"SEND\ncontent-length:0\n\n\0").is_err());
        assert_eq!(
            first_error(decoder, b"SEND\n\nabcde\0"),
            DecodeError::FrameTooLarge { limit: 10 }
        );
        let decoder = Decoder::new(limits(1024, 2, 3));
        assert!(decode_with(decoder.clone(), b"SEND\na:b\r\nc:d\n\n\0").is_ok());
        assert_eq!(
            first_error(decoder.clone(), b"SEND\na:b\nc:d\ne:f\n\n\0"),
            DecodeError::TooManyHeaders { limit: 2 }
        );
        assert_eq!(
            first_error(decoder, b"SEND\nab:c\n\n\0"),
            DecodeError::HeaderTooLong { limit: 3 }
        );
    }

    #[test]
    fn a_large_content_length_fails_before_the_body_arrives() {
        let mut decoder = Decoder::new(limits(100, 64, 64));
        let mut buf = BytesMut::from(&b"SEND\ncontent-length:95\n\n"[..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(DecodeError::FrameTooLarge { limit: 100 })
        );
        let huge = b"SEND\ncontent-length:99999999999999999999999999\n\n";
        assert_eq!(
            first_error(Decoder::new(Limits::default()), huge),
            DecodeError::FrameTooLarge { limit: 64 * 1024 }
        );
    }

    /// Feeds `prefix` then `filler` bytes one at a time; returns the error and how many
    /// filler bytes were buffered when it came.
    fn endless(decoder: &mut Decoder, prefix: &[u8], filler: u8) -> (DecodeError, usize) {
        let mut buf = BytesMut::from(prefix);
        for n in 0..1_000_000 {
            match decoder.decode(&mut buf) {
                Ok(None) => buf.extend_from_slice(&[filler]),
                Ok(Some(item)) => panic!("unexpected {item:?}"),
                Err(err) => return (err, n),
            }
        }
        panic!("no limit hit");
    }

    #[test]
    fn an_endless_header_line_hits_the_limit_while_incomplete() {
        let mut decoder = Decoder::new(limits(1024, 64, 16));
        let (err, n) = endless(&mut decoder, b"SEND\nx:", b'a');
        assert_eq!(err, DecodeError::HeaderTooLong { limit: 16 });
        assert_eq!(n, 15, "fails at the 17th byte of the line");
        // A trailing CR may be the start of the EOL, so it does not count yet.
        let mut decoder = Decoder::new(limits(1024, 64, 3));
        let mut buf = BytesMut::from(&b"SEND\na:b\r"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"\n\n\0");
        assert!(matches!(decoder.decode(&mut buf), Ok(Some(Item::Frame(_)))));
    }

    #[test]
    fn endless_headers_hit_the_frame_limit_while_incomplete() {
        let mut decoder = Decoder::new(limits(64, 1000, 1000));
        let (err, n) = endless(&mut decoder, b"SEND\n", b'a');
        assert_eq!(err, DecodeError::FrameTooLarge { limit: 64 });
        assert_eq!(n, 60);
        // Short, complete header lines count too.
        let mut decoder = Decoder::new(limits(64, 1000, 1000));
        let mut buf = BytesMut::from(&b"SEND\n"[..]);
        let err = loop {
            match decoder.decode(&mut buf) {
                Ok(None) => buf.extend_from_slice(b"a:b\n"),
                other => break other,
            }
        };
        assert_eq!(err, Err(DecodeError::FrameTooLarge { limit: 64 }));
        assert!(buf.len() <= 64 + 4);
    }

    #[test]
    fn an_endless_body_hits_the_frame_limit_while_incomplete() {
        let mut decoder = Decoder::new(limits(64, 64, 64));
        let (err, n) = endless(&mut decoder, b"SEND\n\n", b'a');
        assert_eq!(err, DecodeError::FrameTooLarge { limit: 64 });
        assert_eq!(n, 59, "6 head bytes + 59 body bytes > 64");
    }

    #[test]
    fn content_length_must_be_a_non_negative_integer() {
        for value in ["", "-1", "+1", "1.5", "0x10", "ten", "1 2"] {
            let bytes = format!("SEND\ncontent-length:{value}\n\n\0");
            let err = first_error(Decoder::new(Limits::default()), bytes.as_bytes());
            assert!(
                matches!(err, DecodeError::InvalidContentLength(ref v) if v == value),
                "{value:?} gave {err:?}"
            );
        }
        let frame = one_frame(b"SEND\ncontent-length: 2 \n\nab\0").unwrap();
        assert_eq!(
            &frame.body[..],
            b"ab",
            "spaces around the number are tolerated"
        );
    }

    #[test]
    fn the_first_content_length_decides() {
        let frame = one_frame(b"SEND\ncontent-length:1\ncontent-length:9\n\n\0\0").unwrap();
        assert_eq!(&frame.body[..], b"\0");
        assert_eq!(frame.header("content-length"), Some("1"));
        assert_eq!(frame.headers.len(), 2);
    }
}
