//! RFC 6455 §5 as a server receives it: frames from bytes, messages from frames. Sans-IO — bytes
//! in, [`Event`]s out, no socket and no clock — so it is tested with byte slices.
//!
//! Owns the receive-side rules: client frames must be masked (§5.1), RSV bits must be clear
//! (§5.2), control frames are at most 125 bytes and never fragmented (§5.5), fragments arrive in
//! order (§5.4), text is UTF-8 (§8.1), messages respect a size limit, Close payloads are valid
//! (§5.5.1, §7.4). Violations are [`tungstenite`]'s own error values, so close reasons read as
//! they did when tungstenite parsed.
//!
//! Memory: between frames nothing is held. Bytes are kept only while a frame is incomplete
//! (`partial`) or a fragmented message is being assembled (`fragments`), and released after.

use std::io::Cursor;

use bytes::{Buf, BytesMut};
use stompbox_broker::{CloseStatus, ClosedBy};
use stompbox_closecode::codes;
use tungstenite::error::{CapacityError, ProtocolError};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

/// What the peer sent, one item at a time.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A complete data message (text already checked to be UTF-8).
    Message(&'a [u8]),
    /// A ping with its payload (to be answered with a pong).
    Ping(&'a [u8]),
    /// A pong.
    Pong,
    /// A Close frame: its code (`None` for an empty payload) and reason. A code that may not be
    /// sent on the wire is replaced by 1002 "Protocol violation", as tungstenite did.
    Close(Option<(u16, &'a str)>),
}

/// A violation: the connection is failed with [`WsError::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsError {
    /// A protocol rule was broken (1002).
    Protocol(ProtocolError),
    /// A message exceeds the size limit (1009).
    Capacity(CapacityError),
    /// A text message or Close reason is not UTF-8 (1007).
    Utf8,
}

impl WsError {
    /// How the server closes for this violation.
    pub(crate) fn status(&self) -> CloseStatus {
        match self {
            WsError::Protocol(e) => {
                CloseStatus::new(codes::PROTOCOL_ERROR, e.to_string(), ClosedBy::Server)
            }
            WsError::Capacity(e) => {
                CloseStatus::new(codes::MESSAGE_TOO_BIG, e.to_string(), ClosedBy::Server)
            }
            WsError::Utf8 => CloseStatus::new(
                codes::INVALID_PAYLOAD,
                "invalid UTF-8 in a text message",
                ClosedBy::Server,
            ),
        }
    }
}

/// Whether to go on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep parsing.
    Continue,
    /// Stop: input after this event is ignored (after a Close, or when the connection ends).
    Stop,
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Fragments {
    text: bool,
    data: BytesMut,
}

/// The receive side of one connection.
#[derive(Debug)]
pub(crate) struct Receiver {
    /// An incomplete frame's bytes; empty (and without capacity) between frames.
    partial: BytesMut,
    /// The fragmented message in progress, if any (boxed: rare, and every idle connection
    /// would pay for its room otherwise).
    fragments: Option<Box<Fragments>>,
    /// Largest message (and frame) accepted, in bytes.
    max_message: usize,
}

impl Receiver {
    /// A receiver accepting messages up to `max_message` bytes.
    pub(crate) fn new(max_message: usize) -> Receiver {
        Receiver {
            partial: BytesMut::new(),
            fragments: None,
            max_message,
        }
    }

    /// Bytes held for incomplete frames or messages (0 between messages).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.partial.capacity() + self.fragments.as_ref().map_or(0, |f| f.data.capacity())
    }

    /// Bytes held between calls: of the incomplete frame, and of the fragmented message so far.
    pub(crate) fn held(&self) -> (usize, usize) {
        let fragments = self.fragments.as_ref().map_or(0, |f| f.data.len());
        (self.partial.len(), fragments)
    }

    /// Feeds bytes just read (any chunking); `input` is unmasked in place. Calls `on_event` for
    /// each complete event until it says [`Flow::Stop`].
    pub(crate) fn feed(
        &mut self,
        input: &mut [u8],
        mut on_event: impl FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, WsError> {
        if self.partial.is_empty() {
            let (used, flow, want) = self.process(input, &mut on_event)?;
            if flow == Flow::Continue && used < input.len() {
                self.partial.reserve(want.max(input.len() - used));
                self.partial.extend_from_slice(&input[used..]);
            }
            return Ok(flow);
        }
        let mut partial = std::mem::take(&mut self.partial);
        partial.extend_from_slice(input);
        let (used, flow, want) = self.process(&mut partial, &mut on_event)?;
        partial.advance(used);
        if flow == Flow::Continue && !partial.is_empty() {
            partial.reserve(want.saturating_sub(partial.len()));
            self.partial = partial;
        }
        Ok(flow)
    }

    /// Parses the complete frames at the start of `buf`. Returns how many bytes they took, and
    /// the size of the incomplete frame after them when its header is known (else 0).
    fn process(
        &mut self,
        buf: &mut [u8],
        on_event: &mut impl FnMut(Event<'_>) -> Flow,
    ) -> Result<(usize, Flow, usize), WsError> {
        let mut pos = 0;
        loop {
            let mut cursor = Cursor::new(&buf[pos..]);
            let parsed = FrameHeader::parse(&mut cursor).map_err(|e| protocol(e, buf[pos]))?;
            let Some((header, length)) = parsed else {
                return Ok((pos, Flow::Continue, 0));
            };
            let start = pos + cursor.position() as usize;
            let (mask, length) = self.check(&header, length)?;
            let end = start + length;
            if buf.len() < end {
                return Ok((pos, Flow::Continue, end - pos));
            }
            let payload = &mut buf[start..end];
            unmask(payload, mask);
            pos = end;
            if self.handle(&header, payload, on_event)? == Flow::Stop {
                return Ok((pos, Flow::Stop, 0));
            }
        }
    }

    /// The checks a header allows before its payload arrives; returns the mask and length.
    fn check(&self, header: &FrameHeader, length: u64) -> Result<([u8; 4], usize), WsError> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(WsError::Protocol(ProtocolError::NonZeroReservedBits));
        }
        let Some(mask) = header.mask else {
            return Err(WsError::Protocol(ProtocolError::UnmaskedFrameFromClient));
        };
        match header.opcode {
            OpCode::Control(_) if !header.is_final => {
                Err(WsError::Protocol(ProtocolError::FragmentedControlFrame))
            }
            OpCode::Control(_) if length > 125 => {
                Err(WsError::Protocol(ProtocolError::ControlFrameTooBig))
            }
            OpCode::Control(_) => Ok((mask, length as usize)),
            OpCode::Data(data) => {
                match (data, &self.fragments) {
                    (Data::Continue, None) => {
                        return Err(WsError::Protocol(ProtocolError::UnexpectedContinueFrame));
                    }
                    (Data::Text | Data::Binary, Some(_)) => {
                        return Err(WsError::Protocol(ProtocolError::ExpectedFragment(data)));
                    }
                    _ => {}
                }
                let so_far = self.fragments.as_ref().map_or(0, |f| f.data.len());
                let size = (so_far as u64).saturating_add(length);
                if size > self.max_message as u64 {
                    return Err(WsError::Capacity(CapacityError::MessageTooLong {
                        size: usize::try_from(size).unwrap_or(usize::MAX),
                        max_size: self.max_message,
                    }));
                }
                Ok((mask, length as usize))
            }
        }
    }

    /// Acts on one complete, unmasked frame.
    fn handle(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> Flow,
    ) -> Result<Flow, WsError> {
        match header.opcode {
            OpCode::Control(Control::Close) => Ok(on_event(Event::Close(close_payload(payload)?))),
            OpCode::Control(Control::Ping) => Ok(on_event(Event::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(on_event(Event::Pong)),
            OpCode::Control(Control::Reserved(i)) => {
                Err(WsError::Protocol(ProtocolError::UnknownControlFrameType(i)))
            }
            OpCode::Data(Data::Reserved(i)) => {
                Err(WsError::Protocol(ProtocolError::UnknownDataFrameType(i)))
            }
            OpCode::Data(Data::Continue) => {
                let Some(fragments) = self.fragments.as_mut() else {
                    return Err(WsError::Protocol(ProtocolError::UnexpectedContinueFrame));
                };
                fragments.data.extend_from_slice(payload);
                if !header.is_final {
                    return Ok(Flow::Continue);
                }
                let Some(fragments) = self.fragments.take() else {
                    return Ok(Flow::Continue);
                };
                message(fragments.text, &fragments.data, on_event)
            }
            OpCode::Data(data) => {
                let text = data == Data::Text;
                if header.is_final {
                    return message(text, payload, on_event);
                }
                self.fragments = Some(Box::new(Fragments {
                    text,
                    data: BytesMut::from(payload),
                }));
                Ok(Flow::Continue)
            }
        }
    }
}

fn message(
    text: bool,
    data: &[u8],
    on_event: &mut impl FnMut(Event<'_>) -> Flow,
) -> Result<Flow, WsError> {
    if text && std::str::from_utf8(data).is_err() {
        return Err(WsError::Utf8);
    }
    Ok(on_event(Event::Message(data)))
}

/// §5.5.1: empty, or a two-byte code and a UTF-8 reason.
fn close_payload(payload: &[u8]) -> Result<Option<(u16, &str)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol(ProtocolError::InvalidCloseSequence)),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::Utf8)?;
            if CloseCode::from(code).is_allowed() {
                Ok(Some((code, reason)))
            } else {
                Ok(Some((codes::PROTOCOL_ERROR, "Protocol violation")))
            }
        }
    }
}

/// A header parse error; `first` is the frame's first byte.
fn protocol(error: tungstenite::Error, first: u8) -> WsError {
    match error {
        tungstenite::Error::Protocol(p) => WsError::Protocol(p),
        // Parsing from a slice does no I/O: only a bad opcode can fail it.
        _ => WsError::Protocol(ProtocolError::InvalidOpcode(first & 0x0F)),
    }
}

/// §5.3: XORs `buf` with the four-byte `mask`, eight bytes at a time.
pub(crate) fn unmask(buf: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Chunks start at multiples of 8, so the remainder starts at a multiple of 4 too.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
