//! `[auth]`: who may connect (a user list with argon2 password hashes, JWT bearer tokens,
//! anonymous sessions or not) and where they may subscribe and send (`[[auth.acl]]` rules).
//!
//! The authenticator itself is in [`crate::authn`]; the ACL decision is the broker's
//! [`stompbox_broker::Acl`]. Without an `[auth]` section nothing changes: everyone may connect,
//! the `login` header is taken as the user name, and everything is allowed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use serde::Deserialize;
use stompbox_broker::{Acl, AclRule, Broker, Pattern, Who};

use crate::authn::{ConfigAuthenticator, JwtVerifier};
use crate::config::ConfigError;

/// `[auth]`: authentication on CONNECT and the ACL for SUBSCRIBE and SEND.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether sessions that send no credentials may connect (anonymously: their `/user/…`
    /// destinations are keyed by session id). Default: true when neither `users` nor `jwt` is
    /// configured, else false.
    pub anonymous: Option<bool>,
    /// Users who connect with `login`/`passcode`. Default: none.
    pub users: Vec<UserConfig>,
    /// Bearer tokens (JWT), in the CONNECT `passcode` or the handshake's `Authorization: Bearer`
    /// header. Default: off.
    pub jwt: Option<JwtConfig>,
    /// Allow-rules for SUBSCRIBE and SEND. Default: none, meaning everything is allowed; once
    /// there is one, what no rule allows is refused (ERROR, then 1008).
    pub acl: Vec<AclConfig>,
}

/// One entry of `auth.users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The `login`.
    pub name: String,
    /// The password's argon2 hash as a PHC string (`$argon2id$v=19$m=…`), as printed by
    /// `stompbox hash-password`.
    pub password_hash: String,
    /// Roles for the ACL. Default: none.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[auth.jwt]`: JSON Web Tokens signed with HS256 (a shared secret) or RS256 (an RSA key pair;
/// the server has the public key). `exp` is required; `nbf` is checked when present.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// HS256 shared secret (its UTF-8 bytes; at least 32). Default: none.
    pub hs256_secret: Option<String>,
    /// File holding the HS256 secret (its bytes, a trailing newline removed; at least 32).
    /// Default: none.
    pub hs256_secret_file: Option<PathBuf>,
    /// PEM file with the RS256 public key (`PUBLIC KEY` or `RSA PUBLIC KEY`). Default: none.
    pub rs256_public_key_file: Option<PathBuf>,
    /// The claim that names the user. Default: `"sub"`.
    pub user_claim: String,
    /// The claim with the roles: an array of strings or one space-separated string; a dotted
    /// path reaches into objects (`realm_access.roles`). Default: `"roles"`.
    pub roles_claim: String,
    /// Required `iss`, if set. Default: not checked.
    pub issuer: Option<String>,
    /// Required `aud`, if set. Default: not checked.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`. Default: `"60s"`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            hs256_secret: None,
            hs256_secret_file: None,
            rs256_public_key_file: None,
            user_claim: "sub".to_string(),
            roles_claim: "roles".to_string(),
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(60),
        }
    }
}

/// One `[[auth.acl]]` rule: for `user`, for `role`, or (neither set) for every session,
/// anonymous ones included. Patterns: `*` matches within one path segment, `**` anything
/// (including `/`); e.g. `/topic/public.**`, `/user/queue/**`, `/app/**`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AclConfig {
    /// The user the rule is for.
    pub user: Option<String>,
    /// The role the rule is for.
    pub role: Option<String>,
    /// Destinations that may be subscribed to.
    pub subscribe: Vec<String>,
    /// Destinations that may be sent to.
    pub send: Vec<String>,
}

fn invalid(field: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        why: why.into(),
    }
}

impl AuthConfig {
    /// Whether sessions without credentials may connect.
    pub fn allows_anonymous(&self) -> bool {
        self.anonymous
            .unwrap_or(self.users.is_empty() && self.jwt.is_none())
    }

    /// Whether CONNECT is checked by the authenticator `[auth]` configures (else the broker's own
    /// authenticator stays, by default allow-all).
    pub fn authenticates(&self) -> bool {
        !self.users.is_empty() || self.jwt.is_some() || self.anonymous == Some(false)
    }

    /// Checks the section without reading files: hashes, patterns, the JWT settings' shape.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for user in &self.users {
            if user.name.is_empty() || user.name.chars().any(char::is_control) {
                return Err(invalid(
                    "auth.users",
                    format!(
                        "user name `{}` is empty or has control characters",
                        user.name
                    ),
                ));
            }
            if !names.insert(user.name.as_str()) {
                return Err(invalid(
                    "auth.users",
                    format!("user `{}` is listed twice", user.name),
                ));
            }
            let hash = PasswordHash::new(&user.password_hash).map_err(|e| {
                invalid(
                    "auth.users",
                    format!(
                        "password_hash of `{}` is not a PHC string ({e}); make one with `stompbox hash-password`",
                        user.name
                    ),
                )
            })?;
            if !hash.algorithm.as_str().starts_with("argon2") {
                return Err(invalid(
                    "auth.users",
                    format!(
                        "password_hash of `{}` uses {}; only argon2 hashes are accepted",
                        user.name, hash.algorithm
                    ),
                ));
            }
        }
        if let Some(jwt) = &self.jwt {
            jwt.validate()?;
        }
        self.acl()?;
        Ok(())
    }

    /// The ACL these rules describe, if there are any.
    pub fn acl(&self) -> Result<Option<Acl>, ConfigError> {
        if self.acl.is_empty() {
            return Ok(None);
        }
        let patterns = |list: &[String]| -> Result<Vec<Pattern>, ConfigError> {
            list.iter()
                .map(|p| Pattern::parse(p).map_err(|why| invalid("auth.acl", why)))
                .collect()
        };
        let mut rules = Vec::with_capacity(self.acl.len());
        for rule in &self.acl {
            let who = match (&rule.user, &rule.role) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "auth.acl",
                        "a rule names a user or a role, not both (use two rules)",
                    ));
                }
                (Some(user), None) => Who::User(user.clone()),
                (None, Some(role)) => Who::Role(role.clone()),
                (None, None) => Who::Everyone,
            };
            rules.push(AclRule {
                who,
                subscribe: patterns(&rule.subscribe)?,
                send: patterns(&rule.send)?,
            });
        }
        Ok(Some(Acl::new(rules)))
    }

    /// Installs the authenticator (when [`AuthConfig::authenticates`]) and the ACL (when there
    /// are rules) on `broker`, reading the key files.
    pub fn install(&self, broker: &Broker) -> Result<(), ConfigError> {
        self.validate()?;
        if self.authenticates() {
            let jwt = match &self.jwt {
                Some(config) => Some(config.verifier()?),
                None => None,
            };
            broker.set_authenticator(ConfigAuthenticator::new(
                &self.users,
                jwt,
                self.allows_anonymous(),
            ));
        }
        if let Some(acl) = self.acl()? {
            broker.set_authorizer(acl);
        }
        if self.authenticates() || !self.acl.is_empty() {
            tracing::info!(target: "stompbox::auth", "{}", self.summary());
        }
        Ok(())
    }

    /// One line for the log: what is checked.
    pub fn summary(&self) -> String {
        let keys: Vec<&str> = self
            .jwt
            .iter()
            .flat_map(|j| {
                let hs = j.hs256_secret.is_some() || j.hs256_secret_file.is_some();
                let rs = j.rs256_public_key_file.is_some();
                [hs.then_some("HS256"), rs.then_some("RS256")]
                    .into_iter()
                    .flatten()
            })
            .collect();
        let jwt = if keys.is_empty() {
            "no JWT".to_string()
        } else {
            format!("JWT {}", keys.join("+"))
        };
        let anonymous = if self.allows_anonymous() {
            "allowed"
        } else {
            "refused"
        };
        let acl = match self.acl.len() {
            0 => "no ACL (everything allowed)".to_string(),
            n => format!("ACL of {n} rule(s), the rest refused"),
        };
        format!(
            "authentication: {} user(s), {jwt}, anonymous sessions {anonymous}; {acl}",
            self.users.len()
        )
    }
}

/// Fewest bytes an HS256 secret may have (the hash's output size, as RFC 7518 §3.2 asks).
const MIN_SECRET: usize = 32;

impl JwtConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.hs256_secret.is_some() && self.hs256_secret_file.is_some() {
            return Err(invalid(
                "auth.jwt.hs256_secret",
                "set hs256_secret or hs256_secret_file, not both",
            ));
        }
        if self.hs256_secret.is_none()
            && self.hs256_secret_file.is_none()
            && self.rs256_public_key_file.is_none()
        {
            return Err(invalid(
                "auth.jwt",
                "no key: set hs256_secret, hs256_secret_file or rs256_public_key_file",
            ));
        }
        if let Some(secret) = &self.hs256_secret {
            if secret.len() < MIN_SECRET {
                return Err(invalid(
                    "auth.jwt.hs256_secret",
                    format!("{} bytes is too short: at least {MIN_SECRET}", secret.len()),
                ));
            }
        }
        if self.user_claim.is_empty() || self.roles_claim.is_empty() {
            return Err(invalid(
                "auth.jwt.user_claim",
                "user_claim and roles_claim must not be empty",
            ));
        }
        Ok(())
    }

    /// The verifier, with its keys read.
    pub(crate) fn verifier(&self) -> Result<JwtVerifier, ConfigError> {
        self.validate()?;
        let read = |field: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| invalid(field, format!("{}: {e}", path.display())))
        };
        let secret = match (&self.hs256_secret, &self.hs256_secret_file) {
            (Some(s), _) => Some(s.as_bytes().to_vec()),
            (None, Some(path)) => {
                let mut bytes = read("auth.jwt.hs256_secret_file", path)?;
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                if bytes.len() < MIN_SECRET {
                    return Err(invalid(
                        "auth.jwt.hs256_secret_file",
                        format!(
                            "{}: {} bytes is too short: at least {MIN_SECRET}",
                            path.display(),
                            bytes.len()
                        ),
                    ));
                }
                Some(bytes)
            }
            (None, None) => None,
        };
        let public_key = match &self.rs256_public_key_file {
            Some(path) => Some((
                path.display().to_string(),
                read("auth.jwt.rs256_public_key_file", path)?,
            )),
            None => None,
        };
        JwtVerifier::new(self, secret.as_deref(), public_key)
            .map_err(|why| invalid("auth.jwt.rs256_public_key_file", why))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ServerConfig;

    const HASH: &str =
        "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$QUrf6Bs5BMf6BUKCAPUrT6gS4zWGgfSa8Xl47iGkPDg";

    #[test]
    fn an_auth_section_parses_and_anonymous_defaults_follow_the_credentials() {
        let config = ServerConfig::from_toml(&format!(
            r#"
[auth]
users = [{{ name = "alice", password_hash = "{HASH}", roles = ["admin"] }}]

[[auth.acl]]
role = "admin"
subscribe = ["/**"]
send = ["/**"]

[[auth.acl]]
subscribe = ["/topic/public.**"]
"#
        ))
        .unwrap();
        let auth = &config.auth;
        assert_eq!(auth.users[0].roles, ["admin"]);
        assert!(!auth.allows_anonymous());
        assert!(auth.authenticates());
        assert_eq!(auth.acl().unwrap().unwrap().rules().len(), 2);
        assert_eq!(
            auth.summary(),
            "authentication: 1 user(s), no JWT, anonymous sessions refused; ACL of 2 rule(s), the rest refused"
        );
        assert!(AuthConfig::default().allows_anonymous());
        assert!(!AuthConfig::default().authenticates());
    }

    #[test]
    fn bad_auth_settings_name_their_field() {
        for (text, field) in [
            (
                "[auth]\nusers = [{ name = \"a\", password_hash = \"plain\" }]",
                "auth.users",
            ),
            (
                "[auth]\nusers = [{ name = \"a\", password_hash = \"$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA\" }]",
                "auth.users",
            ),
            ("[auth.jwt]\nuser_claim = \"sub\"", "auth.jwt"),
            (
                "[auth.jwt]\nhs256_secret = \"short\"",
                "auth.jwt.hs256_secret",
            ),
            ("[[auth.acl]]\nsubscribe = [\"topic/x\"]", "auth.acl"),
            (
                "[[auth.acl]]\nuser = \"a\"\nrole = \"b\"\nsend = [\"/x\"]",
                "auth.acl",
            ),
        ] {
            match ServerConfig::from_toml(text) {
                Err(ConfigError::Invalid { field: f, why }) => {
                    assert_eq!(f, field, "{text}: {why}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_missing_key_file_is_reported_when_installing() {
        let auth = AuthConfig {
            jwt: Some(JwtConfig {
                rs256_public_key_file: Some("/nonexistent/key.pem".into()),
                ..JwtConfig::default()
            }),
            ..AuthConfig::default()
        };
        auth.validate().unwrap();
        let error = auth.install(&Broker::default()).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/key.pem"),
            "{error}"
        );
    }
}
