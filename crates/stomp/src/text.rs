//! [`Str`]: the text of a header name or value, shared with the bytes it was decoded from.
//!
//! A decoded frame's head is checked for UTF-8 once and frozen into one buffer; each name and
//! value is a cheap slice of it (a reference count, no copy). Only text that had escape
//! sequences is copied. Well-known header names (`destination`, `content-length`, …) point to
//! static strings, so they cost nothing at all. Must not know anything about STOMP but those
//! names.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

/// Immutable UTF-8 text, either static, owned, or a slice of a shared buffer; dereferences to
/// `&str`, compares with `str`/`&str`/`String`, and is cheap to clone.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Str(ByteString);

impl Str {
    /// The empty string.
    pub const fn new() -> Str {
        Str(ByteString::new())
    }

    /// A static string, without copying or reference counting.
    pub const fn from_static(text: &'static str) -> Str {
        Str(ByteString::from_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text's bytes, sharing this string's buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// `bytes` as text, if they are UTF-8, sharing their buffer.
    #[inline]
    pub(crate) fn from_utf8(bytes: Bytes) -> Result<Str, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Str)
    }
}

impl Deref for Str {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        &self.0
    }
}

// Hashes like `str`, as `Borrow<str>` requires.
impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Str {
    fn from(text: String) -> Str {
        Str(ByteString::from(text))
    }
}

impl From<&String> for Str {
    fn from(text: &String) -> Str {
        Str::from(text.as_str())
    }
}

/// Copies; use [`Str::from_static`] for a literal that should not be copied.
impl From<&str> for Str {
    fn from(text: &str) -> Str {
        Str(ByteString::from(text))
    }
}

impl From<Box<str>> for Str {
    fn from(text: Box<str>) -> Str {
        Str(ByteString::from(text))
    }
}

impl From<&Arc<str>> for Str {
    fn from(text: &Arc<str>) -> Str {
        Str::from(&**text)
    }
}

impl From<ByteString> for Str {
    fn from(text: ByteString) -> Str {
        Str(text)
    }
}

impl From<Str> for String {
    fn from(text: Str) -> String {
        text.as_str().to_owned()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, other: &Str) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, other: &Str) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn compares_and_looks_up_like_str() {
        let owned = Str::from(String::from("destination"));
        let copied = Str::from("destination");
        let fixed = Str::from_static("destination");
        assert_eq!(owned, copied);
        assert_eq!(copied, fixed);
        assert_eq!(fixed, "destination");
        assert_eq!("destination", fixed);
        assert_eq!(fixed, String::from("destination"));
        assert_ne!(fixed, "id");
        let map = HashMap::from([(owned, 1)]);
        assert_eq!(map.get("destination"), Some(&1));
    }

    #[test]
    fn slices_share_the_buffer() {
        let whole = Bytes::from(String::from("a:bc"));
        let part = Str::from_utf8(whole.slice(2..)).unwrap();
        assert_eq!(part, "bc");
        assert_eq!(part.as_ptr(), whole[2..].as_ptr());
        assert!(Str::from_utf8(Bytes::from_static(b"\xff")).is_err());
        assert_eq!(format!("{part} {part:?}"), "bc \"bc\"");
        assert_eq!(String::from(part), "bc");
    }
}
