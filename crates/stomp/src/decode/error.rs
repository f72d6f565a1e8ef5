//! What can go wrong while decoding, and how each failure is reported to the peer.
//!
//! Every variant is one violation of the STOMP 1.2 "Frames and Headers" / "Value Encoding"
//! rules or one of the decoder's [`Limits`](crate::Limits). [`DecodeError::close_code`] is the
//! single place that maps a failure to a WebSocket close code; the `Display` text is written to
//! be sent as the `message` header of a STOMP `ERROR` frame.

use crate::{UnknownCommand, Version};

/// WebSocket close code 1002 "Protocol Error" (RFC 6455 §7.4.1). Literal rather than a
/// dependency on `stompbox-closecode`, which must agree with it.
const PROTOCOL_ERROR: u16 = 1002;
/// WebSocket close code 1009 "Message Too Big" (RFC 6455 §7.4.1).
const MESSAGE_TOO_BIG: u16 = 1009;

/// A decoding failure; the connection cannot continue after one.
///
/// Tests and callers should match on variants; the messages are for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The command line names no STOMP command (commands are case-sensitive).
    #[error(transparent)]
    UnknownCommand(#[from] UnknownCommand),
    /// A header line has no `:` between name and value.
    #[error("header line `{0}` has no colon")]
    MissingColon(String),
    /// A header line starts with `:`: header names must not be empty.
    #[error("header line has an empty name")]
    EmptyHeaderName,
    /// A backslash in a header is followed by something the version does not define
    /// (1.1: `\\`, `\n`, `\c`; 1.2 adds `\r`), or ends the header.
    #[error("undefined escape sequence `{sequence}` in a header (STOMP {version})")]
    InvalidEscape {
        /// The offending sequence, e.g. `\t`, or a lone `\` at the end of a header.
        sequence: String,
        /// The version whose escaping rules applied.
        version: Version,
    },
    /// A header name or value is not UTF-8 (STOMP 1.2 "Value Encoding").
    #[error("header is not valid UTF-8")]
    InvalidUtf8,
    /// The `content-length` header is not a non-negative decimal integer.
    #[error("invalid content-length `{0}`: expected a non-negative integer")]
    InvalidContentLength(String),
    /// The byte after the `content-length` bytes of the body is not the NUL that ends a frame.
    #[error("the body is not followed by a NUL where its content-length says it ends")]
    MissingNul,
    /// The frame (command, headers and body, without the final NUL) is longer than
    /// [`Limits::max_frame_size`](crate::Limits::max_frame_size), or its `content-length`
    /// announces such a body.
    #[error("frame exceeds the {limit}-byte limit (limits.max_frame_size)")]
    FrameTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The frame has more than [`Limits::max_headers`](crate::Limits::max_headers) header lines.
    #[error("frame has more than {limit} headers (limits.max_headers)")]
    TooManyHeaders {
        /// The limit in header lines.
        limit: usize,
    },
    /// A header line (without its EOL) is longer than
    /// [`Limits::max_header_len`](crate::Limits::max_header_len).
    #[error("header line exceeds the {limit}-byte limit (limits.max_header_len)")]
    HeaderTooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

impl DecodeError {
    /// The WebSocket close code to close the connection with after this error: 1009 (Message
    /// Too Big) for a broken limit, 1002 (Protocol Error) for everything else.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::FrameTooLarge { .. }
            | DecodeError::TooManyHeaders { .. }
            | DecodeError::HeaderTooLong { .. } => MESSAGE_TOO_BIG,
            DecodeError::UnknownCommand(_)
            | DecodeError::MissingColon(_)
            | DecodeError::EmptyHeaderName
            | DecodeError::InvalidEscape { .. }
            | DecodeError::InvalidUtf8
            | DecodeError::InvalidContentLength(_)
            | DecodeError::MissingNul => PROTOCOL_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_close_with_1009_and_the_rest_with_1002() {
        assert_eq!(DecodeError::FrameTooLarge { limit: 1 }.close_code(), 1009);
        assert_eq!(DecodeError::TooManyHeaders { limit: 1 }.close_code(), 1009);
        assert_eq!(DecodeError::HeaderTooLong { limit: 1 }.close_code(), 1009);
        assert_eq!(DecodeError::MissingNul.close_code(), 1002);
        assert_eq!(DecodeError::InvalidUtf8.close_code(), 1002);
        assert_eq!(DecodeError::EmptyHeaderName.close_code(), 1002);
        let unknown = DecodeError::from(UnknownCommand("FOO".into()));
        assert_eq!(unknown.close_code(), 1002);
    }

    #[test]
    fn messages_read_well_in_an_error_frame() {
        let e = DecodeError::FrameTooLarge { limit: 65536 };
        assert_eq!(
            e.to_string(),
            "frame exceeds the 65536-byte limit (limits.max_frame_size)"
        );
        let e = DecodeError::InvalidEscape {
            sequence: "\\t".into(),
            version: Version::V1_2,
        };
        assert_eq!(
            e.to_string(),
            "undefined escape sequence `\\t` in a header (STOMP 1.2)"
        );
        let e = DecodeError::from(UnknownCommand("FOO".into()));
        assert_eq!(e.to_string(), "unknown STOMP command `FOO`");
    }
}
