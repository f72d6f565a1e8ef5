//! The config authenticator without a server: passwords, tokens, anonymous sessions.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm as Argon, Argon2, Params, Version};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;
use stompbox_broker::Transport;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// A cheap hash (tests run unoptimized); the parameters travel in the PHC string.
fn cheap_hash(password: &str) -> String {
    let params = Params::new(8, 1, 1, None).unwrap();
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Argon::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn authenticator(anonymous: bool, with_jwt: bool) -> ConfigAuthenticator {
    let users = [UserConfig {
        name: "alice".into(),
        password_hash: cheap_hash("wonderland"),
        roles: vec!["admin".into()],
    }];
    let config = JwtConfig {
        hs256_secret: Some(SECRET.into()),
        leeway: Duration::ZERO,
        roles_claim: "realm.roles".into(),
        ..JwtConfig::default()
    };
    let jwt = with_jwt.then(|| JwtVerifier::new(&config, Some(SECRET.as_bytes()), None).unwrap());
    ConfigAuthenticator::new(&users, jwt, anonymous)
}

fn connect<'a>(
    a: &ConfigAuthenticator,
    login: Option<&'a str>,
    passcode: Option<&'a str>,
    authorization: Option<&'a str>,
) -> Result<Option<Principal>, String> {
    a.authenticate(&ConnectRequest {
        login,
        passcode,
        host: None,
        headers: &[],
        transport: Transport::InMemory,
        remote: None,
        handshake_authorization: authorization,
    })
}

#[test]
fn passwords_verify_against_argon2_hashes_and_an_unknown_user_and_a_wrong_password_get_the_same_answer()
 {
    let a = authenticator(false, false);
    let alice = connect(&a, Some("alice"), Some("wonderland"), None).unwrap();
    assert_eq!(alice, Some(Principal::new("alice").with_roles(["admin"])));
    // Remembered: the second time needs no argon2 (same answer either way).
    assert!(connect(&a, Some("alice"), Some("wonderland"), None).is_ok());
    assert_eq!(
        connect(&a, Some("alice"), Some("wonderlan"), None),
        Err("bad credentials".into())
    );
    assert_eq!(
        connect(&a, Some("alice"), None, None),
        Err("bad credentials".into())
    );
    assert_eq!(
        connect(&a, Some("mallory"), Some("x"), None),
        Err("bad credentials".into())
    );
    assert!(
        connect(&a, None, None, None)
            .unwrap_err()
            .starts_with("credentials required")
    );
    assert!(connect(&a, None, Some("x"), None).is_err());
}

#[test]
fn anonymous_sessions_connect_only_without_credentials_when_allowed() {
    let a = authenticator(true, false);
    assert_eq!(connect(&a, None, None, None), Ok(None));
    assert_eq!(connect(&a, Some(""), Some(""), None), Ok(None));
    assert_eq!(
        connect(&a, Some("bob"), None, None),
        Err("bad credentials".into()),
        "a login is checked even when anonymous sessions are allowed"
    );
}

#[test]
fn hs256_tokens_in_the_passcode_or_the_handshake_header_name_the_user_and_roles() {
    let a = authenticator(false, true);
    let good = token(
        json!({"sub": "carol", "exp": now() + 60, "realm": {"roles": ["ops", "dev"]}}),
        SECRET,
    );
    let expected = Some(Principal::new("carol").with_roles(["ops", "dev"]));
    assert_eq!(
        connect(&a, Some("ignored"), Some(good.as_str()), None),
        Ok(expected.clone())
    );
    assert_eq!(
        connect(&a, None, Some(good.as_str()), None),
        Ok(expected.clone())
    );
    let bearer = format!("Bearer {good}");
    assert_eq!(connect(&a, None, None, Some(bearer.as_str())), Ok(expected));
    // Passwords still work next to tokens, also one shaped like a token.
    assert!(connect(&a, Some("alice"), Some("wonderland"), None).is_ok());
    assert_eq!(
        connect(&a, Some("alice"), Some("abc.def.ghi"), None),
        Err("bad credentials".into())
    );
}

#[test]
fn bad_tokens_are_refused_with_the_reason() {
    let a = authenticator(false, true);
    let cases = [
        (
            json!({"sub": "c", "exp": now() - 10}),
            SECRET,
            "expired token",
        ),
        (
            json!({"sub": "c", "exp": now() + 60}),
            "another secret, 32 bytes or more!",
            "bad token signature",
        ),
        (
            json!({"sub": "c", "exp": now() + 60, "nbf": now() + 3600}),
            SECRET,
            "token not valid yet (nbf)",
        ),
        (json!({"sub": "c"}), SECRET, "token lacks the `exp` claim"),
        (
            json!({"exp": now() + 60}),
            SECRET,
            "token has no usable `sub` claim (a non-empty string)",
        ),
        (
            json!({"sub": "a\nb", "exp": now() + 60}),
            SECRET,
            "token has no usable `sub` claim (a non-empty string)",
        ),
    ];
    for (claims, secret, why) in cases {
        let t = token(claims.clone(), secret);
        assert_eq!(
            connect(&a, None, Some(t.as_str()), None),
            Err(why.into()),
            "{claims}"
        );
    }
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"sub": "c", "exp": now() + 60}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        connect(&a, None, Some(hs512.as_str()), None),
        Err("token algorithm HS512 is not accepted".into())
    );
    assert_eq!(
        connect(&a, None, None, Some("Bearer not-a-token")),
        Err("malformed token: not a JWT".into())
    );
}
