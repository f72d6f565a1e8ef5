//! The message envelope one node publishes to the others: origin node id, destination, user
//! headers and body, in a length-prefixed binary layout. Pure encode/decode, no I/O.
//!
//! Layout (all lengths big-endian): `SBX1` magic, origin (u16 length + UTF-8), destination
//! (u32 + UTF-8), header count (u32), each header name and value (u32 + UTF-8), body (u32 +
//! bytes). Nothing may follow the body. Encoded once per message, whatever the number of
//! subscribers on any node.

use bytes::{BufMut, Bytes, BytesMut};
use stompbox_stomp::{Header, Str};

const MAGIC: &[u8; 4] = b"SBX1";

/// A topic message as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The node that published it (see [`crate::NodeId`]).
    pub origin: String,
    /// `/topic/…`.
    pub destination: String,
    /// User headers, as delivered (no `destination`, `content-length`, …).
    pub headers: Vec<Header>,
    /// The body.
    pub body: Bytes,
}

/// Why bytes read from the cluster channel are not an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// It does not start with the `SBX1` magic (another program's message, or a newer format).
    #[error("not a stompbox envelope (no SBX1 magic)")]
    BadMagic,
    /// It ends inside a field.
    #[error("envelope truncated in its {0}")]
    Truncated(&'static str),
    /// A text field is not UTF-8.
    #[error("envelope {0} is not UTF-8")]
    NotUtf8(&'static str),
    /// Bytes follow the body.
    #[error("{0} bytes after the envelope's body")]
    TrailingBytes(usize),
    /// A field is longer than its length prefix can say.
    #[error("envelope {0} too long to encode")]
    TooLong(&'static str),
}

/// Encodes one message published on node `origin`.
pub fn encode(
    origin: &str,
    destination: &str,
    headers: &[Header],
    body: &[u8],
) -> Result<Bytes, EnvelopeError> {
    let fields: usize = headers
        .iter()
        .map(|(n, v)| 8 + n.as_str().len() + v.as_str().len())
        .sum();
    let mut out = BytesMut::with_capacity(
        MAGIC.len() + 2 + origin.len() + 4 + destination.len() + 4 + fields + 4 + body.len(),
    );
    out.put_slice(MAGIC);
    let origin_len = u16::try_from(origin.len()).map_err(|_| EnvelopeError::TooLong("origin"))?;
    out.put_u16(origin_len);
    out.put_slice(origin.as_bytes());
    put_field(&mut out, destination.as_bytes(), "destination")?;
    let count = u32::try_from(headers.len()).map_err(|_| EnvelopeError::TooLong("headers"))?;
    out.put_u32(count);
    for (name, value) in headers {
        put_field(&mut out, name.as_str().as_bytes(), "header name")?;
        put_field(&mut out, value.as_str().as_bytes(), "header value")?;
    }
    put_field(&mut out, body, "body")?;
    Ok(out.freeze())
}

fn put_field(out: &mut BytesMut, field: &[u8], what: &'static str) -> Result<(), EnvelopeError> {
    let len = u32::try_from(field.len()).map_err(|_| EnvelopeError::TooLong(what))?;
    out.put_u32(len);
    out.put_slice(field);
    Ok(())
}

/// Decodes an envelope; the body shares `input`'s buffer.
pub fn decode(input: &Bytes) -> Result<Envelope, EnvelopeError> {
    let mut r = Reader { input, at: 0 };
    if r.take(MAGIC.len(), "magic")
        .map_err(|_| EnvelopeError::BadMagic)?
        != MAGIC
    {
        return Err(EnvelopeError::BadMagic);
    }
    let origin_len = u16::from_be_bytes(r.array("origin")?) as usize;
    let origin = r.text(origin_len, "origin")?;
    let destination = r.field_text("destination")?;
    let count = u32::from_be_bytes(r.array("headers")?) as usize;
    // Each header takes at least 8 bytes: a forged count cannot make us allocate much.
    let mut headers = Vec::with_capacity(count.min(r.remaining() / 8));
    for _ in 0..count {
        let name = r.field_text("header name")?;
        let value = r.field_text("header value")?;
        headers.push((Str::from(name), Str::from(value)));
    }
    let body_len = u32::from_be_bytes(r.array("body")?) as usize;
    let start = r.at;
    r.take(body_len, "body")?;
    let body = input.slice(start..r.at);
    if r.remaining() > 0 {
        return Err(EnvelopeError::TrailingBytes(r.remaining()));
    }
    Ok(Envelope {
        origin,
        destination,
        headers,
        body,
    })
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.input.len() - self.at
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.remaining() < n {
            return Err(EnvelopeError::Truncated(what));
        }
        let s = &self.input[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EnvelopeError> {
        let s = self.take(N, what)?;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn text(&mut self, n: usize, what: &'static str) -> Result<String, EnvelopeError> {
        let s = self.take(n, what)?;
        std::str::from_utf8(s)
            .map(str::to_string)
            .map_err(|_| EnvelopeError::NotUtf8(what))
    }

    fn field_text(&mut self, what: &'static str) -> Result<String, EnvelopeError> {
        let n = u32::from_be_bytes(self.array(what)?) as usize;
        self.text(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<Header>, Bytes) {
        let headers = vec![
            (Str::from("content-type"), Str::from("text/plain")),
            (Str::from("x-ünï"), Str::from("a:b")),
        ];
        (headers, Bytes::from_static(b"hello\0world"))
    }

    #[test]
    fn an_envelope_round_trips() {
        let (headers, body) = sample();
        let bytes = encode("node-a", "/topic/t", &headers, &body).expect("encode");
        let e = decode(&bytes).expect("decode");
        assert_eq!(
            e,
            Envelope {
                origin: "node-a".into(),
                destination: "/topic/t".into(),
                headers,
                body,
            }
        );
    }

    #[test]
    fn an_empty_message_round_trips() {
        let bytes = encode("n", "/topic/x", &[], b"").expect("encode");
        let e = decode(&bytes).expect("decode");
        assert!(e.headers.is_empty() && e.body.is_empty());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let (headers, body) = sample();
        let bytes = encode("node-a", "/topic/t", &headers, &body).expect("encode");
        for n in 0..bytes.len() {
            let cut = bytes.slice(..n);
            assert!(decode(&cut).is_err(), "{n} bytes decoded");
        }
    }

    #[test]
    fn foreign_messages_are_refused() {
        assert_eq!(
            decode(&Bytes::from_static(b"hello")),
            Err(EnvelopeError::BadMagic)
        );
        assert_eq!(decode(&Bytes::new()), Err(EnvelopeError::BadMagic));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let bytes = encode("n", "/topic/x", &[], b"b").expect("encode");
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(
            decode(&Bytes::from(longer)),
            Err(EnvelopeError::TrailingBytes(1))
        );
    }

    #[test]
    fn a_forged_header_count_does_not_allocate_or_panic() {
        let mut b = BytesMut::new();
        b.put_slice(MAGIC);
        b.put_u16(1);
        b.put_slice(b"n");
        b.put_u32(2);
        b.put_slice(b"/t");
        b.put_u32(u32::MAX);
        assert_eq!(
            decode(&b.freeze()),
            Err(EnvelopeError::Truncated("header name"))
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut b = BytesMut::new();
        b.put_slice(MAGIC);
        b.put_u16(1);
        b.put_slice(&[0xff]);
        assert_eq!(decode(&b.freeze()), Err(EnvelopeError::NotUtf8("origin")));
    }
}
