//! Opening a STOMP session: upgrade, CONNECT and CONNECTED, SUBSCRIBE and its RECEIPT. Frames
//! during set-up are rare, so this side decodes them fully.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use bytes::BytesMut;
use stompbox_stomp::{Command, Frame, HeartBeat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stomp::{self, ConnectParams, Incoming};
use crate::wsclient::{self, Fragments, Msg, WsError};

/// A session just opened.
pub(crate) struct Opened {
    pub(crate) tcp: TcpStream,
    pub(crate) control: Control,
    /// How often the server will send heart-beats, and how often it wants ours.
    pub(crate) server_hb: Option<Duration>,
    pub(crate) client_hb: Option<Duration>,
}

/// Upgrades a connection from `source` and exchanges CONNECT/CONNECTED.
pub(crate) async fn open(
    target: &crate::target::Target,
    source: Option<IpAddr>,
    params: &ConnectParams,
) -> Result<Opened, String> {
    let (mut tcp, buf) = wsclient::connect(target, source)
        .await
        .map_err(|e| e.to_string())?;
    let mut control = Control {
        buf,
        frags: Fragments::default(),
        pending: VecDeque::new(),
    };
    control
        .send(&mut tcp, &stomp::connect_frame(params))
        .await?;
    let connected = control.next(&mut tcp).await?;
    if connected.command != Command::Connected {
        return Err(unexpected("CONNECTED", &connected));
    }
    let offered = connected
        .header("heart-beat")
        .and_then(|v| HeartBeat::parse(v).ok())
        .unwrap_or_default();
    let negotiated = offered.negotiate(HeartBeat::new(params.heartbeat_ms, params.heartbeat_ms));
    Ok(Opened {
        tcp,
        control,
        server_hb: negotiated.send,
        client_hb: negotiated.receive,
    })
}

/// `what was expected, got …` (an ERROR frame's message when it is one).
pub(crate) fn unexpected(wanted: &str, got: &Frame) -> String {
    if got.command == Command::Error {
        stomp::error_text(got)
    } else {
        format!("expected {wanted}, got {}", got.command.as_str())
    }
}

/// Reads set-up frames.
pub(crate) struct Control {
    /// Bytes read and not parsed yet.
    pub(crate) buf: BytesMut,
    /// A fragmented message in progress.
    pub(crate) frags: Fragments,
    pending: VecDeque<Frame>,
}

impl Control {
    /// Sends one STOMP frame.
    pub(crate) async fn send(&mut self, tcp: &mut TcpStream, stomp: &[u8]) -> Result<(), String> {
        let mut out = BytesMut::new();
        wsclient::put_text(&mut out, stomp);
        tcp.write_all(&out).await.map_err(|e| e.to_string())
    }

    /// Sends SUBSCRIBE and waits for its RECEIPT.
    pub(crate) async fn subscribe(
        &mut self,
        tcp: &mut TcpStream,
        topic: &str,
    ) -> Result<(), String> {
        self.send(tcp, &stomp::subscribe_frame(topic)).await?;
        let receipt = self.next(tcp).await?;
        if receipt.command != Command::Receipt {
            return Err(unexpected("the RECEIPT of SUBSCRIBE", &receipt));
        }
        Ok(())
    }

    /// The next frame other than a MESSAGE or heart-beat; pings are answered.
    pub(crate) async fn next(&mut self, tcp: &mut TcpStream) -> Result<Frame, String> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Ok(f);
            }
            let mut pongs = BytesMut::new();
            let mut bad = None;
            let used = wsclient::parse_frames(&mut self.buf, &mut self.frags, |m| match m {
                Msg::Data(d) => {
                    let r = stomp::scan(d, |i| {
                        if let Incoming::Other(f) = i {
                            self.pending.push_back(f);
                        }
                    });
                    if let Err(e) = r {
                        bad.get_or_insert(e);
                    }
                }
                Msg::Ping(p) => wsclient::put_pong(&mut pongs, p),
            })
            .map_err(|e| e.to_string())?;
            let _ = self.buf.split_to(used);
            if let Some(e) = bad {
                return Err(e);
            }
            if !pongs.is_empty() {
                tcp.write_all(&pongs).await.map_err(|e| e.to_string())?;
            }
            if self.pending.is_empty() {
                self.buf.reserve(4096);
                let n = tcp
                    .read_buf(&mut self.buf)
                    .await
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err(WsError::Eof.to_string());
                }
            }
        }
    }
}
