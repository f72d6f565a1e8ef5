//! The vocabulary of the registry: [`Entry`], its [`Text`], and the small enums that classify
//! a code ([`Sender`], [`Source`], [`Category`]) or choose a language ([`Lang`]).
//!
//! Owns the types and their fixed labels in both languages; no data (see `table.rs`) and no
//! lookup logic (see `lib.rs`).

use std::fmt;

/// The language of human-readable text.
///
/// Parses from `"en"` or `"zh"` (case-insensitive) with [`str::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// Every supported language, in display order.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// The tag accepted by `FromStr`: `"en"` or `"zh"`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Who puts a code into a closing handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// Sent by the client.
    Client,
    /// Sent by the server (or by a proxy acting as the server).
    Server,
    /// Sent by either endpoint.
    Either,
    /// Never sent: an endpoint sets it locally to describe a close it observed (1005, 1006,
    /// 1015), or nobody may use it at all (reserved and invalid ranges).
    Never,
}

impl Sender {
    /// A full label for [`crate::explain`].
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Sender::Client, Lang::En) => "the client",
            (Sender::Server, Lang::En) => "the server (or a proxy acting as one)",
            (Sender::Either, Lang::En) => "either endpoint",
            (Sender::Never, Lang::En) => {
                "nobody — never sent; at most set locally by the endpoint that observed the close"
            }
            (Sender::Client, Lang::Zh) => "客户端",
            (Sender::Server, Lang::Zh) => "服务端（或充当服务端的代理）",
            (Sender::Either, Lang::Zh) => "任意一端",
            (Sender::Never, Lang::Zh) => "不发送——最多由观察到关闭的一端在本地设置",
        }
    }

    /// A short label for [`crate::table`].
    pub fn short(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Sender::Client, Lang::En) => "client",
            (Sender::Server, Lang::En) => "server",
            (Sender::Either, Lang::En) => "either",
            (Sender::Never, Lang::En) => "never",
            (Sender::Client, Lang::Zh) => "客户端",
            (Sender::Server, Lang::Zh) => "服务端",
            (Sender::Either, Lang::Zh) => "任意一端",
            (Sender::Never, Lang::Zh) => "不发送",
        }
    }
}

/// Where a code's meaning is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// RFC 6455 §7.4.1 (defined codes) and §7.4.2 (ranges).
    Rfc6455,
    /// The IANA "WebSocket Close Code Number Registry".
    Iana,
    /// The SockJS protocol (sockjs-protocol, sockjs-client, sockjs-node, Spring's SockJS server).
    SockJs,
    /// Spring Framework's `org.springframework.web.socket.CloseStatus`.
    Spring,
    /// stompbox itself.
    Stompbox,
}

impl Source {
    /// The display name, the same in every language.
    pub fn name(self) -> &'static str {
        match self {
            Source::Rfc6455 => "RFC 6455",
            Source::Iana => "IANA",
            Source::SockJs => "SockJS",
            Source::Spring => "Spring",
            Source::Stompbox => "stompbox",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The RFC 6455 §7.4.2 range a code falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// 0–999: not used.
    Unused,
    /// 1000–1015: defined by RFC 6455 or assigned by IANA.
    Standard,
    /// 1016–1999: reserved for future revisions of the WebSocket protocol.
    ReservedStandard,
    /// 2000–2999: reserved for WebSocket extensions.
    Extension,
    /// 3000–3999: libraries and frameworks, registered with IANA first-come first-served.
    Library,
    /// 4000–4999: private use by applications, never registered.
    Application,
    /// 5000–65535: outside every range; not a valid close code.
    Invalid,
}

impl Category {
    /// The first and last code of the category.
    pub fn bounds(self) -> (u16, u16) {
        match self {
            Category::Unused => (0, 999),
            Category::Standard => (1000, 1015),
            Category::ReservedStandard => (1016, 1999),
            Category::Extension => (2000, 2999),
            Category::Library => (3000, 3999),
            Category::Application => (4000, 4999),
            Category::Invalid => (5000, u16::MAX),
        }
    }

    /// A label including the bounds, for [`crate::explain`].
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Category::Unused, Lang::En) => "unused (0–999)",
            (Category::Standard, Lang::En) => "standard, RFC 6455 / IANA (1000–1015)",
            (Category::ReservedStandard, Lang::En) => {
                "reserved for future WebSocket standards (1016–1999)"
            }
            (Category::Extension, Lang::En) => "reserved for WebSocket extensions (2000–2999)",
            (Category::Library, Lang::En) => {
                "libraries and frameworks, registered with IANA (3000–3999)"
            }
            (Category::Application, Lang::En) => "private use by applications (4000–4999)",
            (Category::Invalid, Lang::En) => "invalid, outside every range (5000–65535)",
            (Category::Unused, Lang::Zh) => "未使用（0–999）",
            (Category::Standard, Lang::Zh) => "标准码，RFC 6455 / IANA（1000–1015）",
            (Category::ReservedStandard, Lang::Zh) => "保留给未来的 WebSocket 标准（1016–1999）",
            (Category::Extension, Lang::Zh) => "保留给 WebSocket 扩展（2000–2999）",
            (Category::Library, Lang::Zh) => "库和框架使用，向 IANA 注册（3000–3999）",
            (Category::Application, Lang::Zh) => "应用私有（4000–4999）",
            (Category::Invalid, Lang::Zh) => "无效，不属于任何区间（5000–65535）",
        }
    }
}

/// Human-readable text about one entry, in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// What the code means. The first sentence is a summary that fits on one table line.
    pub meaning: &'static str,
    /// What usually causes it in practice, most common first.
    pub causes: &'static [&'static str],
    /// What to do about it, most useful first.
    pub fixes: &'static [&'static str],
}

/// One code (`lo == hi`) or range (`lo..=hi`) of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// First code covered.
    pub lo: u16,
    /// Last code covered (inclusive); equal to `lo` for a single code.
    pub hi: u16,
    /// The name, as the IANA registry or the defining framework spells it.
    pub name: &'static str,
    /// A constant-style name, for example `CLOSE_ABNORMAL`.
    pub constant: &'static str,
    /// Who sends it.
    pub sender: Sender,
    /// Where its meaning is defined, most authoritative first.
    pub sources: &'static [Source],
    /// Whether an endpoint may put it in a Close frame (RFC 6455 §7.4). Agrees with
    /// [`crate::is_valid_on_wire`] for every code the entry covers.
    pub on_wire: bool,
    /// English text.
    pub en: Text,
    /// Simplified Chinese text.
    pub zh: Text,
    /// English notes: history, framework specifics, caveats. May be empty.
    pub notes_en: &'static str,
    /// Simplified Chinese notes. May be empty.
    pub notes_zh: &'static str,
}

impl Entry {
    /// The text in `lang`.
    pub fn text(&self, lang: Lang) -> &Text {
        match lang {
            Lang::En => &self.en,
            Lang::Zh => &self.zh,
        }
    }

    /// The notes in `lang` (possibly empty).
    pub fn notes(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.notes_en,
            Lang::Zh => self.notes_zh,
        }
    }

    /// Whether the entry covers a range rather than a single code.
    pub fn is_range(&self) -> bool {
        self.lo != self.hi
    }

    /// Whether `code` is covered by this entry.
    pub fn contains(&self, code: u16) -> bool {
        (self.lo..=self.hi).contains(&code)
    }
}
