//! The registry of WebSocket close codes, explained.
//!
//! Owns one table ([`REGISTRY`]) of every close code and range that RFC 6455 §7.4.1/§7.4.2 and
//! the IANA "WebSocket Close Code Number Registry" define, plus the codes people meet from SockJS
//! and Spring, plus stompbox's own. Each [`Entry`] says who sends the code, whether it may appear
//! in a Close frame on the wire, and — in English and Simplified Chinese — what it means, what
//! usually causes it in practice, and what to do about it.
//!
//! Must not do: I/O, logging, or depend on any other crate. Everything here is `const` data and
//! pure functions, so every layer (codec, broker, adapters, CLI) can use it.
//!
//! ```
//! use stompbox_closecode::{codes, explain, is_valid_on_wire, lookup, Lang};
//!
//! let entry = lookup(codes::ABNORMAL).expect("every code has an entry");
//! assert_eq!(entry.constant, "CLOSE_ABNORMAL");
//! assert!(!is_valid_on_wire(codes::ABNORMAL)); // 1006 is set locally, never sent
//! assert!(explain(1006, Lang::En).contains("proxy_read_timeout"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod model;
mod parse;
mod render;
mod table;

pub use model::{Category, Entry, Lang, Sender, Source, Text};
pub use parse::{ParseCodeError, ParseLangError, parse_code};
pub use render::{explain, table};
pub use table::REGISTRY;

/// The entry for `code`: its exact entry if it has one, else the range containing it.
///
/// Every `u16` is covered (codes from 5000 up by the "Invalid" range), so this returns `None`
/// only if the table were broken; the tests check that it never does.
pub fn lookup(code: u16) -> Option<&'static Entry> {
    REGISTRY
        .iter()
        .find(|e| !e.is_range() && e.lo == code)
        .or_else(|| REGISTRY.iter().find(|e| e.is_range() && e.contains(code)))
}

/// The RFC 6455 §7.4.2 range `code` falls in.
pub fn category(code: u16) -> Category {
    match code {
        0..=999 => Category::Unused,
        1000..=1015 => Category::Standard,
        1016..=1999 => Category::ReservedStandard,
        2000..=2999 => Category::Extension,
        3000..=3999 => Category::Library,
        4000..=4999 => Category::Application,
        5000..=u16::MAX => Category::Invalid,
    }
}

/// Whether an endpoint may send `code` in a Close frame (RFC 6455 §7.4).
///
/// True for 1000–1003, 1007–1014 and 3000–4999. False for 1004 (reserved), 1005, 1006 and 1015
/// (set locally, never sent), the unassigned 1016–2999, and everything below 1000 or from 5000.
/// 1012–1014 are later IANA assignments and are valid, although some libraries still reject
/// 1014 (see its entry's notes).
pub fn is_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Named constants for the codes other crates use.
pub mod codes {
    /// 1000 Normal Closure.
    pub const NORMAL: u16 = 1000;
    /// 1001 Going Away.
    pub const GOING_AWAY: u16 = 1001;
    /// 1002 Protocol Error (SockJS: "Connection interrupted").
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003 Unsupported Data.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1005 No Status Received; set locally, never sent.
    pub const NO_STATUS: u16 = 1005;
    /// 1006 Abnormal Closure; set locally, never sent.
    pub const ABNORMAL: u16 = 1006;
    /// 1007 Invalid Frame Payload Data.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008 Policy Violation.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// 1009 Message Too Big.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// 1010 Mandatory Extension.
    pub const MANDATORY_EXTENSION: u16 = 1010;
    /// 1011 Internal Error.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// 1012 Service Restart.
    pub const SERVICE_RESTART: u16 = 1012;
    /// 1013 Try Again Later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// 1014 Bad Gateway.
    pub const BAD_GATEWAY: u16 = 1014;
    /// 1015 TLS Handshake failure; set locally, never sent.
    pub const TLS_HANDSHAKE: u16 = 1015;
    /// 3000 SockJS "Go away!" (IANA: Unauthorized).
    pub const SOCKJS_GO_AWAY: u16 = 3000;
    /// 2010 SockJS "Another connection still open"; only inside a SockJS `c` frame.
    pub const SOCKJS_ANOTHER_CONNECTION: u16 = 2010;
    /// 4408 stompbox: the peer sent nothing for longer than the STOMP heart-beat allows.
    pub const HEARTBEAT_TIMEOUT: u16 = 4408;
    /// 4500 Spring `SESSION_NOT_RELIABLE`; stompbox uses it for slow consumers too.
    pub const SESSION_NOT_RELIABLE: u16 = 4500;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_lookup_whose_entry_contains_it_and_shares_its_category() {
        for code in 0..=u16::MAX {
            let entry = lookup(code).unwrap_or_else(|| panic!("{code} has no entry"));
            assert!(entry.contains(code), "{code} -> {}", entry.constant);
            assert_eq!(
                category(code),
                category(entry.lo),
                "{code} -> {}",
                entry.constant
            );
            assert_eq!(
                category(entry.lo),
                category(entry.hi),
                "{} straddles",
                entry.constant
            );
        }
    }

    #[test]
    fn exact_entries_win_over_the_range_containing_them() {
        for (code, constant) in [
            (3000, "SOCKJS_GO_AWAY"),
            (3003, "CLOSE_FORBIDDEN"),
            (2010, "SOCKJS_ANOTHER_CONNECTION"),
            (2000, "SOCKJS_ALL_TRANSPORTS_FAILED"),
            (4408, "STOMPBOX_HEARTBEAT_TIMEOUT"),
            (4500, "SESSION_NOT_RELIABLE"),
        ] {
            let entry = lookup(code).expect("covered");
            assert!(!entry.is_range());
            assert_eq!(entry.constant, constant);
        }
        assert_eq!(lookup(3001).map(|e| (e.lo, e.hi)), Some((3000, 3999)));
        assert_eq!(lookup(4409).map(|e| (e.lo, e.hi)), Some((4000, 4999)));
        assert_eq!(lookup(2001).map(|e| (e.lo, e.hi)), Some((2000, 2999)));
        assert_eq!(lookup(65535).map(|e| (e.lo, e.hi)), Some((5000, 65535)));
        assert_eq!(lookup(0).map(|e| (e.lo, e.hi)), Some((0, 999)));
    }

    #[test]
    fn no_two_exact_entries_share_a_code_and_ranges_never_overlap() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in &REGISTRY[i + 1..] {
                if a.is_range() == b.is_range() {
                    let overlap = a.lo <= b.hi && b.lo <= a.hi;
                    assert!(!overlap, "{} overlaps {}", a.constant, b.constant);
                }
            }
        }
    }

    #[test]
    fn registry_is_sorted_by_code_with_each_range_before_the_codes_inside_it() {
        for pair in REGISTRY.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.lo <= a.hi, "{} is backwards", a.constant);
            let key = |e: &Entry| (e.lo, std::cmp::Reverse(e.hi));
            assert!(
                key(a) < key(b),
                "{} must come after {}",
                a.constant,
                b.constant
            );
        }
    }

    #[test]
    fn every_entry_has_text_in_both_languages() {
        for e in REGISTRY {
            assert!(!e.name.is_empty() && !e.constant.is_empty() && !e.sources.is_empty());
            let valid_constant = e
                .constant
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_');
            assert!(valid_constant, "{}", e.constant);
            for lang in Lang::ALL {
                let t = e.text(lang);
                assert!(
                    !t.meaning.trim().is_empty(),
                    "{} {lang} meaning",
                    e.constant
                );
                assert!(!t.causes.is_empty(), "{} {lang} causes", e.constant);
                assert!(!t.fixes.is_empty(), "{} {lang} fixes", e.constant);
                let items = t.causes.iter().chain(t.fixes);
                assert!(
                    items.clone().all(|s| !s.trim().is_empty()),
                    "{} {lang}",
                    e.constant
                );
            }
            // Chinese text really is Chinese.
            assert!(
                e.zh.meaning.chars().any(is_cjk),
                "{} zh meaning",
                e.constant
            );
            assert!(
                e.notes_en.is_empty() == e.notes_zh.is_empty(),
                "{} notes",
                e.constant
            );
        }
    }

    #[test]
    fn text_has_no_stray_spaces_from_line_continuations() {
        for e in REGISTRY {
            for lang in Lang::ALL {
                let t = e.text(lang);
                let all = [t.meaning, e.notes(lang)]
                    .into_iter()
                    .chain(t.causes.iter().copied());
                for s in all.chain(t.fixes.iter().copied()) {
                    assert!(
                        !s.contains("  "),
                        "{} {lang}: double space in {s:?}",
                        e.constant
                    );
                    assert_eq!(s, s.trim(), "{} {lang}: padded {s:?}", e.constant);
                    for p in [
                        " （", " ，", " 。", " ；", " ：", " 、", "（ ", "， ", "。 ",
                    ] {
                        assert!(!s.contains(p), "{} {lang}: {p:?} in {s:?}", e.constant);
                    }
                }
            }
        }
    }

    #[test]
    fn constants_are_unique() {
        for (i, a) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[i + 1..].iter().all(|b| b.constant != a.constant),
                "{}",
                a.constant
            );
        }
    }

    #[test]
    fn locally_set_codes_are_never_valid_on_the_wire() {
        for code in [1005, 1006, 1015] {
            assert!(!is_valid_on_wire(code), "{code}");
            let entry = lookup(code).expect("covered");
            assert_eq!(entry.sender, Sender::Never);
            assert!(!entry.on_wire);
        }
    }

    #[test]
    fn wire_validity_matches_rfc_6455_and_iana() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
        ] {
            assert!(is_valid_on_wire(code), "{code} should be valid");
        }
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1999, 2000, 2010, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_on_wire(code), "{code} should be invalid");
        }
    }

    #[test]
    fn entry_on_wire_agrees_with_is_valid_on_wire_for_every_covered_code() {
        for e in REGISTRY {
            for code in e.lo..=e.hi {
                assert_eq!(
                    e.on_wire,
                    is_valid_on_wire(code),
                    "{code} in {}",
                    e.constant
                );
            }
            if e.sender == Sender::Never {
                assert!(
                    !e.on_wire,
                    "{} is never sent but valid on the wire",
                    e.constant
                );
            }
        }
    }

    #[test]
    fn named_constants_have_exact_entries() {
        use codes::*;
        let all = [
            NORMAL,
            GOING_AWAY,
            PROTOCOL_ERROR,
            UNSUPPORTED_DATA,
            NO_STATUS,
            ABNORMAL,
            INVALID_PAYLOAD,
            POLICY_VIOLATION,
            MESSAGE_TOO_BIG,
            MANDATORY_EXTENSION,
            INTERNAL_ERROR,
            SERVICE_RESTART,
            TRY_AGAIN_LATER,
            BAD_GATEWAY,
            TLS_HANDSHAKE,
            SOCKJS_GO_AWAY,
            SOCKJS_ANOTHER_CONNECTION,
            HEARTBEAT_TIMEOUT,
            SESSION_NOT_RELIABLE,
        ];
        for code in all {
            let entry = lookup(code).expect("covered");
            assert!(!entry.is_range() && entry.lo == code, "{code}");
        }
        assert_eq!(lookup(ABNORMAL).map(|e| e.constant), Some("CLOSE_ABNORMAL"));
    }

    #[test]
    fn every_standard_code_has_an_exact_entry() {
        for code in 1000..=1015 {
            assert!(lookup(code).is_some_and(|e| !e.is_range()), "{code}");
        }
    }

    #[test]
    fn categories_have_the_rfc_bounds() {
        let cases = [
            (0, Category::Unused),
            (999, Category::Unused),
            (1000, Category::Standard),
            (1015, Category::Standard),
            (1016, Category::ReservedStandard),
            (2000, Category::Extension),
            (3999, Category::Library),
            (4000, Category::Application),
            (4999, Category::Application),
            (5000, Category::Invalid),
            (u16::MAX, Category::Invalid),
        ];
        for (code, cat) in cases {
            assert_eq!(category(code), cat, "{code}");
            let (lo, hi) = cat.bounds();
            assert!((lo..=hi).contains(&code));
        }
    }

    #[test]
    fn framework_codes_describe_both_meanings_in_one_entry() {
        let go_away = lookup(3000).expect("covered");
        assert!(go_away.sources.contains(&Source::Iana));
        assert!(go_away.sources.contains(&Source::SockJs));
        assert!(go_away.en.meaning.contains("Unauthorized"));
        assert!(go_away.en.meaning.contains("Go away!"));
        let protocol = lookup(1002).expect("covered");
        assert!(protocol.sources.contains(&Source::SockJs));
        assert!(protocol.en.meaning.contains("Connection interrupted"));
        let bad_gateway = lookup(1014).expect("covered");
        assert!(bad_gateway.notes_en.contains("reserved"));
    }

    fn is_cjk(c: char) -> bool {
        ('\u{4e00}'..='\u{9fff}').contains(&c)
    }
}
