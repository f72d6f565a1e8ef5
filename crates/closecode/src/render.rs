//! Human-readable rendering of the registry: [`explain`] for one code, [`table`] for all.
//!
//! Owns layout only (headings, bullets, column alignment that counts CJK characters as two
//! columns). The words come from [`crate::REGISTRY`]; nothing here knows about any specific code.

use std::fmt::Write as _;

use crate::{Entry, Lang, REGISTRY, category, lookup};

/// Headings and fixed phrases, per language.
struct Words {
    colon: &'static str,
    list_sep: &'static str,
    category: &'static str,
    sent_by: &'static str,
    on_wire: &'static str,
    wire_yes: &'static str,
    wire_no: &'static str,
    sources: &'static str,
    meaning: &'static str,
    causes: &'static str,
    fixes: &'static str,
    notes: &'static str,
    range: &'static str,
    no_entry: &'static str,
    col_code: &'static str,
    col_name: &'static str,
    col_sender: &'static str,
    col_wire: &'static str,
    col_meaning: &'static str,
    yes: &'static str,
    no: &'static str,
}

const EN: Words = Words {
    colon: ":",
    list_sep: ", ",
    category: "Category",
    sent_by: "Sent by",
    on_wire: "On the wire",
    wire_yes: "yes — may be sent in a Close frame",
    wire_no: "no — must not appear in a Close frame",
    sources: "Defined by",
    meaning: "Meaning",
    causes: "Common causes",
    fixes: "What to do",
    notes: "Notes",
    range: ", range ",
    no_entry: "has no entry of its own; this is the range it belongs to.",
    col_code: "CODE",
    col_name: "NAME",
    col_sender: "SENT BY",
    col_wire: "WIRE",
    col_meaning: "MEANING",
    yes: "yes",
    no: "no",
};

const ZH: Words = Words {
    colon: "：",
    list_sep: "、",
    category: "类别",
    sent_by: "发送方",
    on_wire: "可否写入 Close 帧",
    wire_yes: "可以——允许写入 Close 帧",
    wire_no: "不可以——不得出现在 Close 帧中",
    sources: "定义来源",
    meaning: "含义",
    causes: "常见原因",
    fixes: "处理办法",
    notes: "备注",
    range: "，区间 ",
    no_entry: "没有单独的条目，以下是它所属区间的说明。",
    col_code: "状态码",
    col_name: "名称",
    col_sender: "发送方",
    col_wire: "可发送",
    col_meaning: "含义",
    yes: "是",
    no: "否",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// Explains `code` as multi-line text with headings in `lang`.
///
/// The first line is `"<code> <name> (<CONSTANT>)"`, with the range appended when `code` has no
/// entry of its own. Then category, sender, wire validity, sources, meaning, bulleted causes,
/// bulleted fixes and notes.
pub fn explain(code: u16, lang: Lang) -> String {
    let w = words(lang);
    let mut out = String::new();
    let Some(entry) = lookup(code) else {
        // Unreachable with the shipped table (tests cover every u16); still say something useful.
        let _ = writeln!(out, "{code}");
        let _ = writeln!(
            out,
            "{}{}{}",
            w.category,
            w.colon,
            category(code).label(lang)
        );
        return out;
    };

    // `write!` into a `String` cannot fail; the results are discarded on purpose.
    let _ = write!(out, "{code} {} ({})", entry.name, entry.constant);
    if entry.is_range() {
        let _ = write!(out, "{}{}", w.range, range_label(entry));
    }
    out.push('\n');
    if entry.is_range() {
        let _ = writeln!(out, "{code} {}", w.no_entry);
    }
    out.push('\n');

    let text = entry.text(lang);
    let wire = if entry.on_wire { w.wire_yes } else { w.wire_no };
    let sources: Vec<&str> = entry.sources.iter().map(|s| s.name()).collect();
    let sources = sources.join(w.list_sep);
    let fields = [
        (w.category, category(code).label(lang)),
        (w.sent_by, entry.sender.label(lang)),
        (w.on_wire, wire),
        (w.sources, sources.as_str()),
    ];
    let width = fields
        .iter()
        .map(|(h, _)| display_width(h))
        .max()
        .unwrap_or(0);
    let width = width + display_width(w.colon) + 1;
    for (heading, value) in fields {
        let _ = writeln!(
            out,
            "{}{value}",
            pad(&format!("{heading}{}", w.colon), width)
        );
    }

    let _ = write!(out, "\n{}{}\n  {}\n", w.meaning, w.colon, text.meaning);
    section(&mut out, w, w.causes, text.causes);
    section(&mut out, w, w.fixes, text.fixes);
    let notes = entry.notes(lang);
    if !notes.is_empty() {
        let _ = write!(out, "\n{}{}\n  {notes}\n", w.notes, w.colon);
    }
    out
}

fn section(out: &mut String, w: &Words, heading: &str, items: &[&str]) {
    let _ = write!(out, "\n{heading}{}\n", w.colon);
    for item in items {
        let _ = writeln!(out, "  - {item}");
    }
}

/// The whole registry as an aligned text table in `lang`: code or range, name, sender,
/// whether it may be sent on the wire, and the first sentence of the meaning.
pub fn table(lang: Lang) -> String {
    let w = words(lang);
    let header = [
        w.col_code,
        w.col_name,
        w.col_sender,
        w.col_wire,
        w.col_meaning,
    ];
    let rows: Vec<[String; 5]> = REGISTRY
        .iter()
        .map(|e| {
            [
                range_label(e),
                e.name.to_owned(),
                e.sender.short(lang).to_owned(),
                (if e.on_wire { w.yes } else { w.no }).to_owned(),
                summary(e.text(lang).meaning).to_owned(),
            ]
        })
        .collect();

    let mut widths = header.map(display_width);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(display_width(cell));
        }
    }

    let mut out = String::new();
    push_row(&mut out, &header, &widths);
    let rule: Vec<String> = widths.iter().map(|n| "-".repeat(*n)).collect();
    push_row(&mut out, &rule, &widths);
    for row in &rows {
        push_row(&mut out, row, &widths);
    }
    out
}

fn push_row<S: AsRef<str>>(out: &mut String, cells: &[S], widths: &[usize]) {
    let last = cells.len().saturating_sub(1);
    for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if i == last {
            out.push_str(cell.as_ref()); // no trailing padding
        } else {
            out.push_str(&pad(cell.as_ref(), *width));
            out.push_str("  ");
        }
    }
    out.push('\n');
}

/// `"1006"` or `"1016-1999"`: ASCII so every terminal agrees on its width.
fn range_label(e: &Entry) -> String {
    if e.is_range() {
        format!("{}-{}", e.lo, e.hi)
    } else {
        e.lo.to_string()
    }
}

/// The first sentence of `meaning`, ending at the first `". "` or `"。"`.
pub(crate) fn summary(meaning: &str) -> &str {
    let en = meaning.find(". ").map(|i| i + 1);
    let zh = meaning.find('。').map(|i| i + '。'.len_utf8());
    match (en, zh) {
        (Some(a), Some(b)) => &meaning[..a.min(b)],
        (Some(a), None) | (None, Some(a)) => &meaning[..a],
        (None, None) => meaning,
    }
}

fn pad(s: &str, width: usize) -> String {
    let fill = width.saturating_sub(display_width(s));
    format!("{s}{}", " ".repeat(fill))
}

/// Terminal columns `s` occupies: East Asian wide and fullwidth characters take two.
pub(crate) fn display_width(s: &str) -> usize {
    s.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115F}'   // Hangul Jamo
        | '\u{2E80}'..='\u{303E}' // CJK radicals, punctuation
        | '\u{3041}'..='\u{33FF}' // kana, CJK compatibility
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{A000}'..='\u{A4CF}' // Yi
        | '\u{AC00}'..='\u{D7A3}' // Hangul syllables
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
        | '\u{FE30}'..='\u{FE4F}' // CJK compatibility forms
        | '\u{FF00}'..='\u{FF60}' // fullwidth forms
        | '\u{FFE0}'..='\u{FFE6}'
        | '\u{20000}'..='\u{2FFFD}'
        | '\u{30000}'..='\u{3FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;

    #[test]
    fn explain_1006_in_english_names_the_usual_proxy_suspects() {
        let text = explain(codes::ABNORMAL, Lang::En);
        assert!(
            text.starts_with("1006 Abnormal Closure (CLOSE_ABNORMAL)\n"),
            "{text}"
        );
        for needle in [
            "proxy_read_timeout",
            "60 s",
            "25 s",
            "stompbox probe",
            "Common causes:",
            "What to do:",
            "On the wire",
            "  - ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn explain_1006_in_chinese_is_chinese() {
        let text = explain(codes::ABNORMAL, Lang::Zh);
        assert!(
            text.starts_with("1006 Abnormal Closure (CLOSE_ABNORMAL)\n"),
            "{text}"
        );
        for needle in ["含义", "常见原因", "处理办法", "proxy_read_timeout", "心跳"] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn explaining_a_code_without_its_own_entry_shows_its_range() {
        let text = explain(4123, Lang::En);
        let first = text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "4123 Private Use (CLOSE_PRIVATE_USE), range 4000-4999"
        );
        assert!(text.contains("4123 has no entry of its own"), "{text}");
        let text = explain(3001, Lang::Zh);
        assert!(text.contains("区间 3000-3999"), "{text}");
        let text = explain(65535, Lang::En);
        assert!(text.contains("invalid"), "{text}");
    }

    #[test]
    fn explain_works_for_every_entry_in_both_languages() {
        for e in REGISTRY {
            // A range is explained for the codes inside it that have no entry of their own.
            let code = (e.lo..=e.hi)
                .find(|c| lookup(*c) == Some(e))
                .expect("entry is reachable");
            for lang in Lang::ALL {
                let text = explain(code, lang);
                assert!(text.contains(e.constant), "{}", e.constant);
                assert!(text.contains(e.text(lang).meaning), "{}", e.constant);
                for item in e.text(lang).causes.iter().chain(e.text(lang).fixes) {
                    assert!(text.contains(&format!("  - {item}\n")), "{}", e.constant);
                }
            }
        }
    }

    #[test]
    fn table_lists_every_entry_once_with_aligned_columns() {
        for lang in Lang::ALL {
            let text = table(lang);
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), REGISTRY.len() + 2, "header + rule + rows");
            // The meaning column starts at the same display column on every line.
            let rule = lines[1];
            let meaning_col = rule.rfind("  ").map(|i| i + 2).unwrap_or_default();
            for (line, e) in lines[2..].iter().zip(REGISTRY) {
                let label = range_label(e);
                assert!(line.starts_with(&format!("{label} ")), "{line}");
                let meaning = summary(e.text(lang).meaning);
                assert!(line.ends_with(meaning), "{line}");
                let prefix = &line[..line.len() - meaning.len()];
                assert_eq!(display_width(prefix), meaning_col, "{line}");
            }
        }
        assert!(table(Lang::En).contains("4408"));
        assert!(table(Lang::Zh).contains("服务端"));
    }

    #[test]
    fn table_summaries_stay_on_one_short_line() {
        let mut too_long = Vec::new();
        for e in REGISTRY {
            for lang in Lang::ALL {
                let s = summary(e.text(lang).meaning);
                if s.contains('\n') || display_width(s) > 80 {
                    too_long.push(format!("{} {lang} ({}): {s}", e.constant, display_width(s)));
                }
            }
        }
        assert!(too_long.is_empty(), "{}", too_long.join("\n"));
    }

    #[test]
    fn summary_stops_at_the_first_sentence() {
        assert_eq!(summary("One. Two."), "One.");
        assert_eq!(summary("第一句。第二句。"), "第一句。");
        assert_eq!(summary("No stop"), "No stop");
    }

    #[test]
    fn cjk_counts_as_two_columns() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("服务端"), 6);
        assert_eq!(display_width("（1000–1015）"), 2 + 9 + 2);
    }
}
