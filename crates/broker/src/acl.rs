//! Authorization of SUBSCRIBE and SEND by destination. The broker asks an [`Authorizer`] before
//! a subscription is filed or a message is routed (a SEND inside a transaction is checked when
//! it arrives, not at COMMIT). No authorizer is installed by default: everything is allowed.
//!
//! [`Acl`] is the rule-based authorizer the server builds from its configuration: allow-rules
//! per user, per role or for everyone, each with destination [`Pattern`]s for SUBSCRIBE and for
//! SEND. Once any rule exists, what no rule allows is refused.
//!
//! A refusal is an ERROR frame naming the command, the destination and why, then close 1008.

use std::sync::Arc;

use crate::BrokerError;
use crate::error::clip;

/// What a session asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SUBSCRIBE to the destination.
    Subscribe,
    /// SEND to the destination (including `/app/…`).
    Send,
}

impl Action {
    /// The STOMP command: `SUBSCRIBE` or `SEND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Subscribe => "SUBSCRIBE",
            Action::Send => "SEND",
        }
    }
}

/// What an authorizer sees of a SUBSCRIBE or SEND.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// The authenticated user; `None` for an anonymous session.
    pub user: Option<&'a str>,
    /// The user's roles, from the authenticator.
    pub roles: &'a [String],
    /// SUBSCRIBE or SEND.
    pub action: Action,
    /// The `destination` header, already checked to be well formed (no empty, `.` or `..`
    /// segments, no control characters).
    pub destination: &'a str,
}

/// Decides which destinations a session may subscribe and send to.
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok(())` allows; `Err(why)` refuses with an ERROR frame
    /// (`{command} to `{destination}` refused by the ACL: {why}`), then close 1008.
    fn authorize(&self, request: &AccessRequest<'_>) -> Result<(), String>;
}

impl<F> Authorizer for F
where
    F: Fn(&AccessRequest<'_>) -> Result<(), String> + Send + Sync + 'static,
{
    fn authorize(&self, request: &AccessRequest<'_>) -> Result<(), String> {
        self(request)
    }
}

/// A destination pattern: `*` matches any characters within one path segment (not `/`), `**`
/// matches any characters across segments (including `/`); everything else matches itself.
/// `/topic/*` is any one segment below `/topic/`, `/app/**` anything below `/app/`,
/// `/topic/public.**` anything starting with `/topic/public.`, `/user/*/queue/**` a SEND to any
/// user's queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    /// `*`: any bytes but `/`.
    Star,
    /// `**`: any bytes.
    AnyRest,
}

impl Pattern {
    /// Parses a pattern; it must start with `/` and may not have three `*` in a row or control
    /// characters.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("pattern `{}` must start with /", clip(text)));
        }
        if text.contains("***") {
            return Err(format!(
                "pattern `{}` has `***`: use `*` (one segment) or `**` (any rest)",
                clip(text)
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(format!(
                "pattern `{}` contains control characters",
                clip(text)
            ));
        }
        let bytes = text.as_bytes();
        let mut tokens = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'*' {
                if bytes.get(i + 1) == Some(&b'*') {
                    tokens.push(Token::AnyRest);
                    i += 2;
                } else {
                    tokens.push(Token::Star);
                    i += 1;
                }
            } else {
                tokens.push(Token::Byte(bytes[i]));
                i += 1;
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `destination` matches, as a whole. Linear in the destination's length times the
    /// pattern's (a set of pattern positions is advanced byte by byte), so no input can make it
    /// backtrack.
    pub fn matches(&self, destination: &str) -> bool {
        let tokens = &self.tokens;
        let n = tokens.len() + 1;
        let mut current = vec![false; n];
        let mut next = vec![false; n];
        current[0] = true;
        close_over_stars(tokens, &mut current);
        for &b in destination.as_bytes() {
            next.fill(false);
            let mut alive = false;
            for (i, token) in tokens.iter().enumerate() {
                if !current[i] {
                    continue;
                }
                match *token {
                    Token::Byte(t) if t == b => {
                        next[i + 1] = true;
                        alive = true;
                    }
                    Token::Star if b != b'/' => {
                        next[i] = true;
                        alive = true;
                    }
                    Token::AnyRest => {
                        next[i] = true;
                        alive = true;
                    }
                    _ => {}
                }
            }
            if !alive {
                return false;
            }
            close_over_stars(tokens, &mut next);
            std::mem::swap(&mut current, &mut next);
        }
        current[n - 1]
    }
}

/// A star may match nothing: wherever one is reachable, so is the position after it.
fn close_over_stars(tokens: &[Token], states: &mut [bool]) {
    for (i, token) in tokens.iter().enumerate() {
        if states[i] && matches!(token, Token::Star | Token::AnyRest) {
            states[i + 1] = true;
        }
    }
}

/// Whom an ACL rule is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Every session, anonymous ones included.
    Everyone,
    /// The sessions of one user.
    User(String),
    /// The sessions of users with this role.
    Role(String),
}

impl Who {
    fn covers(&self, user: Option<&str>, roles: &[String]) -> bool {
        match self {
            Who::Everyone => true,
            Who::User(name) => user == Some(name.as_str()),
            Who::Role(role) => roles.iter().any(|r| r == role),
        }
    }
}

/// One allow-rule: whom it is for, and the destinations they may subscribe and send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// Whom the rule is for.
    pub who: Who,
    /// Destinations that may be subscribed to.
    pub subscribe: Vec<Pattern>,
    /// Destinations that may be sent to.
    pub send: Vec<Pattern>,
}

/// Allow-rules; what no rule allows is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    rules: Vec<AclRule>,
}

impl Acl {
    /// An ACL of these rules (none: everything is refused).
    pub fn new(rules: Vec<AclRule>) -> Acl {
        Acl { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &[AclRule] {
        &self.rules
    }
}

impl Authorizer for Acl {
    fn authorize(&self, request: &AccessRequest<'_>) -> Result<(), String> {
        let allowed = self
            .rules
            .iter()
            .filter(|rule| rule.who.covers(request.user, request.roles))
            .flat_map(|rule| match request.action {
                Action::Subscribe => &rule.subscribe,
                Action::Send => &rule.send,
            })
            .any(|pattern| pattern.matches(request.destination));
        if allowed {
            return Ok(());
        }
        let who = match request.user {
            None => "anonymous sessions".to_string(),
            Some(user) if request.roles.is_empty() => format!("user `{user}` (no roles)"),
            Some(user) => format!("user `{user}` (roles: {})", request.roles.join(", ")),
        };
        let verb = match request.action {
            Action::Subscribe => "subscribe to",
            Action::Send => "send to",
        };
        Err(format!("no ACL rule allows {who} to {verb} it"))
    }
}

/// A connected session's authorizer and roles (kept only while an authorizer is installed).
pub(crate) struct Access {
    authorizer: Arc<dyn Authorizer>,
    roles: Vec<String>,
}

impl Access {
    pub(crate) fn new(authorizer: Arc<dyn Authorizer>, roles: Vec<String>) -> Access {
        Access { authorizer, roles }
    }

    /// Asks the authorizer; a refusal becomes [`BrokerError::AccessDenied`].
    pub(crate) fn check(
        &self,
        user: Option<&str>,
        action: Action,
        destination: &str,
    ) -> Result<(), BrokerError> {
        self.authorizer
            .authorize(&AccessRequest {
                user,
                roles: &self.roles,
                action,
                destination,
            })
            .map_err(|why| BrokerError::AccessDenied {
                command: action.as_str(),
                destination: clip(destination),
                why: clip(&why),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn one_star_stays_in_its_segment_and_two_stars_take_the_rest() {
        let one = p("/topic/*");
        assert!(one.matches("/topic/news"));
        assert!(!one.matches("/topic/news/eu"));
        assert!(!one.matches("/queue/news"));
        let rest = p("/app/**");
        assert!(rest.matches("/app/hello"));
        assert!(rest.matches("/app/a/b/c"));
        assert!(!rest.matches("/apps/x"));
        let dotted = p("/topic/public.**");
        assert!(dotted.matches("/topic/public.news"));
        assert!(dotted.matches("/topic/public.news/eu"));
        assert!(!dotted.matches("/topic/private.news"));
        assert!(!dotted.matches("/topic/public"));
        let user = p("/user/*/queue/**");
        assert!(user.matches("/user/bob/queue/x"));
        assert!(!user.matches("/user/queue/x"), "* needs one segment here");
        let mid = p("/topic/*.prices");
        assert!(mid.matches("/topic/eu.prices"));
        assert!(!mid.matches("/topic/eu/x.prices"));
        assert!(p("/topic/exact").matches("/topic/exact"));
        assert!(!p("/topic/exact").matches("/topic/exact2"));
        assert!(!p("/topic/exact").matches("/topic/exac"));
    }

    #[test]
    fn many_stars_against_a_long_destination_finish() {
        let pattern = p("/**a**a**a**a**a**a**b");
        let long = format!("/{}", "a".repeat(8000));
        assert!(!pattern.matches(&long));
        assert!(pattern.matches(&format!("{long}b")));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for bad in ["topic/x", "", "/topic/***", "/topic/\u{1}"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rules_allow_per_user_per_role_and_for_everyone_and_refuse_the_rest() {
        let acl = Acl::new(vec![
            AclRule {
                who: Who::Everyone,
                subscribe: vec![p("/topic/public.**")],
                send: vec![],
            },
            AclRule {
                who: Who::User("alice".into()),
                subscribe: vec![],
                send: vec![p("/app/**")],
            },
            AclRule {
                who: Who::Role("admin".into()),
                subscribe: vec![p("/**")],
                send: vec![p("/**")],
            },
        ]);
        let ask = |user: Option<&str>, roles: &[String], action, destination| {
            acl.authorize(&AccessRequest {
                user,
                roles,
                action,
                destination,
            })
        };
        let none: &[String] = &[];
        let admin = ["admin".to_string()];
        assert!(ask(None, none, Action::Subscribe, "/topic/public.x").is_ok());
        assert!(ask(None, none, Action::Send, "/app/hello").is_err());
        assert!(ask(Some("alice"), none, Action::Send, "/app/hello").is_ok());
        assert!(ask(Some("bob"), none, Action::Send, "/app/hello").is_err());
        assert!(ask(Some("bob"), &admin, Action::Send, "/topic/x").is_ok());
        let why = ask(Some("alice"), none, Action::Subscribe, "/topic/secret").unwrap_err();
        assert_eq!(
            why,
            "no ACL rule allows user `alice` (no roles) to subscribe to it"
        );
        let why = ask(None, none, Action::Send, "/topic/x").unwrap_err();
        assert!(why.contains("anonymous sessions"), "{why}");
        assert!(
            Acl::default()
                .authorize(&AccessRequest {
                    user: Some("alice"),
                    roles: &admin,
                    action: Action::Subscribe,
                    destination: "/topic/x"
                })
                .is_err()
        );
    }

    #[test]
    fn a_refusal_names_the_command_and_destination_and_closes_with_1008() {
        let access = Access::new(Arc::new(Acl::default()), Vec::new());
        let error = access
            .check(Some("alice"), Action::Send, "/topic/x")
            .unwrap_err();
        assert_eq!(error.close_code(), 1008);
        let text = error.to_string();
        assert!(
            text.starts_with("SEND to `/topic/x` refused by the ACL:"),
            "{text}"
        );
    }
}
