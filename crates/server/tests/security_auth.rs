//! `[auth]` end to end: argon2 users, JWT (HS256, RS256) in the passcode and in the WebSocket
//! and SockJS handshakes, the ACL for SUBSCRIBE and SEND, and `/user/…` isolation attacks.
//! Every refusal is an ERROR frame, then close 1008 (auth, ACL) or 1002 (a malformed
//! destination).
#![allow(clippy::unwrap_used)]

#[path = "support/http.rs"]
mod http;
#[path = "support/sockjs.rs"]
mod sockjs;
mod support;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, Params};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use stompbox_server::{AclConfig, AuthConfig, JwtConfig, UserConfig};
use stompbox_stomp::{Command, Frame};
use support::{Client, TestServer, send, subscribe};

const SECRET: &str = "an HS256 secret of at least 32 bytes";
const PROTOCOLS: [&str; 1] = ["v12.stomp"];

/// A cheap argon2id hash (tests run unoptimized; the cost travels in the PHC string).
fn hash(password: &str) -> String {
    let argon = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::new(8, 1, 1, None).unwrap(),
    );
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn user(name: &str, password: &str, roles: &[&str]) -> UserConfig {
    UserConfig {
        name: name.into(),
        password_hash: hash(password),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: serde_json::Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
}

fn rs256(claims: serde_json::Value, private_key: &str) -> String {
    let pem = std::fs::read(fixture(private_key)).unwrap();
    let key = EncodingKey::from_rsa_pem(&pem).unwrap();
    encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap()
}

/// alice (admin) and bob with passwords, HS256 and RS256 tokens, no anonymous sessions.
fn auth() -> AuthConfig {
    AuthConfig {
        users: vec![
            user("alice", "wonderland", &["admin"]),
            user("bob", "builder", &[]),
        ],
        jwt: Some(JwtConfig {
            hs256_secret: Some(SECRET.into()),
            rs256_public_key_file: Some(fixture("jwt-rs256-public.pem")),
            ..JwtConfig::default()
        }),
        ..AuthConfig::default()
    }
}

async fn server(auth: AuthConfig) -> TestServer {
    TestServer::start_with(move |c| c.auth = auth).await
}

/// Sends CONNECT with these extra header lines; returns the client and the first frame.
async fn connect_with(server: &TestServer, lines: &str) -> (Client, Frame) {
    let mut c = Client::open(&server.url(), &PROTOCOLS).await;
    c.send_text(&format!(
        "CONNECT\naccept-version:1.2\nheart-beat:0,0\n{lines}\n\0"
    ))
    .await;
    let first = c.frame().await;
    (c, first)
}

/// Connected as `login`/`passcode`; asserts CONNECTED.
async fn login(server: &TestServer, login: &str, passcode: &str) -> Client {
    let (c, f) = connect_with(server, &format!("login:{login}\npasscode:{passcode}\n")).await;
    assert_eq!(f.command, Command::Connected, "{f:?}");
    assert_eq!(f.header("user-name"), Some(login));
    c
}

/// The first frame was an ERROR whose message contains `why`, then close `code`.
async fn refused(mut c: Client, first: Frame, why: &str, code: u16) {
    assert_eq!(first.command, Command::Error, "{first:?}");
    let message = first.header("message").unwrap();
    assert!(message.contains(why), "{message:?} should say {why:?}");
    assert_eq!(c.closed().await.0, code, "after {message:?}");
}

/// Sends `frame` with a receipt and returns the frame that comes back first.
async fn with_receipt(c: &mut Client, frame: Frame) -> Frame {
    c.send_frame(&frame.with_header("receipt", "sync")).await;
    c.frame().await
}

fn is_receipt(f: &Frame) -> bool {
    f.command == Command::Receipt && f.header("receipt-id") == Some("sync")
}

// Multi-threaded, as `serve` runs: argon2 runs in `block_in_place` there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argon2_users_connect_and_wrong_credentials_get_error_then_1008() {
    let server = server(auth()).await;
    login(&server, "alice", "wonderland").await;
    for (lines, why) in [
        (
            "login:alice\npasscode:wonderlan\n",
            "access refused: bad credentials",
        ),
        ("login:alice\n", "access refused: bad credentials"),
        (
            "login:mallory\npasscode:x\n",
            "access refused: bad credentials",
        ),
        ("", "access refused: credentials required"),
    ] {
        let (c, first) = connect_with(&server, lines).await;
        refused(c, first, why, 1008).await;
    }
}

#[tokio::test]
async fn jwt_in_the_passcode_hs256_and_rs256_and_bad_tokens_are_refused() {
    let server = server(auth()).await;
    let claims = json!({"sub": "carol", "exp": now() + 300, "roles": ["ops"]});
    for token in [
        hs256(claims.clone(), SECRET),
        rs256(claims, "jwt-rs256-private.pem"),
    ] {
        let (_c, f) = connect_with(&server, &format!("login:\npasscode:{token}\n")).await;
        assert_eq!(f.command, Command::Connected, "{f:?}");
        assert_eq!(f.header("user-name"), Some("carol"));
    }
    let live = json!({"sub": "carol", "exp": now() + 300});
    for (token, why) in [
        (
            hs256(json!({"sub": "carol", "exp": now() - 120}), SECRET),
            "expired token",
        ),
        (
            hs256(live.clone(), "somebody else's secret, long enough"),
            "bad token signature",
        ),
        (
            rs256(live.clone(), "jwt-rs256-other-private.pem"),
            "bad token signature",
        ),
        (
            hs256(json!({"sub": "carol"}), SECRET),
            "token lacks the `exp` claim",
        ),
    ] {
        let (c, first) = connect_with(&server, &format!("passcode:{token}\n")).await;
        refused(c, first, why, 1008).await;
    }
}

#[tokio::test]
async fn a_bearer_token_in_the_websocket_handshake_authenticates_the_session() {
    let server = server(auth()).await;
    let token = hs256(json!({"sub": "dave", "exp": now() + 300}), SECRET);
    let bearer = format!("Bearer {token}");
    let headers = [("Authorization", bearer.as_str())];
    let mut c = Client::open_with_headers(&server.url(), &PROTOCOLS, &headers).await;
    c.send_text("CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
        .await;
    let f = c.frame().await;
    assert_eq!(f.header("user-name"), Some("dave"), "{f:?}");
    let expired = hs256(json!({"sub": "dave", "exp": now() - 120}), SECRET);
    let bearer = format!("Bearer {expired}");
    let headers = [("Authorization", bearer.as_str())];
    let mut c = Client::open_with_headers(&server.url(), &PROTOCOLS, &headers).await;
    c.send_text("CONNECT\naccept-version:1.2\n\n\0").await;
    let first = c.frame().await;
    refused(c, first, "expired token", 1008).await;
}

#[tokio::test]
async fn a_bearer_token_on_the_sockjs_receiving_request_authenticates_the_session() {
    let server = server(auth()).await;
    let token = hs256(json!({"sub": "erin", "exp": now() + 300}), SECRET);
    let bearer = format!("Bearer {token}");
    let sid = sockjs::sid();
    let path = sockjs::url(&sid, "xhr");
    let opened = http::request(
        server.addr,
        "POST",
        &path,
        &[("Authorization", bearer.as_str())],
        b"",
    )
    .await;
    assert_eq!(opened.text(), "o\n");
    sockjs::xhr_send(server.addr, &sid, &[sockjs::CONNECT]).await;
    let frames = sockjs::xhr_frames(server.addr, &sid).await;
    assert_eq!(frames[0].header("user-name"), Some("erin"), "{frames:?}");
}

fn acl_config() -> AuthConfig {
    let rule =
        |user: Option<&str>, role: Option<&str>, subscribe: &[&str], send: &[&str]| AclConfig {
            user: user.map(str::to_string),
            role: role.map(str::to_string),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
            send: send.iter().map(|s| s.to_string()).collect(),
        };
    AuthConfig {
        acl: vec![
            rule(None, None, &["/topic/public.**", "/user/queue/**"], &[]),
            rule(
                Some("bob"),
                None,
                &[],
                &["/topic/public.*", "/user/*/queue/**"],
            ),
            rule(None, Some("admin"), &["/**"], &["/**"]),
        ],
        ..auth()
    }
}

#[tokio::test]
async fn the_acl_allows_and_refuses_subscribe_and_send_by_destination() {
    let server = server(acl_config()).await;
    let mut alice = login(&server, "alice", "wonderland").await;
    let got = with_receipt(&mut alice, subscribe("1", "/topic/public.news")).await;
    assert!(is_receipt(&got), "{got:?}");
    let got = with_receipt(&mut alice, subscribe("2", "/topic/secret")).await;
    assert!(is_receipt(&got), "admin may subscribe anywhere: {got:?}");
    let mut bob = login(&server, "bob", "builder").await;
    let got = with_receipt(&mut bob, send("/topic/public.news", "hi")).await;
    assert!(is_receipt(&got), "{got:?}");
    let m = alice.frame().await;
    assert_eq!((m.command, &m.body[..]), (Command::Message, &b"hi"[..]));

    let bob_subscribes = with_receipt(&mut bob, subscribe("1", "/topic/secret")).await;
    refused(
        bob,
        bob_subscribes,
        "SUBSCRIBE to `/topic/secret` refused by the ACL: no ACL rule allows user `bob` (no roles) to subscribe to it",
        1008,
    )
    .await;
    let mut bob = login(&server, "bob", "builder").await;
    let first = with_receipt(&mut bob, send("/topic/public.news/eu", "x")).await;
    refused(
        bob,
        first,
        "SEND to `/topic/public.news/eu` refused by the ACL",
        1008,
    )
    .await;
    // Inside a transaction the SEND is refused as it arrives, not at COMMIT.
    let mut bob = login(&server, "bob", "builder").await;
    bob.send_text("BEGIN\ntransaction:t\n\n\0").await;
    let first = with_receipt(
        &mut bob,
        send("/app/hello", "{}").with_header("transaction", "t"),
    )
    .await;
    refused(bob, first, "SEND to `/app/hello` refused by the ACL", 1008).await;
}

/// Destinations alice may try in order to read bob's `/user/queue/inbox`. Each is refused as
/// malformed (ERROR, then 1002) or names something of alice's own: never bob's messages.
const ATTACKS: [&str; 22] = [
    "/user/../user/bob/queue/inbox",
    "/user/bob/queue/inbox",
    "/user/bob/../../user/bob/queue/inbox",
    "/user/%2e%2e/bob/queue/inbox",
    "/user/%2E%2E%2Fbob%2Fqueue%2Finbox",
    "/user%2Fbob%2Fqueue%2Finbox",
    "/user/bob%2Fqueue%2Finbox",
    "/user//bob/queue/inbox",
    "//user/bob/queue/inbox",
    "/user/bob/queue/inbox/",
    "/user/bob./queue/inbox",
    "/user/./bob/queue/inbox",
    "/user/bob/queue/inbox.",
    "/USER/bob/queue/inbox",
    "/User/queue/inbox",
    "/user/BOB/queue/inbox",
    "/user/b\u{43e}b/queue/inbox",
    "/user/bob\u{ff0f}queue\u{ff0f}inbox",
    "/user//queue/inbox",
    "/user/queue/inbox",
    "/queue/inbox",
    "/queue/inbox-userbob",
];

#[tokio::test]
async fn user_destinations_of_another_user_cannot_be_subscribed_to_by_any_spelling() {
    let server = server(auth()).await;
    let mut bob = login(&server, "bob", "builder").await;
    assert!(is_receipt(
        &with_receipt(&mut bob, subscribe("1", "/user/queue/inbox")).await
    ));
    let mut watching = Vec::new();
    let mut refusals = 0;
    for attack in ATTACKS {
        let mut alice = login(&server, "alice", "wonderland").await;
        let got = with_receipt(&mut alice, subscribe("1", attack)).await;
        if is_receipt(&got) {
            watching.push((attack, alice));
        } else {
            refused(alice, got, "invalid destination", 1002).await;
            refusals += 1;
        }
    }
    // A control character (the broker's own key separator) is refused too.
    let mut alice = login(&server, "alice", "wonderland").await;
    alice
        .send_text("SUBSCRIBE\nid:1\ndestination:/topic/\u{1}user\u{1}bob\u{1}/queue/inbox\n\n\0")
        .await;
    let first = alice.frame().await;
    refused(alice, first, "control characters", 1002).await;
    assert_eq!(refusals, 10, "malformed spellings refused");

    // alice may send TO bob (as in Spring); only bob's session gets it.
    let mut alice = login(&server, "alice", "wonderland").await;
    let got = with_receipt(&mut alice, send("/user/bob/queue/inbox", "for bob")).await;
    assert!(is_receipt(&got), "{got:?}");
    let m = bob.frame().await;
    assert_eq!(m.header("destination"), Some("/user/queue/inbox"));
    assert_eq!(&m.body[..], b"for bob");
    for (attack, mut c) in watching {
        let got = with_receipt(&mut c, subscribe("sync", "/topic/sync")).await;
        assert!(
            is_receipt(&got),
            "alice's {attack:?} subscription got {got:?}"
        );
    }
    let first = with_receipt(&mut alice, send("/user/../bob/queue/inbox", "x")).await;
    refused(alice, first, "invalid destination", 1002).await;
}

#[tokio::test]
async fn an_anonymous_sockjs_session_named_like_a_user_gets_none_of_its_messages() {
    let server = server(AuthConfig {
        anonymous: Some(true),
        ..auth()
    })
    .await;
    let mut bob = login(&server, "bob", "builder").await;
    assert!(is_receipt(
        &with_receipt(&mut bob, subscribe("1", "/user/queue/inbox")).await
    ));
    // The SockJS session id is the client's choice: "bob".
    sockjs::xhr_connect(server.addr, "bob").await;
    let sub = "SUBSCRIBE\nid:1\ndestination:/user/queue/inbox\nreceipt:s\n\n\0";
    sockjs::xhr_send(server.addr, "bob", &[sub]).await;
    let frames = sockjs::xhr_frames(server.addr, "bob").await;
    assert_eq!(frames[0].command, Command::Receipt, "{frames:?}");
    // An anonymous WebSocket session, addressed by the id the broker gave it.
    let (mut anon, connected) = connect_with(&server, "").await;
    assert_eq!(connected.header("user-name"), None);
    let id = connected.header("session").unwrap().to_string();
    assert!(is_receipt(
        &with_receipt(&mut anon, subscribe("1", "/user/queue/inbox")).await
    ));

    let mut alice = login(&server, "alice", "wonderland").await;
    let to_anon = format!("/user/{id}/queue/inbox");
    for target in ["/user/bob/queue/inbox", to_anon.as_str()] {
        assert!(is_receipt(
            &with_receipt(&mut alice, send(target, target)).await
        ));
    }
    assert_eq!(&bob.frame().await.body[..], b"/user/bob/queue/inbox");
    assert_eq!(&anon.frame().await.body[..], to_anon.as_bytes());
    let ping = "SUBSCRIBE\nid:2\ndestination:/topic/sync\nreceipt:p\n\n\0";
    sockjs::xhr_send(server.addr, "bob", &[ping]).await;
    let frames = sockjs::xhr_frames(server.addr, "bob").await;
    assert_eq!(frames[0].command, Command::Receipt, "{frames:?}");
}
