//! The STOMP a load generator speaks: CONNECT/SUBSCRIBE built with the workspace encoder, SEND
//! frames from a pre-encoded template with the publish time in the body, and a fast scan of
//! incoming payloads that counts MESSAGE frames without decoding them.

use std::sync::LazyLock;

use bytes::BytesMut;
use memchr::memmem;
use serde::{Deserialize, Serialize};
use stompbox_stomp::{Command, Decoder, Frame, Item, Limits, Version, encode};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::wsclient::put_frame;

/// Digits of the publish timestamp at the start of every body.
pub(crate) const TS_LEN: usize = 20;

/// What goes into CONNECT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ConnectParams {
    /// `login`, if any.
    pub(crate) login: Option<String>,
    /// `passcode`, if any.
    pub(crate) passcode: Option<String>,
    /// `host` (the virtual host).
    pub(crate) host: String,
    /// The heart-beat offered in both directions, ms (0 = none).
    pub(crate) heartbeat_ms: u32,
}

/// The CONNECT frame (STOMP payload, unmasked).
pub(crate) fn connect_frame(p: &ConnectParams) -> Vec<u8> {
    let mut f = Frame::new(Command::Connect)
        .with_header("accept-version", "1.2,1.1,1.0")
        .with_header("host", p.host.clone())
        .with_header("heart-beat", format!("{0},{0}", p.heartbeat_ms));
    if let Some(login) = &p.login {
        f.push_header("login", login.clone());
    }
    if let Some(passcode) = &p.passcode {
        f.push_header("passcode", passcode.clone());
    }
    encode(&f, Version::V1_2).to_vec()
}

/// `SUBSCRIBE` with `id:0`, `ack:auto` and `receipt:sub`.
pub(crate) fn subscribe_frame(destination: &str) -> Vec<u8> {
    let f = Frame::new(Command::Subscribe)
        .with_header("id", "0")
        .with_header("destination", destination)
        .with_header("ack", "auto")
        .with_header("receipt", "sub");
    encode(&f, Version::V1_2).to_vec()
}

/// A SEND frame encoded once; each copy gets its own timestamp and mask.
#[derive(Debug, Clone)]
pub(crate) struct SendTemplate {
    payload: Vec<u8>,
    ts_at: usize,
}

impl SendTemplate {
    /// `SEND` to `destination` with a body of `size` (≥ [`TS_LEN`]) bytes.
    pub(crate) fn new(destination: &str, size: usize) -> SendTemplate {
        let body = vec![b'x'; size.max(TS_LEN)];
        let f = Frame::new(Command::Send)
            .with_header("destination", destination)
            .with_header("content-type", "text/plain")
            .with_header("content-length", body.len().to_string())
            .with_body(body.clone());
        let payload = encode(&f, Version::V1_2).to_vec();
        let ts_at = payload.len() - 1 - body.len();
        SendTemplate { payload, ts_at }
    }

    /// Appends one masked WebSocket frame carrying the SEND stamped with `ts_ns`.
    pub(crate) fn put(&self, out: &mut BytesMut, ts_ns: u64) {
        let digits = ts_digits(ts_ns);
        put_frame(out, OpCode::Data(Data::Text), self.payload.len(), |p| {
            p.copy_from_slice(&self.payload);
            p[self.ts_at..self.ts_at + TS_LEN].copy_from_slice(&digits);
        });
    }

    /// Bytes one frame takes on the wire.
    #[cfg(test)]
    fn wire_len(&self) -> usize {
        let n = self.payload.len();
        n + 6
            + if n < 126 {
                0
            } else if n < 65_536 {
                2
            } else {
                8
            }
    }
}

/// `ns` as 20 zero-padded decimal digits.
pub(crate) fn ts_digits(mut ns: u64) -> [u8; TS_LEN] {
    let mut d = [b'0'; TS_LEN];
    for slot in d.iter_mut().rev() {
        *slot = b'0' + (ns % 10) as u8;
        ns /= 10;
    }
    d
}

/// The timestamp at the start of a body, if it has one (20 ASCII digits, parsed eight at a
/// time: this runs once per delivery).
pub(crate) fn parse_ts(body: &[u8]) -> Option<u64> {
    let digits = body.get(..TS_LEN)?;
    let high = eight_digits(digits[..8].try_into().ok()?)?;
    let mid = eight_digits(digits[8..16].try_into().ok()?)?;
    let mut low = 0;
    for &b in &digits[16..] {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        low = low * 10 + u64::from(d);
    }
    high.checked_mul(1_000_000_000_000)?
        .checked_add(mid * 10_000 + low)
}

/// Eight ASCII digits to their value, or `None` if any is not a digit.
fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    let v = u64::from_le_bytes(bytes);
    let high_nibbles = 0xF0F0_F0F0_F0F0_F0F0;
    let zeros = 0x3030_3030_3030_3030;
    // Every byte is 0x30..=0x39: its high nibble is 3, and stays 3 after adding 6.
    if v & high_nibbles != zeros || v.wrapping_add(0x0606_0606_0606_0606) & high_nibbles != zeros {
        return None;
    }
    let v = (v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    Some((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32)
}

/// What a server payload holds.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A payload made only of EOLs.
    HeartBeat,
    /// A MESSAGE frame with the body's publish time, if it carries one.
    Message(Option<u64>),
    /// Any other frame, decoded.
    Other(Frame),
}

/// Scans one WebSocket payload (one or more STOMP frames, or heart-beat EOLs).
pub(crate) fn scan(payload: &[u8], mut on: impl FnMut(Incoming)) -> Result<(), String> {
    let mut rest = skip_eols(payload);
    if rest.is_empty() {
        on(Incoming::HeartBeat);
        return Ok(());
    }
    while !rest.is_empty() {
        let message = match rest.strip_prefix(b"MESSAGE\n") {
            Some(after) => Some((after, false)),
            None => rest.strip_prefix(b"MESSAGE\r\n").map(|after| (after, true)),
        };
        let used = if let Some((after, crlf)) = message {
            let (ts, used) = scan_message(after, crlf)?;
            on(Incoming::Message(ts));
            rest.len() - after.len() + used
        } else {
            let mut buf = BytesMut::from(rest);
            match Decoder::new(Limits::default()).decode(&mut buf) {
                Ok(Some(Item::Frame(frame))) => on(Incoming::Other(frame)),
                Ok(Some(Item::HeartBeat)) => {}
                Ok(None) => return Err("an incomplete STOMP frame".into()),
                Err(e) => return Err(format!("an undecodable STOMP frame: {e}")),
            }
            rest.len() - buf.len()
        };
        rest = skip_eols(&rest[used..]);
    }
    Ok(())
}

/// Headers and body of a MESSAGE after its command line: (timestamp, bytes used with the NUL).
/// `crlf`: the command line ended with CRLF, so the head ends with a CRLF blank line.
///
/// The hot path: one search for the blank line, one for the NUL. `content-length` is read only
/// when the NUL found is not the frame's end (a body containing NUL).
fn scan_message(frame: &[u8], crlf: bool) -> Result<(Option<u64>, usize), String> {
    static LF: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\n\n"));
    static CRLF: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\n\r\n"));
    // A frame without headers has its blank line right away.
    let body_at = match frame {
        [b'\n', ..] => 1,
        [b'\r', b'\n', ..] => 2,
        _ => {
            let (finder, sep) = if crlf { (&*CRLF, 3) } else { (&*LF, 2) };
            let found = finder
                .find(frame)
                .or_else(|| (!crlf).then(|| CRLF.find(frame)).flatten().map(|i| i + 1));
            found.ok_or("a MESSAGE frame without the blank line")? + sep
        }
    };
    let body = &frame[body_at..];
    let nul = memchr::memchr(0, body).ok_or("a MESSAGE frame without its NUL")?;
    let end = match body.get(nul + 1) {
        None | Some(b'\n' | b'\r' | b'A'..=b'Z') => nul,
        Some(_) => content_length(&frame[..body_at])
            .filter(|&n| body.get(n) == Some(&0))
            .unwrap_or(nul),
    };
    Ok((parse_ts(&body[..end]), body_at + end + 1))
}

/// The `content-length` header of a frame head.
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let v = line.strip_prefix(b"content-length:")?;
        std::str::from_utf8(v).ok()?.trim().parse().ok()
    })
}

fn skip_eols(mut b: &[u8]) -> &[u8] {
    while let [b'\n' | b'\r', rest @ ..] = b {
        b = rest;
    }
    b
}

/// Appends a masked heart-beat (a text message holding one EOL).
pub(crate) fn put_heartbeat(out: &mut BytesMut) {
    put_frame(out, OpCode::Data(Data::Text), 1, |p| p[0] = b'\n');
}

/// `message` header and body of an ERROR frame, for error reports.
pub(crate) fn error_text(frame: &Frame) -> String {
    let message = frame.header("message").unwrap_or("(no message header)");
    let body = String::from_utf8_lossy(&frame.body);
    let body = body.trim();
    if body.is_empty() {
        format!("server ERROR: {message}")
    } else {
        format!("server ERROR: {message}: {body}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ns = 1_764_000_123_456_789_012;
        assert_eq!(parse_ts(&ts_digits(ns)), Some(ns));
        assert_eq!(&ts_digits(42)[..], b"00000000000000000042");
        assert_eq!(parse_ts(b"0000000000000000004x"), None);
        assert_eq!(parse_ts(b"123"), None);
        assert_eq!(parse_ts(b"99999999999999999999"), None);
        assert_eq!(parse_ts(b"18446744073709551615xx"), Some(u64::MAX));
        assert_eq!(parse_ts(b"0000000000000000000/"), None);
        assert_eq!(parse_ts(b"000:0000000000000000"), None);
        for ns in [0, 9, 1_000_000_007, 12_345_678_901_234_567] {
            assert_eq!(parse_ts(&ts_digits(ns)), Some(ns));
        }
    }

    #[test]
    fn scans_messages_heartbeats_and_other_frames() {
        let mut seen = Vec::new();
        let body = format!("{}xxxx", String::from_utf8_lossy(&ts_digits(77)));
        let msg = format!(
            "MESSAGE\nsubscription:0\ndestination:/topic/a\ncontent-length:{}\n\n{body}\0",
            body.len()
        );
        let two = format!("{msg}\n{msg}RECEIPT\nreceipt-id:sub\n\n\0");
        scan(two.as_bytes(), |i| seen.push(format!("{i:?}"))).unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0], "Message(Some(77))");
        assert!(seen[2].contains("Receipt"), "{seen:?}");
        seen.clear();
        scan(b"\r\n", |i| seen.push(format!("{i:?}"))).unwrap();
        assert_eq!(seen, ["HeartBeat"]);
        let crlf = "MESSAGE\r\ndestination:/t\r\n\r\nno time\0";
        let mut ts = Some(1);
        scan(crlf.as_bytes(), |i| {
            if let Incoming::Message(t) = i {
                ts = t;
            }
        })
        .unwrap();
        assert_eq!(ts, None);
        assert!(scan(b"MESSAGE\ndestination:/t\n", |_| {}).is_err());
    }

    #[test]
    fn the_send_template_puts_the_time_at_the_start_of_the_body() {
        let t = SendTemplate::new("/topic/bench", 100);
        let mut out = BytesMut::new();
        t.put(&mut out, 123);
        assert_eq!(out.len(), t.wire_len());
        let mut data = out.to_vec();
        let mut payload = Vec::new();
        crate::wsclient::parse_frames(&mut data, &mut Default::default(), |m| {
            if let crate::wsclient::Msg::Data(d) = m {
                payload = d.to_vec();
            }
        })
        .unwrap();
        let text = String::from_utf8(payload).unwrap();
        assert!(
            text.starts_with("SEND\ndestination:/topic/bench\n"),
            "{text}"
        );
        assert!(
            text.contains("content-length:100\n\n00000000000000000123xx"),
            "{text}"
        );
        assert!(text.ends_with("x\0"));
    }
}
