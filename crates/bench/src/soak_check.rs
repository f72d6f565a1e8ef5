//! The soak test's accounting: the server's `session closed` log lines against the sessions
//! the driver opened — exactly one line per session, with the code and closer its ending
//! implies, no 1006 that the driver did not cause, no line for a session it never opened.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::soak_plan::{End, Ending, Outcome};

/// Examples kept per kind of discrepancy.
const EXAMPLES: usize = 5;

/// One `session closed: …` line of `stompbox serve`'s log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseLine {
    pub(crate) id: String,
    pub(crate) transport: String,
    pub(crate) code: u16,
    pub(crate) closed_by: String,
}

/// Parses a log line; `None` unless it is a `session closed` line.
pub(crate) fn parse_line(line: &str) -> Option<CloseLine> {
    const MARK: &str = "session closed: ";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let (head, tail) = rest.split_once(" reason=")?;
    let head = format!(" {head}");
    let field = |s: &str, key: &str| -> Option<String> {
        let at = s.find(key)? + key.len();
        s[at..].split(' ').next().map(str::to_string)
    };
    // The reason is a Rust string literal (`{:?}`): skip to its closing quote.
    let mut chars = tail.char_indices().skip(1);
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => {
                end = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let after = tail.get(end?..)?;
    Some(CloseLine {
        id: field(&head, " sessionId=")?,
        transport: field(&head, " transport=")?,
        code: field(&head, " code=")?.parse().ok()?,
        closed_by: field(after, " closedBy=")?,
    })
}

/// What the server must have logged for a session, as far as the driver knows.
fn expected(o: &Outcome) -> Option<(u16, &'static str)> {
    match o.end {
        End::Planned => Some(o.ending.expected()),
        End::Server(Some(code)) => Some((code, "server")),
        // The driver dropped the socket.
        End::Aborted | End::Running => Some((1006, "none(abnormal)")),
        End::Server(None) | End::SetupFailed => None,
    }
}

/// Did the driver cause a 1006 for this session?
fn caused_1006(o: &Outcome) -> bool {
    match o.end {
        End::Planned => matches!(o.ending, Ending::Drop | Ending::Reset),
        End::Aborted | End::Running | End::SetupFailed => true,
        End::Server(_) => false,
    }
}

/// The verdict of the close lines.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Accounting {
    /// `session closed` lines written during the run.
    pub(crate) close_lines: u64,
    /// Sessions the driver knows the server's id of.
    pub(crate) sessions_with_id: u64,
    /// … with exactly one line, with the expected code, closer and transport.
    pub(crate) accounted: u64,
    /// … with no line.
    pub(crate) missing: u64,
    /// … with more than one.
    pub(crate) duplicate: u64,
    /// … whose line has another code, closer or transport than expected.
    pub(crate) mismatched: u64,
    /// Lines whose id no session of the driver had.
    pub(crate) unknown: u64,
    /// Sessions whose id the driver never learned (set-up failed before CONNECTED): what
    /// unknown lines may be.
    pub(crate) unidentified: u64,
    /// 1006 lines of sessions the driver did not drop (neither an abrupt ending nor a client
    /// give-up).
    pub(crate) uncaused_1006: u64,
    /// 1006 lines of sessions the driver dropped on purpose (drop, reset).
    pub(crate) caused_1006: u64,
    /// Lines by `code closedBy`.
    pub(crate) by_code: BTreeMap<String, u64>,
    /// Lines by transport.
    pub(crate) by_transport: BTreeMap<String, u64>,
    /// A few examples of each discrepancy.
    pub(crate) examples: Vec<String>,
}

impl Accounting {
    /// What is wrong, one sentence each; empty when everything is accounted for.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let mut say = |n: u64, what: &str| {
            if n > 0 {
                f.push(format!("{n} {what}"));
            }
        };
        say(self.missing, "sessions have no `session closed` line");
        say(
            self.duplicate,
            "sessions have more than one `session closed` line",
        );
        say(
            self.mismatched,
            "sessions were logged with another code, closer or transport than their ending",
        );
        say(
            self.uncaused_1006,
            "1006 closes of sessions that did not drop abruptly",
        );
        say(
            self.unknown.saturating_sub(self.unidentified),
            "`session closed` lines name sessions the driver never opened",
        );
        f
    }
}

/// Matches the sessions against the lines.
pub(crate) fn account(outcomes: &[Outcome], lines: &[CloseLine]) -> Accounting {
    let mut a = Accounting {
        close_lines: lines.len() as u64,
        ..Accounting::default()
    };
    let mut by_id: HashMap<&str, Vec<&CloseLine>> = HashMap::new();
    for line in lines {
        by_id.entry(&line.id).or_default().push(line);
        *a.by_code
            .entry(format!("{} {}", line.code, line.closed_by))
            .or_default() += 1;
        *a.by_transport.entry(line.transport.clone()).or_default() += 1;
    }
    let mut examples: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut note = |kind: &'static str, text: String| {
        let list = examples.entry(kind).or_default();
        if list.len() < EXAMPLES {
            list.push(format!("{kind}: {text}"));
        }
    };
    let mut known = std::collections::HashSet::new();
    for o in outcomes {
        let Some(id) = o.id.as_deref() else {
            a.unidentified += 1;
            continue;
        };
        known.insert(id);
        a.sessions_with_id += 1;
        let found = by_id.get(id).map_or(&[][..], Vec::as_slice);
        let line = match found {
            [] if o.end == End::SetupFailed => continue,
            [] => {
                a.missing += 1;
                note("missing", format!("{id} ({:?}, {:?})", o.ending, o.end));
                continue;
            }
            [line] => *line,
            [line, ..] => {
                a.duplicate += 1;
                note("duplicate", format!("{id}: {} lines", found.len()));
                *line
            }
        };
        if line.code == 1006 {
            if caused_1006(o) {
                a.caused_1006 += 1;
            } else {
                a.uncaused_1006 += 1;
                note(
                    "uncaused 1006",
                    format!(
                        "{id} ({:?}, {:?}) closedBy={}",
                        o.ending, o.end, line.closed_by
                    ),
                );
            }
        }
        let transport_ok = line.transport == o.framing.log_name();
        match expected(o) {
            Some((code, by)) if (code, by) != (line.code, line.closed_by.as_str()) => {
                a.mismatched += 1;
                note(
                    "mismatch",
                    format!(
                        "{id} ({:?}, {:?}): expected {code} closedBy={by}, logged {} closedBy={}",
                        o.ending, o.end, line.code, line.closed_by
                    ),
                );
            }
            _ if !transport_ok => {
                a.mismatched += 1;
                note(
                    "mismatch",
                    format!(
                        "{id}: transport {} logged as {}",
                        o.framing.log_name(),
                        line.transport
                    ),
                );
            }
            _ if found.len() == 1 => a.accounted += 1,
            _ => {}
        }
    }
    for line in lines {
        if !known.contains(line.id.as_str()) {
            a.unknown += 1;
            note(
                "unknown",
                format!("{} code={} closedBy={}", line.id, line.code, line.closed_by),
            );
        }
    }
    a.examples = examples.into_values().flatten().collect();
    a
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::soak_wire::Framing;

    const LINE: &str = "2026-11-25T18:40:01.123456Z  INFO stompbox::session: session closed: sessionId=3f2a user=- transport=websocket remote=127.0.0.3:40000 duration=2.02s code=1000 reason=\"a \\\" closedBy=server\" closedBy=client serverIdle=0.01s clientIdle=0.02s";

    fn line(id: &str, code: u16, by: &str) -> CloseLine {
        CloseLine {
            id: id.into(),
            transport: "websocket".into(),
            code,
            closed_by: by.into(),
        }
    }

    fn outcome(id: Option<&str>, ending: Ending, end: End) -> Outcome {
        Outcome {
            framing: Framing::Ws,
            ending,
            id: id.map(str::to_string),
            end,
            problem: None,
        }
    }

    #[test]
    fn parses_the_servers_close_line() {
        let l = parse_line(LINE).unwrap();
        assert_eq!(l, line("3f2a", 1000, "client"));
        let abnormal = "session closed: sessionId=x user=- transport=sockjs duration=1.00s code=1006 reason=\"\" closedBy=none(abnormal) serverIdle=1.00s clientIdle=1.00s";
        let l = parse_line(abnormal).unwrap();
        assert_eq!(
            (l.code, l.closed_by.as_str(), l.transport.as_str()),
            (1006, "none(abnormal)", "sockjs")
        );
        assert!(parse_line("INFO stompbox::session: heart-beat timeout: nothing").is_none());
        assert!(
            parse_line("session closed: sessionId=x code=abc reason=\"\" closedBy=client")
                .is_none()
        );
    }

    #[test]
    fn every_session_needs_one_line_with_its_code() {
        let outcomes = [
            outcome(Some("a"), Ending::Disconnect, End::Planned),
            outcome(Some("b"), Ending::Reset, End::Planned),
            outcome(Some("c"), Ending::Silent, End::Planned),
            outcome(Some("d"), Ending::Close, End::Planned),
            outcome(Some("e"), Ending::Close, End::Planned),
            outcome(Some("f"), Ending::Disconnect, End::Planned),
            outcome(None, Ending::Drop, End::SetupFailed),
        ];
        let lines = [
            line("a", 1000, "client"),
            line("b", 1006, "none(abnormal)"),
            line("c", 4408, "server"),
            line("d", 1006, "none(abnormal)"),
            line("e", 1000, "client"),
            line("e", 1000, "client"),
            line("z", 1006, "none(abnormal)"),
        ];
        let a = account(&outcomes, &lines);
        assert_eq!(a.accounted, 3, "{a:?}");
        assert_eq!((a.missing, a.duplicate, a.mismatched), (1, 1, 1), "{a:?}");
        assert_eq!((a.uncaused_1006, a.caused_1006), (1, 1), "{a:?}");
        assert_eq!((a.unknown, a.unidentified), (1, 1), "{a:?}");
        let failures = a.failures();
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(failures.iter().any(|f| f.contains("1006")), "{failures:?}");
        let clean = account(&outcomes[..3], &lines[..3]);
        assert!(clean.failures().is_empty(), "{clean:?}");
    }
}
