//! SockJS frames the server sends (`o`, `h`, `a[…]`, `c[…]`) and the JSON string escaping they use.
//!
//! Owns the exact bytes of every frame; must not know about transports (how a frame is wrapped
//! for xhr, eventsource, … lives in `transport.rs`) or sessions. Implements the "Protocol and
//! framing" and "JSON Unicode Encoding" sections of `sockjs-protocol-0.3.3.py`.

/// The open frame, sent once, as the first frame of every new session.
pub const OPEN: &str = "o";

/// The heartbeat frame, sent after a period of silence so proxies keep the connection.
pub const HEARTBEAT: &str = "h";

/// An `a` frame carrying `messages` in order: `a["one","two"]`.
///
/// Each message is escaped with [`escape_json_string`]. An empty slice gives `a[]`, which the
/// session never sends but clients accept.
pub fn message_frame<S: AsRef<str>>(messages: &[S]) -> String {
    let payload: usize = messages.iter().map(|m| m.as_ref().len() + 3).sum();
    let mut out = String::with_capacity(payload + 3);
    out.push_str("a[");
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        escape_json_string(message.as_ref(), &mut out);
    }
    out.push(']');
    out
}

/// A `c` frame: `c[3000,"Go away!"]`.
pub fn close_frame(code: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 12);
    out.push_str("c[");
    out.push_str(&code.to_string());
    out.push(',');
    escape_json_string(reason, &mut out);
    out.push(']');
    out
}

/// Appends `s` to `out` as a JSON string literal, quotes included, escaped the SockJS way.
///
/// Like the browser's `JSON.stringify`: `"` → `\"`, `\` → `\\`, and `\b \t \n \f \r` use
/// their short forms (the spec's EventSource test expects `\n` and `\r`). Every other
/// character a browser or proxy may mangle is written as `\uXXXX` in lowercase hex
/// (the spec builds its expected strings with `r'\u%04x'`): the spec's `escapable_by_server`
/// set `[\x00-\x1f\u200c-\u200f\u2028-\u202f\u2060-\u206f\ufff0-\uffff]`, widened to the
/// json2.js set that sockjs-client uses (`\u007f-\u009f`, `\u00ad`, `\u0600-\u0604`, `\u070f`,
/// `\u17b4`, `\u17b5`, `\ufeff`). Ordinary non-ASCII text such as `é` or `中` is written as
/// is (UTF-8). Characters above U+FFFF are never escaped: none is in the sets.
pub fn escape_json_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if must_escape(c) => push_unicode_escape(c, out),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Whether `c` is written as `\uXXXX` (see [`escape_json_string`] for where the set comes from).
fn must_escape(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{ad}'
            | '\u{600}'..='\u{604}'
            | '\u{70f}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{200c}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff0}'..='\u{ffff}'
    )
}

/// Writes `\u` and four lowercase hex digits; `c` is in the BMP (every escaped range is).
fn push_unicode_escape(c: char, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = u32::from(c);
    out.push_str("\\u");
    for shift in [12u32, 8, 4, 0] {
        let nibble = (v >> shift) & 0xf;
        // `nibble` is at most 15, so the index is in bounds.
        out.push(char::from(HEX[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        escape_json_string(s, &mut out);
        out
    }

    #[test]
    fn open_and_heartbeat_are_single_letters() {
        assert_eq!(OPEN, "o");
        assert_eq!(HEARTBEAT, "h");
    }

    #[test]
    fn message_frame_batches_messages_in_order() {
        assert_eq!(message_frame(&["a"]), r#"a["a"]"#);
        assert_eq!(message_frame(&["a", "b c"]), r#"a["a","b c"]"#);
        assert_eq!(message_frame(&[String::from("x")]), r#"a["x"]"#);
        assert_eq!(message_frame::<&str>(&[]), "a[]");
    }

    #[test]
    fn message_frame_escapes_quotes_and_backslashes() {
        assert_eq!(
            message_frame(&[r#"say "hi" \o/"#]),
            r#"a["say \"hi\" \\o/"]"#
        );
    }

    #[test]
    fn close_frame_matches_the_spec() {
        assert_eq!(close_frame(3000, "Go away!"), r#"c[3000,"Go away!"]"#);
        assert_eq!(
            close_frame(2010, "Another connection still open"),
            r#"c[2010,"Another connection still open"]"#
        );
        assert_eq!(
            close_frame(1002, "Connection interrupted"),
            r#"c[1002,"Connection interrupted"]"#
        );
        assert_eq!(close_frame(4000, "a\"b"), r#"c[4000,"a\"b"]"#);
    }

    #[test]
    fn eventsource_test_string_escapes_like_the_spec() {
        // test_transport of EventSource: ["  \u0000\n\r "] comes back as "  \u0000\n\r ".
        assert_eq!(esc("  \u{0}\n\r "), r#""  \u0000\n\r ""#);
    }

    #[test]
    fn short_escapes_for_common_controls() {
        assert_eq!(esc("\u{8}\t\n\u{c}\r"), r#""\b\t\n\f\r""#);
        assert_eq!(esc("\u{1}\u{1f}\u{b}"), r#""\u0001\u001f\u000b""#);
    }

    #[test]
    fn every_listed_range_is_escaped_in_lowercase_hex() {
        let ranges: &[(u32, u32)] = &[
            (0x00, 0x07),
            (0x0e, 0x1f),
            (0x7f, 0x9f),
            (0xad, 0xad),
            (0x600, 0x604),
            (0x70f, 0x70f),
            (0x17b4, 0x17b5),
            (0x200c, 0x200f),
            (0x2028, 0x202f),
            (0x2060, 0x206f),
            (0xfeff, 0xfeff),
            (0xfff0, 0xffff),
        ];
        for &(lo, hi) in ranges {
            for v in lo..=hi {
                let c = char::from_u32(v).expect("ranges hold no surrogates");
                assert_eq!(esc(&c.to_string()), format!("\"\\u{v:04x}\""), "U+{v:04X}");
            }
        }
    }

    #[test]
    fn spec_server_killer_string_is_escaped_exactly() {
        // JSONEncoding.test_xhr_server_encodes: every char from 255 up in escapable_by_server.
        let in_server_set = |v: u32| matches!(v, 0x200c..=0x200f | 0x2028..=0x202f | 0x2060..=0x206f | 0xfff0..=0xffff);
        let mut raw = String::new();
        let mut expected = String::from("\"");
        for v in (255..0x10000).filter(|&v| in_server_set(v)) {
            raw.push(char::from_u32(v).expect("not a surrogate"));
            expected.push_str(&format!("\\u{v:04x}"));
        }
        expected.push('"');
        assert_eq!(esc(&raw), expected);
    }

    #[test]
    fn neighbours_of_the_ranges_and_ordinary_text_are_not_escaped() {
        for s in [
            "é",
            "中",
            "ü",
            "\u{ff}",
            "\u{7e}",
            "\u{a0}",
            "\u{ac}",
            "\u{ae}",
            "\u{5ff}",
            "\u{605}",
            "\u{17b3}",
            "\u{17b6}",
            "\u{200b}",
            "\u{2010}",
            "\u{2027}",
            "\u{2030}",
            "\u{205f}",
            "\u{2070}",
            "\u{fefe}",
            "\u{ff00}",
            "\u{ffef}",
            "\u{10000}",
            "😀",
            "/",
            "'",
            "<",
        ] {
            assert_eq!(esc(s), format!("\"{s}\""), "{s:?}");
        }
    }

    #[test]
    fn escaped_output_is_valid_json_that_round_trips() {
        let original = "x\u{0}\u{2028}\u{ffff}\"\\é中\u{feff}\n";
        let parsed: String = serde_json::from_str(&esc(original)).expect("valid JSON");
        assert_eq!(parsed, original);
    }
}
