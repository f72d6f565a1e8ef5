//! A small raw HTTP/1.x client for end-to-end tests that must see the exact bytes: it writes a
//! request on a `TcpStream` and parses the status line, the headers and the body framing
//! (`Content-Length`, `Transfer-Encoding: chunked`, or until the server closes). Streaming bodies
//! are read piece by piece (`expect`, `line`, `end`); every read is bounded by [`WAIT`].
//!
//! Included with `#[path = "support/http.rs"] mod http;` by the tests that need it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest any single read waits.
pub const WAIT: Duration = Duration::from_secs(5);

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n` (bytes still to read).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
    /// No body (204, 304, HEAD).
    Empty,
}

/// A status line and headers.
#[derive(Debug, Clone)]
pub struct Head {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    /// In order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header called `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The `Content-Type` with spaces removed (the spec's `verify_content_type`).
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| v.replace(' ', ""))
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    pub head: Head,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as UTF-8 (panics otherwise: every SockJS body is text).
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// One connection, possibly reused for several requests (keep-alive).
pub struct Conn {
    stream: TcpStream,
    /// Raw bytes read but not yet parsed.
    raw: Vec<u8>,
    /// Decoded body bytes not yet handed out.
    body: Vec<u8>,
    framing: Framing,
    /// In a chunked body: bytes left in the current chunk (`None` = at a chunk-size line).
    chunk_left: Option<usize>,
    /// The current body has ended.
    body_done: bool,
    /// The server closed its side.
    eof: bool,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect succeeds");
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            raw: Vec::new(),
            body: Vec::new(),
            framing: Framing::Empty,
            chunk_left: None,
            body_done: true,
            eof: false,
        }
    }

    /// Writes a request. `version` is `"1.1"` or `"1.0"`. `Host` and (for a body or a POST)
    /// `Content-Length` are added unless given in `headers`.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        version: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut req = format!("{method} {path} HTTP/{version}\r\n");
        let has = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("host") {
            req.push_str("Host: 127.0.0.1\r\n");
        }
        if !has("content-length") && (!body.is_empty() || method == "POST") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        tokio::time::timeout(WAIT, self.stream.write_all(&bytes))
            .await
            .expect("request written in time")
            .expect("request written");
    }

    /// Reads more raw bytes; false at EOF.
    async fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut buf = [0u8; 16 * 1024];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
            .await
            .expect("the server answers in time")
            .unwrap_or(0);
        if n == 0 {
            self.eof = true;
            return false;
        }
        self.raw.extend_from_slice(&buf[..n]);
        true
    }

    /// Reads a raw line ending in CRLF (without it).
    async fn raw_line(&mut self) -> String {
        loop {
            if let Some(i) = self.raw.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.raw[..i].to_vec()).expect("ASCII line");
                self.raw.drain(..i + 2);
                return line;
            }
            assert!(
                self.fill().await,
                "connection closed inside a line: {:?}",
                self.raw
            );
        }
    }

    /// Reads the status line and headers of the next response; sets up body framing.
    /// `head_request`: the request was HEAD (no body whatever the headers say).
    pub async fn head(&mut self, head_request: bool) -> Head {
        assert!(self.body_done, "the previous body was not read to its end");
        let status_line = self.raw_line().await;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        assert!(version.starts_with("HTTP/1."), "{status_line:?}");
        let mut headers = Vec::new();
        loop {
            let line = self.raw_line().await;
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').expect("a header line");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let head = Head {
            version,
            status,
            headers,
        };
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        self.framing = if head_request || matches!(status, 101 | 204 | 304) || status < 200 {
            Framing::Empty
        } else if chunked {
            Framing::Chunked
        } else if let Some(n) = head.header("content-length") {
            Framing::Length(n.parse().expect("numeric Content-Length"))
        } else {
            Framing::UntilClose
        };
        self.body_done = matches!(self.framing, Framing::Empty | Framing::Length(0));
        self.chunk_left = None;
        self.body.clear();
        head
    }

    /// How the current body is delimited.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Decodes more body bytes into `self.body`; false when the body has ended.
    async fn more(&mut self) -> bool {
        if self.body_done {
            return false;
        }
        match self.framing {
            Framing::Empty => {
                self.body_done = true;
                false
            }
            Framing::Length(left) => {
                if self.raw.is_empty() {
                    assert!(
                        self.fill().await,
                        "connection closed with {left} body bytes to go"
                    );
                }
                let n = left.min(self.raw.len());
                self.body.extend(self.raw.drain(..n));
                self.framing = Framing::Length(left - n);
                if left == n {
                    self.body_done = true;
                }
                true
            }
            Framing::UntilClose => {
                if self.raw.is_empty() && !self.fill().await {
                    self.body_done = true;
                    return false;
                }
                self.body.append(&mut self.raw);
                true
            }
            Framing::Chunked => match self.chunk_left {
                None => {
                    let line = self.raw_line().await;
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16)
                        .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                    if size == 0 {
                        // Trailers (none expected) up to the empty line.
                        while !self.raw_line().await.is_empty() {}
                        self.body_done = true;
                        return false;
                    }
                    self.chunk_left = Some(size);
                    true
                }
                Some(0) => {
                    let crlf = self.raw_line().await;
                    assert!(crlf.is_empty(), "chunk data longer than its size: {crlf:?}");
                    self.chunk_left = None;
                    true
                }
                Some(left) => {
                    if self.raw.is_empty() {
                        assert!(self.fill().await, "connection closed inside a chunk");
                    }
                    let n = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..n));
                    self.chunk_left = Some(left - n);
                    true
                }
            },
        }
    }

    /// The next `n` body bytes; panics if the body ends first.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.body.len() < n {
            assert!(
                self.more().await,
                "the body ended after {:?}, {} bytes wanted",
                String::from_utf8_lossy(&self.body),
                n
            );
        }
        self.body.drain(..n).collect()
    }

    /// Asserts that the next body bytes are exactly `expected`.
    pub async fn expect(&mut self, expected: &str) {
        let got = self.read_exact(expected.len()).await;
        assert_eq!(String::from_utf8_lossy(&got), expected);
    }

    /// The body up to and including the next `delimiter`.
    pub async fn until(&mut self, delimiter: &str) -> String {
        let d = delimiter.as_bytes();
        loop {
            if let Some(i) = self.body.windows(d.len()).position(|w| w == d) {
                let piece: Vec<u8> = self.body.drain(..i + d.len()).collect();
                return String::from_utf8(piece).expect("UTF-8 body");
            }
            assert!(
                self.more().await,
                "the body ended before {delimiter:?}; left: {:?}",
                String::from_utf8_lossy(&self.body)
            );
        }
    }

    /// The next line of the body, `\n` included (xhr framing).
    pub async fn line(&mut self) -> String {
        self.until("\n").await
    }

    /// Reads the rest of the body.
    pub async fn rest(&mut self) -> Vec<u8> {
        while self.more().await {}
        std::mem::take(&mut self.body)
    }

    /// Asserts that the body ends now, with no more bytes.
    pub async fn end(&mut self) {
        let rest = self.rest().await;
        assert!(
            rest.is_empty(),
            "expected the body to end, got {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Whether the server closes the connection within [`WAIT`] (discarding anything it still
    /// sends).
    pub async fn closed_by_server(&mut self) -> bool {
        self.raw.clear();
        if self.eof {
            return true;
        }
        let mut buf = [0u8; 16 * 1024];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => {
                    self.eof = true;
                    return true;
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Whether nothing arrives within `quiet` (the stream stays open and silent).
    pub async fn is_silent_for(&mut self, quiet: Duration) -> bool {
        if !self.body.is_empty() || !self.raw.is_empty() {
            return false;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(quiet, self.stream.read(&mut buf)).await {
            Err(_) => true,
            Ok(Ok(n)) if n > 0 => {
                self.raw.extend_from_slice(&buf[..n]);
                false
            }
            Ok(_) => {
                self.eof = true;
                false
            }
        }
    }

    /// A whole request and response on this connection.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(method, path, "1.1", headers, body).await;
        let head = self.head(method == "HEAD").await;
        let body = self.rest().await;
        Response { head, body }
    }
}

/// One request on a fresh connection, reading the whole response.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    Conn::open(addr)
        .await
        .request(method, path, headers, body)
        .await
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"").await
}

/// `POST path` with `body`.
pub async fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "POST", path, &[], body.as_bytes()).await
}

/// Starts a streaming request on a fresh connection and reads its head; the body is read from
/// the returned connection.
pub async fn open_stream(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (Conn, Head) {
    let mut c = Conn::open(addr).await;
    c.send(method, path, "1.1", headers, b"").await;
    let head = c.head(false).await;
    (c, head)
}
