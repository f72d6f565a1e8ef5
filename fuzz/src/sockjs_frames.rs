//! `sockjs_frames`: the SockJS payload decoders on what clients send (`xhr_send` and
//! `jsonp_send` bodies, form-encoded or raw, and WebSocket text messages), with serde_json's
//! reading of "a JSON array of strings" as the oracle; and the frame encoders (`a[…]`, `c[…]`,
//! every transport's wrapping, `/info`, the iframe page) on strings made from the input, each
//! decoded back to what went in.

use stompbox_sockjs::{
    HEARTBEAT, OPEN, PayloadError, Transport, close_frame, escape_json_string, iframe_html,
    info_json, message_frame, parse_jsonp_send, parse_send_body, parse_websocket_message,
};

const FORM: &str = "application/x-www-form-urlencoded";

/// Checks one fuzz input; panics on a finding.
pub fn sockjs_frames(data: &[u8]) {
    decoders(data);
    encoders(data);
}

/// Everything a client can make the server parse, on `data`.
fn decoders(data: &[u8]) {
    let send = parse_send_body(data);
    let oracle = serde_json::from_slice::<Vec<String>>(data).map_err(|_| PayloadError::Broken);
    if data.is_empty() {
        assert_eq!(send, Err(PayloadError::Empty));
    } else {
        assert_eq!(send, oracle, "xhr_send body");
    }
    round_trip(&send);
    // jsonp_send bodies that are not form-encoded are read as xhr_send bodies.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/json; charset=x"),
    ] {
        assert_eq!(
            parse_jsonp_send(content_type, data),
            send,
            "{content_type:?}"
        );
    }
    // Form-encoded: `data` itself as a form, and `data` carried in field `d`.
    for content_type in [FORM, "Application/X-WWW-Form-Urlencoded; charset=UTF-8"] {
        round_trip(&parse_jsonp_send(Some(content_type), data));
        let form = format!("p=p&d={}&d=ignored", form_encode(data));
        assert_eq!(
            parse_jsonp_send(Some(content_type), form.as_bytes()),
            send,
            "{form:?}"
        );
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let message = parse_websocket_message(text);
        round_trip(&message);
        let trimmed = text.trim_matches([' ', '\t', '\n', '\r']);
        if trimmed.is_empty() {
            assert_eq!(message, Ok(Vec::new()));
        } else if trimmed.starts_with('[') {
            assert_eq!(message, parse_send_body(trimmed.as_bytes()));
        } else if let Ok(messages) = &message {
            assert_eq!(messages.len(), 1, "a single string is one message");
        }
    }
}

/// The encoders on strings made from `data`.
fn encoders(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let messages: Vec<String> = text.split('\u{1e}').map(str::to_owned).collect();
    round_trip(&Ok(messages.clone()));
    round_trip(&Ok(Vec::new()));

    let code = match data {
        [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
        _ => 3000,
    };
    let close = close_frame(code, &text);
    let json = close
        .strip_prefix('c')
        .expect("a close frame starts with c");
    let decoded: (u16, String) = serde_json::from_str(json).expect("close frame JSON");
    assert_eq!(decoded, (code, text.to_string()));
    assert_no_raw_controls(&close);

    let callback = "cb_1.x-y";
    let batch = message_frame(&messages);
    for frame in [OPEN, HEARTBEAT, batch.as_str(), close.as_str()] {
        for transport in Transport::ALL {
            check_wrap(transport, frame, callback);
        }
    }

    let origins: Vec<&str> = messages.iter().map(String::as_str).collect();
    let info: serde_json::Value =
        serde_json::from_str(&info_json(true, false, &origins, u32::from(code)))
            .expect("/info JSON");
    assert_eq!(info["origins"], serde_json::json!(origins));
    assert_eq!(info["entropy"], serde_json::json!(code));

    let page = iframe_html(&text);
    let src = page
        .split_once("src=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(src, _)| src)
        .expect("the iframe page has a src attribute");
    let unescaped = src
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    assert_eq!(unescaped, text, "iframe src attribute");
    assert!(!src.contains(['<', '>']));
}

/// Decoded messages → `a[…]` → decoded again gives the same messages, by every decoder.
fn round_trip(parsed: &Result<Vec<String>, PayloadError>) {
    let Ok(messages) = parsed else { return };
    let frame = message_frame(messages);
    assert_no_raw_controls(&frame);
    let json = frame
        .strip_prefix('a')
        .expect("a message frame starts with a");
    assert_eq!(parse_send_body(json.as_bytes()).as_ref(), Ok(messages));
    assert_eq!(parse_websocket_message(json).as_ref(), Ok(messages));
    let form = format!("d={}", form_encode(json.as_bytes()));
    assert_eq!(
        parse_jsonp_send(Some(FORM), form.as_bytes()).as_ref(),
        Ok(messages)
    );
    if let [one] = messages.as_slice() {
        let mut quoted = String::new();
        escape_json_string(one, &mut quoted);
        assert_eq!(parse_websocket_message(&quoted), Ok(vec![one.clone()]));
    }
}

/// No frame the server sends holds a raw control character or a JavaScript line terminator
/// (they would break `xhr` lines, EventSource events and JSONP scripts).
fn assert_no_raw_controls(frame: &str) {
    let bad = frame
        .chars()
        .find(|&c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'));
    assert_eq!(bad, None, "raw character in {frame:?}");
}

/// The transport's bytes carry `frame` and cannot be broken out of.
fn check_wrap(transport: Transport, frame: &str, callback: &str) {
    let wrapped = transport.wrap(frame, callback);
    let inner = match transport {
        Transport::Xhr | Transport::XhrStreaming => {
            assert_eq!(wrapped, format!("{frame}\n"));
            assert!(!frame.contains('\n'));
            return;
        }
        Transport::EventSource => {
            assert_eq!(wrapped, format!("data: {frame}\r\n\r\n"));
            assert!(!frame.contains(['\r', '\n']));
            return;
        }
        Transport::WebSocket | Transport::XhrSend | Transport::JsonpSend => {
            assert_eq!(wrapped, frame);
            return;
        }
        Transport::HtmlFile => {
            let inner = wrapped
                .strip_prefix("<script>\np(")
                .and_then(|w| w.strip_suffix(");\n</script>\r\n"))
                .expect("htmlfile wrapping");
            assert!(!inner.contains('<'), "{inner:?} may end the script");
            inner
        }
        Transport::Jsonp => wrapped
            .strip_prefix(&format!("{callback}("))
            .and_then(|w| w.strip_suffix(");\r\n"))
            .expect("jsonp wrapping"),
    };
    assert_no_raw_controls(inner);
    let decoded: String = serde_json::from_str(inner).expect("a JSON string");
    assert_eq!(decoded, frame, "{transport}");
}

/// `application/x-www-form-urlencoded` as browsers write it: unreserved bytes as they are,
/// spaces as `+`, the rest as `%XX`.
fn form_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 3);
    for &b in data {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
