//! STOMP 1.0, 1.1 and 1.2 wire format: frames, an incremental decoder, an encoder, version and
//! heart-beat negotiation.
//!
//! This crate does no I/O and keeps no clock: callers feed bytes in and take bytes out
//! (sans-IO). It implements the STOMP 1.2 specification's "Frames and Headers", "Value Encoding",
//! "Heart-beating" and "Protocol Negotiation" sections, with the 1.0 and 1.1 differences.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod command;
mod decode;
mod encode;
mod frame;
mod heartbeat;
mod text;
mod version;

pub use command::{Command, UnknownCommand};
pub use decode::{DecodeError, Decoder, Item, Limits};
pub use encode::{MessageTemplate, encode, encode_into};
pub use frame::{Frame, Header};
pub use heartbeat::{HeartBeat, HeartBeatError, Negotiated};
pub use text::Str;
pub use version::{Version, negotiate_version};
