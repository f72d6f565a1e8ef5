//! Property tests: messages survive the server's frame encoder and every client-payload decoder
//! (`xhr_send` bodies, `jsonp_send` raw and form-encoded, WebSocket messages), every transport's
//! wrapping as a client unwraps it, and a session's queue (the encode/decode round trip that
//! `fuzz/sockjs_frames` checks on arbitrary input).

use std::time::Instant;

use proptest::prelude::*;
use stompbox_sockjs::{
    Attach, Session, SessionConfig, Transport, close_frame, escape_json_string, message_frame,
    parse_jsonp_send, parse_send_body, parse_websocket_message,
};

/// Characters that escaping and framing must handle, over-represented.
const SPECIAL: &[char] = &[
    '"', '\\', '\0', '\n', '\r', '\t', '\u{1f}', '\u{7f}', '\u{ad}', '\u{2028}', '\u{2029}',
    '\u{200c}', '\u{feff}', '\u{fff0}', '\u{ffff}', 'é', '中', '😀', '<', '&', '%', '+', '=', '[',
    ']', ',',
];

fn message() -> impl Strategy<Value = String> {
    let c = prop_oneof![any::<char>(), prop::sample::select(SPECIAL)];
    prop::collection::vec(c, 0..16).prop_map(|cs| cs.into_iter().collect())
}

fn messages() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(message(), 0..6)
}

/// The JSON of an `a[…]` frame.
fn json_of(frame: &str) -> &str {
    frame.strip_prefix('a').expect("an a frame")
}

proptest! {
    #[test]
    fn messages_survive_encoding_and_every_decoder(messages in messages()) {
        let frame = message_frame(&messages);
        let json = json_of(&frame);
        prop_assert_eq!(parse_send_body(json.as_bytes()), Ok(messages.clone()));
        prop_assert_eq!(parse_jsonp_send(Some("text/plain"), json.as_bytes()), Ok(messages.clone()));
        let form: String = json.bytes().map(|b| format!("%{b:02x}")).collect();
        let form = format!("x=1&d={form}");
        prop_assert_eq!(
            parse_jsonp_send(Some("application/x-www-form-urlencoded"), form.as_bytes()),
            Ok(messages.clone())
        );
        prop_assert_eq!(parse_websocket_message(&format!(" \r\n{json}\t")), Ok(messages.clone()));
        let raw = frame.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
        prop_assert!(!raw, "raw control character or line terminator in {:?}", frame);
    }

    #[test]
    fn a_single_string_is_one_websocket_message(message in message()) {
        let mut quoted = String::new();
        escape_json_string(&message, &mut quoted);
        prop_assert_eq!(parse_websocket_message(&quoted), Ok(vec![message.clone()]));
        prop_assert_eq!(serde_json::from_str::<String>(&quoted).ok(), Some(message));
    }

    #[test]
    fn close_frames_carry_code_and_reason(code in any::<u16>(), reason in message()) {
        let frame = close_frame(code, &reason);
        let json = frame.strip_prefix('c').expect("a c frame");
        let decoded: (u16, String) = serde_json::from_str(json).expect("JSON");
        prop_assert_eq!(decoded, (code, reason));
    }

    #[test]
    fn streams_of_frames_unwrap_as_clients_read_them(batches in prop::collection::vec(messages(), 1..5)) {
        let frames: Vec<String> = batches.iter().map(|b| message_frame(b)).collect();
        let xhr: String = frames.iter().map(|f| Transport::XhrStreaming.wrap(f, "")).collect();
        let lines: Vec<&str> = xhr.split_terminator('\n').collect();
        prop_assert_eq!(&lines, &frames);
        let es: String = frames.iter().map(|f| Transport::EventSource.wrap(f, "")).collect();
        let events: Vec<&str> = es
            .split_terminator("\r\n\r\n")
            .map(|e| e.strip_prefix("data: ").expect("an event"))
            .collect();
        prop_assert_eq!(&events, &frames);
        for frame in &frames {
            let jsonp = Transport::Jsonp.wrap(frame, "cb");
            let inner = jsonp.strip_prefix("cb(").and_then(|j| j.strip_suffix(");\r\n")).expect("jsonp");
            prop_assert_eq!(&serde_json::from_str::<String>(inner).expect("JSON"), frame);
            let html = Transport::HtmlFile.wrap(frame, "cb");
            let inner = html
                .strip_prefix("<script>\np(")
                .and_then(|h| h.strip_suffix(");\n</script>\r\n"))
                .expect("htmlfile");
            prop_assert!(!inner.contains('<'));
            prop_assert_eq!(&serde_json::from_str::<String>(inner).expect("JSON"), frame);
        }
    }

    #[test]
    fn a_session_delivers_pushed_messages_in_order(batches in prop::collection::vec(messages(), 1..5)) {
        let now = Instant::now();
        let mut session = Session::new(SessionConfig::default(), now);
        let Attach::Accepted(rx) = session.attach(now) else { panic!("first attach") };
        let open = session.poll_frame(rx, now);
        prop_assert_eq!(open.as_deref(), Some("o"));
        let mut delivered = Vec::new();
        for batch in &batches {
            for m in batch {
                session.push_message(m.clone());
            }
            while let Some(frame) = session.poll_frame(rx, now) {
                delivered.extend(parse_send_body(json_of(&frame).as_bytes()).expect("an a frame"));
            }
        }
        prop_assert_eq!(delivered, batches.concat());
    }
}
