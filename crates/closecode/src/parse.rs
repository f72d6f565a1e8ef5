//! Parsing user input: close codes ([`parse_code`]) and languages (`Lang: FromStr`).
//!
//! Owns the typed errors for bad input; callers (the CLI) print their `Display` text as is, so
//! each message names the offending value and what would have been accepted. No I/O.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use crate::Lang;

/// Why [`parse_code`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseCodeError {
    /// The input is not a decimal integer.
    NotANumber {
        /// The input as given.
        input: String,
    },
    /// The input is an integer, but outside 0–65535 (a close code is an unsigned 16-bit number).
    OutOfRange {
        /// The input as given.
        input: String,
    },
}

impl fmt::Display for ParseCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseCodeError::NotANumber { input } if input.trim().is_empty() => {
                write!(
                    f,
                    "an empty string is not a close code: expected a number 0–65535"
                )
            }
            ParseCodeError::NotANumber { input } => {
                write!(
                    f,
                    "`{input}` is not a close code: expected a number 0–65535"
                )
            }
            ParseCodeError::OutOfRange { input } => write!(
                f,
                "`{input}` is out of range: a close code is a number 0–65535 \
                 (valid in a Close frame: 1000–1003, 1007–1014, 3000–4999)"
            ),
        }
    }
}

impl Error for ParseCodeError {}

/// Parses a close code written in decimal, ignoring surrounding whitespace.
///
/// Any `u16` is accepted, including codes that are not valid on the wire: `stompbox explain 1006`
/// must work. Use [`crate::is_valid_on_wire`] to check sendability.
///
/// ```
/// use stompbox_closecode::{parse_code, ParseCodeError};
///
/// assert_eq!(parse_code(" 1006 "), Ok(1006));
/// assert!(matches!(parse_code("abc"), Err(ParseCodeError::NotANumber { .. })));
/// assert!(matches!(parse_code("70000"), Err(ParseCodeError::OutOfRange { .. })));
/// ```
pub fn parse_code(s: &str) -> Result<u16, ParseCodeError> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseCodeError::NotANumber {
            input: s.to_owned(),
        });
    }
    // An integer it is; `u16::from_str` rejects only negatives and overflow now (and "-0").
    t.parse::<u16>().map_err(|_| ParseCodeError::OutOfRange {
        input: s.to_owned(),
    })
}

/// Why a string did not parse as a [`Lang`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLangError {
    input: String,
}

impl ParseLangError {
    /// The input as given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseLangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a supported language: expected `en` or `zh`",
            self.input
        )
    }
}

impl Error for ParseLangError {}

impl FromStr for Lang {
    type Err = ParseLangError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Lang::ALL
            .into_iter()
            .find(|lang| t.eq_ignore_ascii_case(lang.tag()))
            .ok_or_else(|| ParseLangError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_u16_and_surrounding_whitespace() {
        assert_eq!(parse_code("0"), Ok(0));
        assert_eq!(parse_code("1006"), Ok(1006));
        assert_eq!(parse_code("\t4408\n"), Ok(4408));
        assert_eq!(parse_code("+1000"), Ok(1000));
        assert_eq!(parse_code("65535"), Ok(65535));
        assert_eq!(parse_code("001000"), Ok(1000));
    }

    #[test]
    fn non_numbers_are_not_a_number() {
        for input in [
            "abc", "", "  ", "10.5", "1e3", "0x3e8", "1006abc", "+", "-", "١٠٠٦",
        ] {
            assert_eq!(
                parse_code(input),
                Err(ParseCodeError::NotANumber {
                    input: input.to_owned()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn integers_outside_u16_are_out_of_range() {
        for input in [
            "65536",
            "70000",
            "-1",
            "-0",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                parse_code(input),
                Err(ParseCodeError::OutOfRange {
                    input: input.to_owned()
                }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_the_input_and_the_accepted_values() {
        let msg = parse_code("abc")
            .expect_err("abc is not a number")
            .to_string();
        assert_eq!(msg, "`abc` is not a close code: expected a number 0–65535");
        let msg = parse_code("")
            .expect_err("empty is not a number")
            .to_string();
        assert!(msg.contains("empty") && msg.contains("0–65535"), "{msg}");
        let msg = parse_code("70000")
            .expect_err("70000 is out of range")
            .to_string();
        assert!(msg.contains("`70000`") && msg.contains("0–65535"), "{msg}");
    }

    #[test]
    fn lang_parses_case_insensitively_and_names_accepted_values_on_error() {
        assert_eq!("en".parse::<Lang>(), Ok(Lang::En));
        assert_eq!("ZH".parse::<Lang>(), Ok(Lang::Zh));
        assert_eq!(" Zh ".parse::<Lang>(), Ok(Lang::Zh));
        let err = "fr".parse::<Lang>().expect_err("fr is not supported");
        assert_eq!(err.input(), "fr");
        assert!(err.to_string().contains("`en` or `zh`"), "{err}");
        for lang in Lang::ALL {
            assert_eq!(lang.to_string().parse::<Lang>(), Ok(lang));
        }
    }
}
