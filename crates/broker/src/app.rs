//! Application destinations (`/app/…`): Rust handlers that receive SEND frames, like Spring's
//! `@MessageMapping` methods, and may publish to any destination or reply to the sender
//! (like `@SendTo` and `@SendToUser`).

use bytes::Bytes;
use stompbox_stomp::Header;

/// A SEND to an `/app/…` destination, as a handler sees it.
#[derive(Debug)]
pub struct AppRequest<'a> {
    /// The path after `/app`, with its leading slash (`/hello`).
    pub path: &'a str,
    /// The SEND frame's headers.
    pub headers: &'a [Header],
    /// The body.
    pub body: &'a Bytes,
    /// The sending session.
    pub session_id: &'a str,
    /// The sending session's user, if authenticated.
    pub user: Option<&'a str>,
}

impl AppRequest<'_> {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One thing a handler asks the broker to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppAction {
    Publish {
        destination: String,
        headers: Vec<Header>,
        body: Bytes,
    },
    Reply {
        destination: String,
        headers: Vec<Header>,
        body: Bytes,
    },
}

/// What a handler answers: messages to publish and replies to the sender. An `Err(text)` from the
/// handler becomes an ERROR frame for the sender.
#[derive(Debug, Default)]
pub struct AppReply {
    pub(crate) actions: Vec<AppAction>,
}

impl AppReply {
    /// Publishes to any destination (`/topic/…`, `/queue/…`, `/user/{name}/…`), like `@SendTo`.
    pub fn publish(&mut self, destination: impl Into<String>, body: impl Into<Bytes>) -> &mut Self {
        self.publish_with_headers(destination, Vec::new(), body)
    }

    /// [`AppReply::publish`] with extra headers (e.g. `content-type`).
    pub fn publish_with_headers(
        &mut self,
        destination: impl Into<String>,
        headers: Vec<Header>,
        body: impl Into<Bytes>,
    ) -> &mut Self {
        self.actions.push(AppAction::Publish {
            destination: destination.into(),
            headers,
            body: body.into(),
        });
        self
    }

    /// Replies to the sending session only, on its subscription to `/user{destination}`
    /// (`reply("/queue/reply", …)` reaches a SUBSCRIBE to `/user/queue/reply`), like
    /// `@SendToUser(broadcast = false)`.
    pub fn reply(&mut self, destination: impl Into<String>, body: impl Into<Bytes>) -> &mut Self {
        self.actions.push(AppAction::Reply {
            destination: destination.into(),
            headers: Vec::new(),
            body: body.into(),
        });
        self
    }
}

/// A handler for one `/app/…` path.
pub trait AppHandler: Send + Sync + 'static {
    /// Handles one SEND. Must not block: it runs on the sender's connection task.
    fn handle(&self, request: &AppRequest<'_>, reply: &mut AppReply) -> Result<(), String>;
}

impl<F> AppHandler for F
where
    F: Fn(&AppRequest<'_>, &mut AppReply) -> Result<(), String> + Send + Sync + 'static,
{
    fn handle(&self, request: &AppRequest<'_>, reply: &mut AppReply) -> Result<(), String> {
        self(request, reply)
    }
}

/// The demo handler the server installs at `/app/hello`, after Spring's "Using WebSocket to build an
/// interactive web application" guide: a body `{"name":"X"}` (or plain text `X`) is answered on
/// `/topic/greetings` with `{"content":"Hello, X!"}`.
pub fn hello_handler(request: &AppRequest<'_>, reply: &mut AppReply) -> Result<(), String> {
    let text = std::str::from_utf8(request.body).map_err(|_| "body is not UTF-8".to_string())?;
    let name = json_string_field(text, "name").unwrap_or_else(|| text.trim().to_string());
    let content = format!("Hello, {}!", name);
    let body = format!("{{\"content\":\"{}\"}}", json_escape(&content));
    reply.publish_with_headers(
        "/topic/greetings",
        vec![("content-type".into(), "application/json".into())],
        body,
    );
    Ok(())
}

/// Extracts `"field":"value"` from a flat JSON object without a JSON dependency; good enough for
/// the demo handler, which falls back to the raw text.
fn json_string_field(text: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\"");
    let after = &text[text.find(&key)? + key.len()..];
    let after = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = after.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_greets_by_json_name_or_plain_text() {
        for (body, want) in [
            (&b"{\"name\":\"Ada\"}"[..], "{\"content\":\"Hello, Ada!\"}"),
            (b"Bob", "{\"content\":\"Hello, Bob!\"}"),
            (
                b"{\"name\": \"q\\\"x\"}",
                "{\"content\":\"Hello, q\\\"x!\"}",
            ),
        ] {
            let body = Bytes::copy_from_slice(body);
            let req = AppRequest {
                path: "/hello",
                headers: &[],
                body: &body,
                session_id: "s",
                user: None,
            };
            let mut reply = AppReply::default();
            hello_handler(&req, &mut reply).expect("handled");
            match &reply.actions[..] {
                [
                    AppAction::Publish {
                        destination, body, ..
                    },
                ] => {
                    assert_eq!(destination, "/topic/greetings");
                    assert_eq!(body, want.as_bytes());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
