//! The soak test's client connections: STOMP over a plain WebSocket, over SockJS's `websocket`
//! transport (`<endpoint>/<server>/<session>/websocket`), or over plain TCP. One way to send a
//! STOMP frame and one to read what the server sent, whatever carries it.

use std::net::{IpAddr, SocketAddr};

use bytes::{Buf, BytesMut};
use serde::Serialize;
use stompbox_stomp::{Decoder, Frame, Item, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::target::Target;
use crate::wsclient::{self, Fragments, Msg, WsError};

/// How STOMP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Framing {
    /// One STOMP frame per WebSocket message at the endpoint.
    Ws,
    /// SockJS's websocket transport: `o`, `a[…]`, `h`, `c[…]` inside WebSocket messages.
    SockJs,
    /// STOMP straight on a TCP connection.
    Tcp,
}

impl Framing {
    /// The `transport=` word of the server's log line.
    pub(crate) fn log_name(self) -> &'static str {
        match self {
            Framing::Ws => "websocket",
            Framing::SockJs => "sockjs",
            Framing::Tcp => "tcp",
        }
    }
}

/// What the server sent.
#[derive(Debug)]
pub(crate) enum Got {
    /// A STOMP frame.
    Frame(Frame),
    /// A STOMP heart-beat (an EOL between frames).
    HeartBeat,
    /// The server ended the connection: its WebSocket Close code and reason (already
    /// answered), or `None` for an end of stream without one.
    Closed(Option<(u16, String)>),
}

/// One client connection.
pub(crate) struct Wire {
    pub(crate) tcp: TcpStream,
    framing: Framing,
    /// Bytes read and not yet parsed as WebSocket frames (WebSocket framings).
    raw: BytesMut,
    frags: Fragments,
    /// The STOMP stream not yet decoded.
    stomp: BytesMut,
    decoder: Decoder,
    /// The session id of the SockJS URL, if any.
    pub(crate) url_session: Option<String>,
    /// The code of a SockJS `c[code,reason]` frame, if one came.
    pub(crate) sockjs_close: Option<u16>,
    closed: bool,
}

/// Where a connection goes.
#[derive(Debug, Clone)]
pub(crate) enum Dest<'a> {
    /// The WebSocket endpoint.
    Ws(&'a Target),
    /// The SockJS websocket transport below the endpoint.
    SockJs(&'a Target),
    /// A STOMP-over-TCP listener.
    Tcp(SocketAddr),
}

impl Wire {
    /// Connects (and upgrades, for the WebSocket framings) from `source`.
    pub(crate) async fn open(dest: Dest<'_>, source: Option<IpAddr>) -> Result<Wire, String> {
        let (framing, tcp, raw, url_session) = match dest {
            Dest::Ws(target) => {
                let (tcp, rest) = wsclient::connect(target, source)
                    .await
                    .map_err(|e| e.to_string())?;
                (Framing::Ws, tcp, rest, None)
            }
            Dest::SockJs(target) => {
                let session = format!("soak{:016x}", fastrand::u64(..));
                let mut t = target.clone();
                t.path = format!(
                    "{}/{:03}/{session}/websocket",
                    t.path.trim_end_matches('/'),
                    fastrand::u16(..1000)
                );
                let (tcp, rest) = wsclient::connect(&t, source)
                    .await
                    .map_err(|e| e.to_string())?;
                (Framing::SockJs, tcp, rest, Some(session))
            }
            Dest::Tcp(addr) => {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .map_err(|e| e.to_string())?;
                if let Some(ip) = source.filter(|ip| ip.is_ipv4() == addr.is_ipv4()) {
                    socket
                        .bind(SocketAddr::new(ip, 0))
                        .map_err(|e| format!("binding to {ip}: {e}"))?;
                }
                let tcp = socket
                    .connect(addr)
                    .await
                    .map_err(|e| format!("connecting to {addr}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                (Framing::Tcp, tcp, BytesMut::new(), None)
            }
        };
        let mut wire = Wire {
            tcp,
            framing,
            raw: BytesMut::new(),
            frags: Fragments::default(),
            stomp: BytesMut::new(),
            decoder: Decoder::new(Limits::default()),
            url_session,
            sockjs_close: None,
            closed: false,
        };
        match framing {
            Framing::Tcp => wire.stomp = raw,
            _ => wire.raw = raw,
        }
        Ok(wire)
    }

    /// Sends one encoded STOMP frame (or heart-beat EOL).
    pub(crate) async fn send(&mut self, stomp: &[u8]) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        match self.framing {
            Framing::Ws => wsclient::put_text(&mut out, stomp),
            Framing::SockJs => {
                let text = String::from_utf8_lossy(stomp);
                let json = serde_json::to_string(&[text]).map_err(std::io::Error::other)?;
                wsclient::put_text(&mut out, json.as_bytes());
            }
            Framing::Tcp => out.extend_from_slice(stomp),
        }
        self.tcp.write_all(&out).await
    }

    /// Sends a WebSocket Close with `code` (nothing over TCP).
    pub(crate) async fn close(&mut self, code: u16) -> std::io::Result<()> {
        if self.framing == Framing::Tcp {
            return Ok(());
        }
        let mut out = BytesMut::new();
        wsclient::put_close(&mut out, code);
        self.tcp.write_all(&out).await
    }

    /// Reads once and appends what arrived to `got`. Cancel-safe: the only wait is the read.
    pub(crate) async fn read(&mut self, got: &mut Vec<Got>) -> Result<(), String> {
        if self.closed {
            return Err("read after the connection ended".into());
        }
        let buf = match self.framing {
            Framing::Tcp => &mut self.stomp,
            _ => &mut self.raw,
        };
        buf.reserve(8192);
        // A reset ends the stream like an EOF: either way no Close frame came.
        let n = self.tcp.read_buf(buf).await.unwrap_or(0);
        let mut replies = BytesMut::new();
        let mut closed = None;
        if self.framing != Framing::Tcp {
            let (framing, stomp, sockjs_close) =
                (self.framing, &mut self.stomp, &mut self.sockjs_close);
            let mut bad = None;
            let parsed = wsclient::parse_frames(&mut self.raw, &mut self.frags, |m| match m {
                Msg::Data(d) if framing == Framing::Ws => stomp.extend_from_slice(d),
                Msg::Data(d) => {
                    if let Err(e) = sockjs_payload(d, stomp, sockjs_close) {
                        bad.get_or_insert(e);
                    }
                }
                Msg::Ping(p) => wsclient::put_pong(&mut replies, p),
            });
            if let Some(e) = bad {
                return Err(e);
            }
            match parsed {
                Ok(used) => self.raw.advance(used),
                Err(WsError::Closed { code, reason }) => {
                    // Answer the Close (RFC 6455 §5.5.1); the connection ends either way.
                    wsclient::put_close(&mut replies, code);
                    closed = Some(Some((code, reason)));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        self.decode(got)?;
        if !replies.is_empty() {
            let _ = self.tcp.write_all(&replies).await;
        }
        if n == 0 && closed.is_none() {
            closed = Some(None);
        }
        if let Some(c) = closed {
            self.closed = true;
            got.push(Got::Closed(c));
        }
        Ok(())
    }

    fn decode(&mut self, got: &mut Vec<Got>) -> Result<(), String> {
        loop {
            match self.decoder.decode(&mut self.stomp) {
                Ok(Some(Item::Frame(f))) => got.push(Got::Frame(f)),
                Ok(Some(Item::HeartBeat)) => got.push(Got::HeartBeat),
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("an undecodable STOMP frame: {e}")),
            }
        }
    }
}

/// One SockJS message: `o`, `h`, `a[…]` (its strings go to the STOMP stream) or `c[code,…]`.
fn sockjs_payload(d: &[u8], stomp: &mut BytesMut, close: &mut Option<u16>) -> Result<(), String> {
    match d.first() {
        Some(b'o' | b'h') | None => Ok(()),
        Some(b'a') => {
            let strings: Vec<String> = serde_json::from_slice(&d[1..])
                .map_err(|e| format!("a bad SockJS a[…] frame: {e}"))?;
            for s in strings {
                stomp.extend_from_slice(s.as_bytes());
            }
            Ok(())
        }
        Some(b'c') => {
            let (code, _reason): (u16, String) = serde_json::from_slice(&d[1..])
                .map_err(|e| format!("a bad SockJS c[…] frame: {e}"))?;
            *close = Some(code);
            Ok(())
        }
        Some(other) => Err(format!("an unknown SockJS frame type {:?}", *other as char)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sockjs_frames_feed_the_stomp_stream() {
        let mut stomp = BytesMut::new();
        let mut close = None;
        sockjs_payload(b"o", &mut stomp, &mut close).unwrap();
        sockjs_payload(
            br#"a["RECEIPT\nreceipt-id:1\n\n\u0000","\n"]"#,
            &mut stomp,
            &mut close,
        )
        .unwrap();
        assert_eq!(&stomp[..], b"RECEIPT\nreceipt-id:1\n\n\0\n");
        sockjs_payload(br#"c[4408,"heart-beat timeout"]"#, &mut stomp, &mut close).unwrap();
        assert_eq!(close, Some(4408));
        assert!(sockjs_payload(b"a[1", &mut stomp, &mut close).is_err());
        assert!(sockjs_payload(b"x", &mut stomp, &mut close).is_err());
    }
}
