//! STOMP protocol versions and `accept-version` negotiation (STOMP 1.2 "Protocol Negotiation").

use std::fmt;

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// STOMP 1.0: no header escaping, no NACK, no heart-beats.
    V1_0,
    /// STOMP 1.1: header escaping without `\r`, NACK, heart-beats.
    V1_1,
    /// STOMP 1.2: full escaping, `ack` header on MESSAGE, `id` on ACK/NACK, CRLF line ends.
    V1_2,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `accept-version` and `version` headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// The WebSocket subprotocol name (`v12.stomp`, …).
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Version::V1_0 => "v10.stomp",
            Version::V1_1 => "v11.stomp",
            Version::V1_2 => "v12.stomp",
        }
    }

    /// Parses `1.0`, `1.1` or `1.2`.
    pub fn parse(s: &str) -> Option<Version> {
        match s.trim() {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Chooses the highest version both sides support.
///
/// `accept_version` is the CONNECT frame's header (absent means the client speaks only 1.0);
/// `supported` is what the server allows. `None` means no common version: the server must
/// answer with an ERROR frame listing its versions and close.
pub fn negotiate_version(accept_version: Option<&str>, supported: &[Version]) -> Option<Version> {
    match accept_version {
        None => supported.contains(&Version::V1_0).then_some(Version::V1_0),
        Some(list) => list
            .split(',')
            .filter_map(Version::parse)
            .filter(|v| supported.contains(v))
            .max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_common_version_wins() {
        assert_eq!(
            negotiate_version(Some("1.0,1.1,1.2"), &Version::ALL),
            Some(Version::V1_2)
        );
        assert_eq!(
            negotiate_version(Some("1.1,1.0"), &Version::ALL),
            Some(Version::V1_1)
        );
        assert_eq!(negotiate_version(None, &Version::ALL), Some(Version::V1_0));
        assert_eq!(negotiate_version(Some("2.0"), &Version::ALL), None);
        assert_eq!(
            negotiate_version(Some("1.2"), &[Version::V1_0, Version::V1_1]),
            None
        );
    }
}
