//! Destination names and how the broker routes them.
//!
//! - `/topic/…`: every subscriber gets a copy;
//! - `/queue/…`: one consumer per message, round-robin, kept until one subscribes;
//! - `/user/{name}/…` (SEND): the sessions of user `name` that subscribed to `/user/…`;
//! - `/user/…` (SUBSCRIBE): this session's user-private copy (Spring's user destinations);
//! - `/app/…`: application handlers registered from Rust.

use crate::BrokerError;

/// A parsed destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// `/topic/…`, the whole string.
    Topic(&'a str),
    /// `/queue/…`, the whole string.
    Queue(&'a str),
    /// SUBSCRIBE to `/user/<rest>`: `rest` keeps its leading slash (`/queue/x`).
    UserSelf(&'a str),
    /// SEND to `/user/<name>/<rest>`: user `name`, `rest` with its leading slash.
    UserOf {
        /// The target user.
        user: &'a str,
        /// The user-relative destination, e.g. `/queue/x`.
        rest: &'a str,
    },
    /// `/app/<path>`: `path` with its leading slash.
    App(&'a str),
}

/// Whether the destination is used to subscribe or to send (user destinations differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// SUBSCRIBE.
    Subscribe,
    /// SEND.
    Send,
}

impl<'a> Destination<'a> {
    /// Parses a destination header, rejecting empty names, `.`/`..` segments, empty segments and
    /// control characters so that no string can alias another user's destination.
    pub fn parse(s: &'a str, usage: Use) -> Result<Destination<'a>, BrokerError> {
        let bad = |why: &'static str| BrokerError::InvalidDestination {
            destination: s.chars().take(200).collect(),
            why,
        };
        if s.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        let Some(path) = s.strip_prefix('/') else {
            return Err(bad("it must start with /topic/, /queue/, /user/ or /app/"));
        };
        if path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(bad("it has an empty, `.` or `..` path segment"));
        }
        let (prefix, rest) = path.split_once('/').unwrap_or((path, ""));
        if rest.is_empty() {
            return Err(bad("it names no destination after its prefix"));
        }
        let rest_with_slash = &s[prefix.len() + 1..];
        match prefix {
            "topic" => Ok(Destination::Topic(s)),
            "queue" => Ok(Destination::Queue(s)),
            "app" => Ok(Destination::App(rest_with_slash)),
            "user" => match usage {
                Use::Subscribe => Ok(Destination::UserSelf(rest_with_slash)),
                Use::Send => {
                    let (user, _) = rest
                        .split_once('/')
                        .ok_or_else(|| bad("a user destination is /user/{name}/{destination}"))?;
                    Ok(Destination::UserOf {
                        user,
                        rest: &rest[user.len()..],
                    })
                }
            },
            _ => Err(bad("it must start with /topic/, /queue/, /user/ or /app/")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_route_as_spring_and_rabbitmq_users_expect() {
        assert_eq!(
            Destination::parse("/topic/greetings", Use::Send),
            Ok(Destination::Topic("/topic/greetings"))
        );
        assert_eq!(
            Destination::parse("/queue/a/b", Use::Subscribe),
            Ok(Destination::Queue("/queue/a/b"))
        );
        assert_eq!(
            Destination::parse("/user/queue/reply", Use::Subscribe),
            Ok(Destination::UserSelf("/queue/reply"))
        );
        assert_eq!(
            Destination::parse("/user/alice/queue/reply", Use::Send),
            Ok(Destination::UserOf {
                user: "alice",
                rest: "/queue/reply"
            })
        );
        assert_eq!(
            Destination::parse("/app/hello", Use::Send),
            Ok(Destination::App("/hello"))
        );
    }

    #[test]
    fn path_tricks_and_unknown_prefixes_are_refused() {
        for bad in [
            "",
            "topic/x",
            "/topic",
            "/topic/",
            "/user/../alice/queue/x",
            "/user/alice/../bob/queue/x",
            "/user//queue/x",
            "/user/alice",
            "/queue/a\nb",
            "/exchange/amq.topic/x",
            "/topic/./x",
        ] {
            let usage = if bad.starts_with("/user/alice") {
                Use::Send
            } else {
                Use::Subscribe
            };
            assert!(
                matches!(
                    Destination::parse(bad, usage),
                    Err(BrokerError::InvalidDestination { .. })
                ),
                "{bad:?} should be refused"
            );
        }
    }
}
