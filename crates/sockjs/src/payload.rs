//! Parsing what clients send: the bodies of `xhr_send` and `jsonp_send`, and WebSocket messages.
//!
//! Owns "parse, don't validate" for client payloads and the error bodies the spec wants for them;
//! must not touch sessions or HTTP types (the adapter passes the body bytes and the
//! `Content-Type` value). Implements `XhrPolling.test_invalid_json`,
//! `JsonPolling.test_invalid_json` / `test_content_types` and the WebSocket `test_empty_frame` /
//! `test_broken_json` rules of `sockjs-protocol-0.3.3.py`.

use std::fmt;

/// Why a client payload was refused.
///
/// Over HTTP both are answered with status [`PayloadError::http_status`] (500) and the
/// [`Display`](fmt::Display) text as the body, exactly as the spec's `test_invalid_json` tests
/// expect. Over the WebSocket transport a [`PayloadError::Broken`] message ends the connection
/// abruptly (spec `test_broken_json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadError {
    /// The body (or the form field `d`) was empty or missing: `Payload expected.`
    Empty,
    /// The payload was not valid JSON, not UTF-8, or not a JSON array of strings:
    /// `Broken JSON encoding.`
    Broken,
}

impl PayloadError {
    /// The HTTP status the spec requires for this error: always 500.
    pub const fn http_status(self) -> u16 {
        500
    }

    /// The exact response body, same as the `Display` text.
    pub const fn body(self) -> &'static str {
        match self {
            PayloadError::Empty => "Payload expected.",
            PayloadError::Broken => "Broken JSON encoding.",
        }
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body())
    }
}

impl std::error::Error for PayloadError {}

/// The `Content-Type` (ignoring parameters and case) for which `jsonp_send` bodies are
/// form-encoded with the payload in field `d`.
const FORM_URLENCODED: &str = "application/x-www-form-urlencoded";

/// Parses an `xhr_send` body (or a `jsonp_send` body that is not form-encoded): a JSON array of
/// strings, whatever the request's `Content-Type` (spec `test_content_types`).
///
/// An empty body is [`PayloadError::Empty`]; anything that is not UTF-8 JSON holding an array of
/// strings is [`PayloadError::Broken`]. An empty array is fine and gives no messages.
pub fn parse_send_body(body: &[u8]) -> Result<Vec<String>, PayloadError> {
    if body.is_empty() {
        return Err(PayloadError::Empty);
    }
    serde_json::from_slice(body).map_err(|_| PayloadError::Broken)
}

/// Parses a `jsonp_send` body.
///
/// When `content_type` is `application/x-www-form-urlencoded` (parameters and case ignored) the
/// payload is the URL-decoded value of form field `d` (`d=%5B%22x%22%5D`); an empty body, a
/// missing `d` or an empty `d` is [`PayloadError::Empty`] (spec: `''`, `'d='`, `'p=p'`).
/// Otherwise the body is raw JSON, as for [`parse_send_body`].
pub fn parse_jsonp_send(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, PayloadError> {
    if !content_type.is_some_and(is_form_urlencoded) {
        return parse_send_body(body);
    }
    let field = body
        .split(|&b| b == b'&')
        .filter_map(|pair| {
            let mut kv = pair.splitn(2, |&b| b == b'=');
            let key = kv.next().unwrap_or_default();
            let value = kv.next().unwrap_or_default();
            (url_decode(key) == b"d").then(|| url_decode(value))
        })
        .next();
    match field {
        Some(d) => parse_send_body(&d),
        None => Err(PayloadError::Empty),
    }
}

/// Parses one WebSocket text message: a JSON array of strings or a single JSON string.
///
/// Empty messages are ignored by the server (spec `test_empty_frame`), so an empty (or
/// whitespace-only) text gives `Ok(vec![])`. Anything else that is not one of the two shapes is
/// [`PayloadError::Broken`]; the adapter then drops the connection (spec `test_broken_json`).
pub fn parse_websocket_message(text: &str) -> Result<Vec<String>, PayloadError> {
    let trimmed = text.trim_matches([' ', '\t', '\n', '\r']);
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|_| PayloadError::Broken)
    } else {
        let single: String = serde_json::from_str(trimmed).map_err(|_| PayloadError::Broken)?;
        Ok(vec![single])
    }
}

/// Whether a `Content-Type` value names form encoding, ignoring parameters, spaces and case.
fn is_form_urlencoded(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_URLENCODED))
}

/// Decodes `application/x-www-form-urlencoded` bytes: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits is kept as is (as browsers and the WHATWG URL spec do).
fn url_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).copied().and_then(hex_value);
                let lo = input.get(i + 2).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The value of one ASCII hex digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn error_bodies_and_status_match_the_spec() {
        assert_eq!(PayloadError::Empty.to_string(), "Payload expected.");
        assert_eq!(PayloadError::Broken.to_string(), "Broken JSON encoding.");
        assert_eq!(PayloadError::Empty.http_status(), 500);
        assert_eq!(PayloadError::Broken.http_status(), 500);
    }

    #[test]
    fn send_body_is_an_array_of_strings() {
        assert_eq!(parse_send_body(br#"["a"]"#), Ok(vec!["a".to_owned()]));
        assert_eq!(
            parse_send_body(br#" ["a","b\u0000\n"] "#),
            Ok(vec!["a".to_owned(), "b\0\n".to_owned()])
        );
        assert_eq!(parse_send_body(b"[]"), Ok(vec![]));
    }

    #[test]
    fn empty_send_body_is_payload_expected() {
        assert_eq!(parse_send_body(b""), Err(PayloadError::Empty));
    }

    #[test]
    fn broken_send_bodies_are_broken_json() {
        for body in [
            &br#"["x"#[..],
            b" ",
            b"\"a\"",
            b"[1]",
            b"[\"a\",null]",
            b"{}",
            b"[\"a\"]x",
            b"[\"\xff\"]",
        ] {
            assert_eq!(parse_send_body(body), Err(PayloadError::Broken), "{body:?}");
        }
    }

    #[test]
    fn client_escaped_characters_are_decoded() {
        let parsed = parse_send_body(br#"["\u2028\ufeff\u0301\"\\"]"#).expect("valid");
        assert_eq!(parsed, vec!["\u{2028}\u{feff}\u{301}\"\\".to_owned()]);
    }

    #[test]
    fn jsonp_send_form_field_d_is_url_decoded() {
        assert_eq!(
            parse_jsonp_send(FORM, b"d=%5B%22x%22%5D"),
            Ok(vec!["x".to_owned()])
        );
        assert_eq!(
            parse_jsonp_send(FORM, b"p=p&d=%5B%22a+b%2Bc%22%5D"),
            Ok(vec!["a b+c".to_owned()])
        );
        assert_eq!(
            parse_jsonp_send(
                Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
                b"d=[]"
            ),
            Ok(vec![])
        );
    }

    #[test]
    fn jsonp_send_form_without_payload_is_payload_expected() {
        for body in [&b""[..], b"d=", b"p=p", b"d"] {
            assert_eq!(
                parse_jsonp_send(FORM, body),
                Err(PayloadError::Empty),
                "{body:?}"
            );
        }
    }

    #[test]
    fn jsonp_send_form_with_broken_json_is_broken() {
        assert_eq!(
            parse_jsonp_send(FORM, b"d=%5B%22x"),
            Err(PayloadError::Broken)
        );
        assert_eq!(parse_jsonp_send(FORM, b"d=%ZZ"), Err(PayloadError::Broken));
        assert_eq!(
            parse_jsonp_send(FORM, b"d=%5B%22%FF%22%5D"),
            Err(PayloadError::Broken)
        );
    }

    #[test]
    fn jsonp_send_other_content_types_are_raw_json() {
        // test_content_types: '["%61bc"]' as text/plain stays "%61bc".
        assert_eq!(
            parse_jsonp_send(Some("text/plain"), br#"["%61bc"]"#),
            Ok(vec!["%61bc".to_owned()])
        );
        assert_eq!(
            parse_jsonp_send(None, br#"["x"]"#),
            Ok(vec!["x".to_owned()])
        );
        assert_eq!(parse_jsonp_send(None, b""), Err(PayloadError::Empty));
        assert_eq!(
            parse_jsonp_send(None, b"d=%5B%5D"),
            Err(PayloadError::Broken)
        );
    }

    #[test]
    fn url_decode_keeps_malformed_escapes() {
        assert_eq!(url_decode(b"%4"), b"%4");
        assert_eq!(url_decode(b"%%41"), b"%A");
        assert_eq!(url_decode(b"a%2fb+"), b"a/b ");
    }

    #[test]
    fn websocket_message_is_array_or_single_string() {
        assert_eq!(
            parse_websocket_message(r#"["a","b"]"#),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(parse_websocket_message(r#""a""#), Ok(vec!["a".into()]));
        assert_eq!(parse_websocket_message("[]"), Ok(vec![]));
    }

    #[test]
    fn empty_websocket_message_is_ignored() {
        assert_eq!(parse_websocket_message(""), Ok(vec![]));
        assert_eq!(parse_websocket_message(" \r\n"), Ok(vec![]));
    }

    #[test]
    fn broken_websocket_message_is_broken() {
        for text in [r#"["a"#, "a", "1", "{}", "[1]", "null", r#""a" x"#] {
            assert_eq!(
                parse_websocket_message(text),
                Err(PayloadError::Broken),
                "{text:?}"
            );
        }
    }
}
