//! The authenticator `[auth]` configures: `login`/`passcode` against argon2 password hashes, and
//! JWT bearer tokens (HS256, RS256) in the `passcode` or the handshake's `Authorization` header.
//!
//! A wrong login or password gets one answer, `bad credentials`, whichever was wrong (an unknown
//! user is checked against a dummy hash, so the time taken does not tell either), and the server
//! logs which it was; token refusals say which check failed (expired, bad signature …). Argon2 is slow on purpose; a password that verified is
//! remembered as an HMAC-SHA256 tag (a random key per process, one entry per configured user),
//! so that a reconnecting client does not pay for the hash again.

use std::collections::HashMap;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use parking_lot::Mutex;
use ring::hmac;
use serde_json::{Map, Value};
use stompbox_broker::{Authenticator, ConnectRequest, Principal};

use crate::auth_config::{JwtConfig, UserConfig};

struct User {
    password_hash: String,
    roles: Vec<String>,
}

/// Users with password hashes, JWT, and whether anonymous sessions are allowed.
pub(crate) struct ConfigAuthenticator {
    users: HashMap<String, User>,
    jwt: Option<JwtVerifier>,
    anonymous: bool,
    /// Per user: the tag of the password that last verified.
    verified: Mutex<HashMap<String, hmac::Tag>>,
    tag_key: hmac::Key,
    /// Checked for unknown users, so that they take as long as a wrong password.
    dummy_hash: String,
}

/// What a client is told when the login or the password is wrong.
const BAD_CREDENTIALS: &str = "bad credentials";

impl ConfigAuthenticator {
    pub(crate) fn new(
        users: &[UserConfig],
        jwt: Option<JwtVerifier>,
        anonymous: bool,
    ) -> ConfigAuthenticator {
        let rng = ring::rand::SystemRandom::new();
        // Failing to get random bytes is not a state a server can run in.
        #[allow(clippy::expect_used)]
        let tag_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system randomness");
        ConfigAuthenticator {
            users: users
                .iter()
                .map(|u| {
                    let user = User {
                        password_hash: u.password_hash.clone(),
                        roles: u.roles.clone(),
                    };
                    (u.name.clone(), user)
                })
                .collect(),
            jwt,
            anonymous,
            verified: Mutex::new(HashMap::new()),
            tag_key,
            dummy_hash: users
                .first()
                .map(|u| u.password_hash.clone())
                .unwrap_or_default(),
        }
    }

    /// What is tagged: the login's length, the login, the password.
    fn message(login: &str, password: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + login.len() + password.len());
        m.extend_from_slice(&(login.len() as u64).to_le_bytes());
        m.extend_from_slice(login.as_bytes());
        m.extend_from_slice(password.as_bytes());
        m
    }

    /// Whether this password is the one that last verified for `login` (in constant time).
    fn remembered(&self, login: &str, password: &str) -> bool {
        let message = Self::message(login, password);
        self.verified
            .lock()
            .get(login)
            .is_some_and(|known| hmac::verify(&self.tag_key, &message, known.as_ref()).is_ok())
    }

    fn check_password(&self, login: &str, password: &str) -> Result<Principal, String> {
        let Some(user) = self.users.get(login) else {
            // As long as a wrong password takes (the hash of another user; whether it matches
            // does not matter).
            let _ = verify(&self.dummy_hash, password);
            tracing::info!(target: "stompbox::auth", login = clip(login), "refused: unknown user");
            return Err(BAD_CREDENTIALS.into());
        };
        let principal = || Principal::new(login).with_roles(user.roles.iter().cloned());
        if self.remembered(login, password) {
            return Ok(principal());
        }
        if !verify(&user.password_hash, password) {
            tracing::info!(target: "stompbox::auth", login = clip(login), "refused: wrong password");
            return Err(BAD_CREDENTIALS.into());
        }
        let tag = hmac::sign(&self.tag_key, &Self::message(login, password));
        self.verified.lock().insert(login.to_string(), tag);
        Ok(principal())
    }
}

/// Whether `password` matches the argon2 PHC string `hash` (validated when the configuration
/// was loaded; an unparsable one matches nothing).
///
/// Argon2 takes tens of milliseconds on purpose, and the broker calls this while handling a
/// CONNECT on a runtime worker: on a multi-threaded runtime the worker hands its other tasks to
/// the rest of the pool first (`block_in_place`), so a burst of wrong passwords slows logins,
/// not the sessions already open.
fn verify(hash: &str, password: &str) -> bool {
    let check = || {
        PasswordHash::new(hash).is_ok_and(|hash| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(check)
        }
        _ => check(),
    }
}

impl Authenticator for ConfigAuthenticator {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<Principal>, String> {
        let login = request.login.filter(|l| !l.is_empty());
        let passcode = request.passcode.filter(|p| !p.is_empty());
        if let Some(jwt) = &self.jwt {
            let token = passcode
                .filter(|p| looks_like_jwt(p))
                .or_else(|| request.bearer_token());
            if let Some(token) = token {
                return jwt.verify(token).map(Some);
            }
        }
        match (login, passcode) {
            (Some(login), passcode) => self
                .check_password(login, passcode.unwrap_or_default())
                .map(Some),
            (None, Some(_)) => Err("a passcode without a login (and not a bearer token)".into()),
            (None, None) if self.anonymous => Ok(None),
            (None, None) => Err(if self.jwt.is_some() {
                "credentials required: login and passcode, or a bearer token".into()
            } else {
                "credentials required: login and passcode".into()
            }),
        }
    }
}

/// Three base64url parts separated by dots, the first a JWT header: a password that merely
/// has two dots is still checked as a password.
fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
        && jsonwebtoken::decode_header(s).is_ok()
}

fn clip(s: &str) -> String {
    s.chars().take(100).collect()
}

/// Checks JWTs against the configured keys and turns their claims into a principal.
pub(crate) struct JwtVerifier {
    hs256: Option<DecodingKey>,
    rs256: Option<DecodingKey>,
    user_claim: String,
    roles_claim: String,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

impl JwtVerifier {
    /// `public_key`: (where it came from, PEM bytes).
    pub(crate) fn new(
        config: &JwtConfig,
        secret: Option<&[u8]>,
        public_key: Option<(String, Vec<u8>)>,
    ) -> Result<JwtVerifier, String> {
        let rs256 = match public_key {
            Some((path, pem)) => Some(
                DecodingKey::from_rsa_pem(&pem)
                    .map_err(|e| format!("{path}: not an RSA public key in PEM ({e})"))?,
            ),
            None => None,
        };
        Ok(JwtVerifier {
            hs256: secret.map(DecodingKey::from_secret),
            rs256,
            user_claim: config.user_claim.clone(),
            roles_claim: config.roles_claim.clone(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway.as_secs(),
        })
    }

    pub(crate) fn verify(&self, token: &str) -> Result<Principal, String> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| "malformed token: not a JWT".to_string())?;
        // Each key is used with its own algorithm only (no RSA key taken as an HMAC secret).
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 => self.rs256.as_ref(),
            _ => None,
        }
        .ok_or_else(|| format!("token algorithm {:?} is not accepted", header.alg))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| describe(e.kind()))?;
        let claims = data.claims;
        let name = claim(&claims, &self.user_claim)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
            .ok_or_else(|| {
                format!(
                    "token has no usable `{}` claim (a non-empty string)",
                    self.user_claim
                )
            })?;
        let roles = match claim(&claims, &self.roles_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        Ok(Principal::new(name).with_roles(roles))
    }
}

/// A claim by name, or by a dotted path into nested objects.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "expired token".into(),
        ErrorKind::ImmatureSignature => "token not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "bad token signature".into(),
        ErrorKind::InvalidAudience => "token for another audience (aud)".into(),
        ErrorKind::InvalidIssuer => "token from another issuer (iss)".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("token lacks the `{c}` claim"),
        ErrorKind::InvalidAlgorithm => "token algorithm is not accepted".into(),
        _ => "malformed token".into(),
    }
}

#[cfg(test)]
#[path = "authn_tests.rs"]
mod tests;
