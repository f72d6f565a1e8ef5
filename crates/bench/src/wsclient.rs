//! A lean WebSocket client: the HTTP upgrade done by hand, server frames parsed with
//! tungstenite's [`FrameHeader`] straight out of a byte buffer (many frames per read), client
//! frames masked on the way out. No per-message allocation on the receive path.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::target::Target;

/// Largest server message accepted (a STOMP frame is far smaller).
pub(crate) const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Longest HTTP response head accepted.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// A socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The upgrade was refused or malformed.
    #[error("WebSocket upgrade failed: {0}")]
    Handshake(String),
    /// The server broke the framing rules.
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
    /// The server sent a Close frame.
    #[error("closed by the server with code {code}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    Closed {
        /// The close code (1005 when the frame had none).
        code: u16,
        /// The reason text.
        reason: String,
    },
    /// The TCP connection ended without a Close frame (what a server logs as 1006).
    #[error("the server closed the TCP connection without a Close frame")]
    Eof,
}

impl WsError {
    /// The close code to record for this ending: the server's, or 1006 for anything abnormal.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            WsError::Closed { code, .. } => *code,
            _ => 1006,
        }
    }
}

/// Opens a TCP connection from `source` (port chosen by the kernel) and upgrades it, offering
/// the STOMP subprotocols. Returns the stream and any bytes the server sent after its 101.
pub(crate) async fn connect(
    target: &Target,
    source: Option<IpAddr>,
) -> Result<(TcpStream, BytesMut), WsError> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0)).map_err(|e| {
            std::io::Error::new(e.kind(), format!("binding to source address {ip}: {e}"))
        })?;
    }
    let mut tcp = socket.connect(target.addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("connecting to {}: {e}", target.addr))
    })?;
    tcp.set_nodelay(true)?;
    let key = base64_key();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n\r\n",
        target.path, target.host
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(WsError::Handshake(
                "the server closed the connection before answering".into(),
            ));
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                check_upgrade(&response, &key)?;
                let _ = buf.split_to(n);
                return Ok((tcp, buf));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(WsError::Handshake("response head too long".into()));
            }
            Err(e) => return Err(WsError::Handshake(format!("bad HTTP response: {e}"))),
        }
    }
}

fn base64_key() -> String {
    use base64::Engine as _;
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn check_upgrade(response: &httparse::Response<'_, '_>, key: &str) -> Result<(), WsError> {
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(WsError::Handshake(format!(
            "expected 101 Switching Protocols, got {code} {}",
            response.reason.unwrap_or("")
        )));
    }
    let accept = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value)
        .ok_or_else(|| WsError::Handshake("no Sec-WebSocket-Accept header".into()))?;
    if accept != tungstenite::handshake::derive_accept_key(key.as_bytes()).as_bytes() {
        return Err(WsError::Handshake("wrong Sec-WebSocket-Accept".into()));
    }
    Ok(())
}

/// What the parser hands out.
#[derive(Debug)]
pub(crate) enum Msg<'a> {
    /// A complete text or binary message.
    Data(&'a [u8]),
    /// A ping (answer with a pong carrying the same payload).
    Ping(&'a [u8]),
}

/// A message being reassembled from fragments.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    buf: Vec<u8>,
    active: bool,
}

/// Parses every complete frame at the front of `buf`, handing data messages and pings to
/// `on_msg`. Returns how many bytes were consumed (the rest is an incomplete frame), or the
/// Close the server sent, or a protocol error.
pub(crate) fn parse_frames(
    buf: &mut [u8],
    frags: &mut Fragments,
    mut on_msg: impl FnMut(Msg<'_>),
) -> Result<usize, WsError> {
    let mut pos = 0;
    while pos < buf.len() {
        let mut cursor = Cursor::new(&buf[pos..]);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => break,
            Err(e) => return Err(WsError::Protocol(e.to_string())),
        };
        let start = pos + cursor.position() as usize;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_MESSAGE)
            .ok_or_else(|| WsError::Protocol(format!("a {len}-byte frame is too big")))?;
        if buf.len() - start < len {
            break;
        }
        let payload = &mut buf[start..start + len];
        if let Some(mask) = header.mask {
            apply_mask(payload, mask);
        }
        pos = start + len;
        match header.opcode {
            OpCode::Data(Data::Text | Data::Binary) if !frags.active => {
                if header.is_final {
                    on_msg(Msg::Data(payload));
                } else {
                    frags.active = true;
                    frags.buf.clear();
                    frags.buf.extend_from_slice(payload);
                }
            }
            OpCode::Data(Data::Continue) if frags.active => {
                if frags.buf.len() + len > MAX_MESSAGE {
                    return Err(WsError::Protocol("fragmented message too big".into()));
                }
                frags.buf.extend_from_slice(payload);
                if header.is_final {
                    frags.active = false;
                    on_msg(Msg::Data(&frags.buf));
                }
            }
            OpCode::Data(_) => {
                return Err(WsError::Protocol("unexpected fragment sequence".into()));
            }
            OpCode::Control(Control::Ping) => on_msg(Msg::Ping(payload)),
            OpCode::Control(Control::Pong) => {}
            OpCode::Control(Control::Close) => {
                let (code, reason) = match payload {
                    [hi, lo, reason @ ..] => (
                        u16::from_be_bytes([*hi, *lo]),
                        String::from_utf8_lossy(reason).into_owned(),
                    ),
                    _ => (1005, String::new()),
                };
                return Err(WsError::Closed { code, reason });
            }
            OpCode::Control(Control::Reserved(_)) => {
                return Err(WsError::Protocol("reserved control opcode".into()));
            }
        }
    }
    Ok(pos)
}

/// XORs `data` with the 4-byte mask (RFC 6455 §5.3).
fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Appends a masked client frame; `fill` writes the unmasked payload of exactly `len` bytes.
pub(crate) fn put_frame(
    out: &mut BytesMut,
    opcode: OpCode,
    len: usize,
    fill: impl FnOnce(&mut [u8]),
) {
    let mask: [u8; 4] = fastrand::u32(..).to_ne_bytes();
    let header = FrameHeader {
        opcode,
        mask: Some(mask),
        ..FrameHeader::default()
    };
    out.reserve(14 + len);
    // Formatting into memory cannot fail.
    let _ = header.format(len as u64, &mut (&mut *out).writer());
    let start = out.len();
    out.resize(start + len, 0);
    let payload = &mut out[start..];
    fill(payload);
    apply_mask(payload, mask);
}

/// Appends a masked text frame carrying `payload`.
pub(crate) fn put_text(out: &mut BytesMut, payload: &[u8]) {
    put_frame(out, OpCode::Data(Data::Text), payload.len(), |p| {
        p.copy_from_slice(payload)
    });
}

/// Appends a masked pong answering a ping.
pub(crate) fn put_pong(out: &mut BytesMut, payload: &[u8]) {
    put_frame(out, OpCode::Control(Control::Pong), payload.len(), |p| {
        p.copy_from_slice(payload)
    });
}

/// Appends a masked Close frame with `code`.
pub(crate) fn put_close(out: &mut BytesMut, code: u16) {
    put_frame(out, OpCode::Control(Control::Close), 2, |p| {
        p.copy_from_slice(&code.to_be_bytes())
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![opcode | if fin { 0x80 } else { 0 }];
        if payload.len() < 126 {
            v.push(payload.len() as u8);
        } else {
            v.push(126);
            v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parses_many_frames_fragments_pings_and_stops_at_a_partial_one() {
        let mut wire = server_frame(1, true, b"one");
        wire.extend(server_frame(9, true, b"p"));
        wire.extend(server_frame(1, false, b"tw"));
        wire.extend(server_frame(0, true, b"o"));
        let big = vec![b'x'; 300];
        wire.extend(server_frame(1, true, &big));
        let full = wire.len();
        wire.extend(&server_frame(1, true, b"partial")[..4]);
        let mut seen = Vec::new();
        let mut frags = Fragments::default();
        let used = parse_frames(&mut wire, &mut frags, |m| match m {
            Msg::Data(d) => seen.push(String::from_utf8_lossy(d).into_owned()),
            Msg::Ping(p) => seen.push(format!("ping {}", String::from_utf8_lossy(p))),
        })
        .unwrap();
        assert_eq!(used, full);
        assert_eq!(seen[..3], ["one", "ping p", "two"]);
        assert_eq!(seen[3].len(), 300);
    }

    #[test]
    fn a_close_frame_ends_with_its_code() {
        let mut payload = 4408u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"heart-beat timeout");
        let mut wire = server_frame(8, true, &payload);
        let e = parse_frames(&mut wire, &mut Fragments::default(), |_| {}).unwrap_err();
        assert_eq!(e.close_code(), 4408);
        assert!(e.to_string().contains("heart-beat timeout"));
    }

    #[test]
    fn client_frames_are_masked_and_round_trip() {
        let mut out = BytesMut::new();
        put_text(&mut out, b"SEND\n\n\0");
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x80 | 7);
        let mut data = out.to_vec();
        let mut got = Vec::new();
        parse_frames(&mut data, &mut Fragments::default(), |m| {
            if let Msg::Data(d) = m {
                got = d.to_vec();
            }
        })
        .unwrap();
        assert_eq!(got, b"SEND\n\n\0");
    }
}
