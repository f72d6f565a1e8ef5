//! A decoded or to-be-encoded STOMP frame: command, ordered headers, body.

use bytes::Bytes;

use crate::{Command, Str};

/// One header line, name and value, already unescaped (decoded) or not yet escaped (to encode).
///
/// Decoded names and values share the frame's bytes (see [`Str`]).
pub type Header = (Str, Str);

/// A STOMP frame.
///
/// Headers keep their wire order and may repeat; [`Frame::header`] returns the first
/// occurrence, as STOMP 1.2 "Repeated Header Entries" requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command.
    pub command: Command,
    /// Headers in wire order, unescaped.
    pub headers: Vec<Header>,
    /// The body (empty when the frame has none).
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and no body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: impl Into<Str>, value: impl Into<Str>) -> Frame {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Frame {
        self.body = body.into();
        self
    }

    /// The value of the first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: impl Into<Str>, value: impl Into<Str>) {
        self.headers.push((name.into(), value.into()));
    }
}
