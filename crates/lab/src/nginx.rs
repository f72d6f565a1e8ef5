//! nginx configuration for proxying STOMP over WebSocket and SockJS to stompbox (or to the seed's
//! Spring backend), with timeouts that an idle session's heartbeat keeps alive.
//!
//! The seed's nginx had `proxy_read_timeout 10s` in front of a SockJS server that sends its `h`
//! heartbeat every 25 s: every idle session was cut after 10 s, without a WebSocket Close frame,
//! and the server logged close code 1006. [`server_block`] prints a `server {}` block whose
//! `proxy_read_timeout` and `proxy_send_timeout` sit safely above the heartbeat (see
//! [`proxy_timeout_for`]), passes the WebSocket upgrade through with the usual
//! `map $http_upgrade $connection_upgrade` ([`CONNECTION_UPGRADE_MAP`]), and turns
//! `proxy_buffering` off so that SockJS's streaming transports are delivered as they happen.
//! [`config`] validates the options and returns both, as `stompbox nginx-config` prints them.
//!
//! ```
//! use std::time::Duration;
//! use stompbox_lab::nginx::{NginxOptions, config};
//!
//! let options = NginxOptions {
//!     upstream: "127.0.0.1:8081".into(),
//!     heartbeat: Duration::from_secs(25),
//!     ..NginxOptions::default()
//! };
//! let text = config(&options).unwrap();
//! assert!(text.contains("proxy_pass http://127.0.0.1:8081/test-ws;"));
//! assert!(text.contains("proxy_read_timeout 60s;"));
//! ```

use std::time::Duration;

/// nginx's own default for `proxy_read_timeout` and `proxy_send_timeout`; the generated
/// timeouts are never below it.
pub const NGINX_DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Added to twice the heartbeat in [`proxy_timeout_for`]: room for network delay, a busy server
/// and timer granularity.
pub const TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// The longest heartbeat [`NginxOptions::validate`] accepts (one day).
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(24 * 60 * 60);

/// The `map` that sets `$connection_upgrade` for the `Connection` header sent upstream:
/// `upgrade` when the client asked for a WebSocket upgrade, `close` otherwise. It belongs in
/// nginx's `http {}` context (a file in `conf.d/` is included there), once per nginx.
pub const CONNECTION_UPGRADE_MAP: &str = "\
# This map goes in the http {} context (e.g. a file in /etc/nginx/conf.d/, which nginx.conf
# includes inside http {}), not inside a server {} block, and only once per nginx: another
# site that already defines $connection_upgrade makes nginx refuse a second one.
# It sends \"Connection: upgrade\" upstream for WebSocket handshakes and, as nginx does by
# default, \"Connection: close\" for ordinary requests (SockJS's HTTP transports).
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
";

/// What to generate a configuration for. `Default` is the seed's setup: upstream
/// `127.0.0.1:8081`, `listen 80`, no `server_name`, location `/test-ws`, 25 s heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxOptions {
    /// The server behind nginx: `HOST:PORT` (`127.0.0.1:8081`, `[::1]:8081`, `backend:8081`),
    /// optionally with `http://` or `https://` in front; no path (the path is `location`).
    pub upstream: String,
    /// The `listen` parameter: a port (`80`) or `ADDRESS:PORT` (`127.0.0.1:8080`, `[::]:80`).
    pub listen: String,
    /// `server_name`: one or more names separated by spaces; `None` leaves it out.
    pub server_name: Option<String>,
    /// The endpoint path, the same in front of nginx and on the upstream (`/test-ws`). A
    /// trailing `/` is dropped: `location /test-ws/` would answer `/test-ws` itself (the
    /// WebSocket and the SockJS greeting) with a redirect.
    pub location: String,
    /// The longest silence the server leaves on an idle session: its SockJS heartbeat (25 s,
    /// Spring's and stompbox's default) or, with SockJS off, its STOMP heart-beat interval.
    pub heartbeat: Duration,
}

impl Default for NginxOptions {
    fn default() -> Self {
        Self {
            upstream: "127.0.0.1:8081".to_owned(),
            listen: "80".to_owned(),
            server_name: None,
            location: "/test-ws".to_owned(),
            heartbeat: Duration::from_secs(25),
        }
    }
}

/// A value in [`NginxOptions`] that cannot go into an nginx configuration. The message names
/// the option as the `stompbox nginx-config` flag without its dashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NginxConfigError {
    /// `upstream` is not `[http[s]://]HOST[:PORT]`.
    #[error(
        "upstream `{0}`: expected HOST:PORT (e.g. 127.0.0.1:8081 or [::1]:8081), optionally after http:// or https://, without a path"
    )]
    Upstream(String),
    /// `listen` is not a port or `ADDRESS:PORT`.
    #[error("listen `{0}`: expected a port (80) or ADDRESS:PORT (127.0.0.1:8080, [::]:80)")]
    Listen(String),
    /// `server_name` is empty or holds characters nginx would read as syntax.
    #[error(
        "server-name `{0}`: expected one or more names separated by spaces, without ; {{ }} # $ quotes or backslashes"
    )]
    ServerName(String),
    /// `location` does not start with `/` or holds whitespace or nginx syntax.
    #[error(
        "location `{0}`: expected a path starting with / (e.g. /test-ws), without spaces, ; {{ }} # $ quotes or backslashes"
    )]
    Location(String),
    /// `heartbeat` is zero.
    #[error("heartbeat must be longer than zero")]
    ZeroHeartbeat,
    /// `heartbeat` is longer than [`MAX_HEARTBEAT`].
    #[error("heartbeat {0:?} is longer than a day")]
    HeartbeatTooLong(Duration),
}

impl NginxOptions {
    /// Checks every option; [`config`] calls it before rendering.
    pub fn validate(&self) -> Result<(), NginxConfigError> {
        if !is_upstream(&self.upstream) {
            return Err(NginxConfigError::Upstream(self.upstream.clone()));
        }
        if !is_listen(&self.listen) {
            return Err(NginxConfigError::Listen(self.listen.clone()));
        }
        if let Some(name) = &self.server_name {
            let mut names = name.split_whitespace().peekable();
            if names.peek().is_none() || !names.all(is_safe_token) || name.contains(['\n', '\r']) {
                return Err(NginxConfigError::ServerName(name.clone()));
            }
        }
        if !self.location.starts_with('/') || !is_safe_token(&self.location) {
            return Err(NginxConfigError::Location(self.location.clone()));
        }
        if self.heartbeat.is_zero() {
            return Err(NginxConfigError::ZeroHeartbeat);
        }
        if self.heartbeat > MAX_HEARTBEAT {
            return Err(NginxConfigError::HeartbeatTooLong(self.heartbeat));
        }
        Ok(())
    }

    /// The location path with any trailing `/` removed (`/` itself stays).
    pub fn location_path(&self) -> &str {
        let trimmed = self.location.trim_end_matches('/');
        if trimmed.is_empty() { "/" } else { trimmed }
    }

    /// The `proxy_pass` URL: the upstream (with `http://` unless it has a scheme) and the
    /// location path.
    pub fn proxy_pass(&self) -> String {
        let path = self.location_path();
        if self.upstream.starts_with("http://") || self.upstream.starts_with("https://") {
            format!("{}{path}", self.upstream)
        } else {
            format!("http://{}{path}", self.upstream)
        }
    }

    /// `proxy_read_timeout` / `proxy_send_timeout` for this heartbeat: [`proxy_timeout_for`].
    pub fn proxy_timeout(&self) -> Duration {
        proxy_timeout_for(self.heartbeat)
    }
}

/// The proxy timeouts that an idle session with this heartbeat survives: twice the heartbeat
/// plus [`TIMEOUT_MARGIN`], rounded up to whole seconds, and never below nginx's default
/// ([`NGINX_DEFAULT_TIMEOUT`], 60 s). Twice, so that one heartbeat sent late (a busy server, a
/// timer that restarts on every write) does not cost the session.
pub fn proxy_timeout_for(heartbeat: Duration) -> Duration {
    let wanted = heartbeat.saturating_mul(2).saturating_add(TIMEOUT_MARGIN);
    let secs = if wanted.subsec_nanos() > 0 {
        wanted.as_secs().saturating_add(1)
    } else {
        wanted.as_secs()
    };
    Duration::from_secs(secs).max(NGINX_DEFAULT_TIMEOUT)
}

/// The `server {}` block for `options`, with comments saying why each directive is there. It
/// uses `$connection_upgrade`, so [`CONNECTION_UPGRADE_MAP`] must be in the `http {}` context
/// too. Does not validate: see [`config`].
pub fn server_block(options: &NginxOptions) -> String {
    let timeout = options.proxy_timeout().as_secs();
    let heartbeat = humanize(options.heartbeat);
    let margin = TIMEOUT_MARGIN.as_secs();
    let default = NGINX_DEFAULT_TIMEOUT.as_secs();
    let location = options.location_path();
    let pass = options.proxy_pass();
    let listen = &options.listen;
    let server_name = match &options.server_name {
        Some(names) => {
            let names: Vec<&str> = names.split_whitespace().collect();
            format!("    server_name {};\n", names.join(" "))
        }
        None => String::new(),
    };
    format!(
        "\
# STOMP over WebSocket and SockJS: {location} -> {pass}
server {{
    listen {listen};
{server_name}
    location {location} {{
        proxy_pass {pass};

        # WebSocket: the upgrade needs HTTP/1.1 to the server, and Upgrade and Connection are
        # hop-by-hop headers that nginx drops unless they are set again here.
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;

        # The client's Host (with its port, so origin checks against Host pass) and address:
        # without them the server sees only nginx (Spring's ForwardedHeaderFilter reads these).
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;

        # SockJS's streaming transports (xhr_streaming, eventsource, htmlfile) are one long HTTP
        # response that carries each frame as it happens, after a 2 KiB prelude. Unbuffered, nginx
        # passes on and flushes each piece as it reads it, through every output filter. Buffered
        # (nginx's default), a filter that waits for more data holds the frames back: with gzip on
        # for application/javascript not even the response headers reach the client, and
        # sockjs-client gives up on the transport. (WebSocket connections are never buffered.)
        proxy_buffering off;

        # nginx closes a proxied connection without a WebSocket Close frame (both ends then see
        # close code 1006) when it has read nothing from the server for proxy_read_timeout; on an
        # upgraded (WebSocket) connection, traffic from the client restarts that clock too. On an
        # idle session the server's heartbeat (every {heartbeat}) may be the only traffic, so the
        # timeouts are at least twice the heartbeat plus {margin}s (one late heartbeat is not fatal)
        # and never below nginx's default of {default}s. The seed's `proxy_read_timeout 10s` with a
        # 25s SockJS heartbeat cut every idle session after 10s.
        proxy_read_timeout {timeout}s;
        proxy_send_timeout {timeout}s;
    }}
}}
"
    )
}

/// [`CONNECTION_UPGRADE_MAP`] and [`server_block`] for `options`, after
/// [`NginxOptions::validate`]: what `stompbox nginx-config` prints.
pub fn config(options: &NginxOptions) -> Result<String, NginxConfigError> {
    options.validate()?;
    Ok(format!(
        "{CONNECTION_UPGRADE_MAP}\n{}",
        server_block(options)
    ))
}

/// `25s`, `1.5s`, `2m`, `1h` — whole units where they fit.
fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 3_600_000 == 0 && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Printable ASCII without whitespace and without what nginx reads as syntax or variables.
fn is_safe_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b';' | b'{' | b'}' | b'#' | b'$' | b'"' | b'\'' | b'\\')
        })
}

fn is_port(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 5
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p))
}

/// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`, where HOST is a name or an IPv4 address.
fn is_host_port(s: &str, port_required: bool) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        let v6_ok = !v6.is_empty()
            && v6.contains(':')
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        match after.strip_prefix(':') {
            Some(port) => (v6_ok, Some(port)),
            None if after.is_empty() => (v6_ok, None),
            None => return false,
        }
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        let host_ok = !host.is_empty()
            && !host.starts_with(['-', '.'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        (host_ok, port)
    };
    host_ok
        && match port {
            Some(port) => is_port(port),
            None => !port_required,
        }
}

fn is_upstream(s: &str) -> bool {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .unwrap_or(s);
    is_host_port(rest, false)
}

fn is_listen(s: &str) -> bool {
    is_port(s) || is_host_port(s, true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn seed() -> NginxOptions {
        NginxOptions::default()
    }

    /// The directive lines of a block (comments and blank lines dropped, trimmed).
    fn directives(text: &str) -> Vec<&str> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    #[test]
    fn seed_defaults_render_the_expected_directives() {
        let block = server_block(&seed());
        assert_eq!(
            directives(&block),
            [
                "server {",
                "listen 80;",
                "location /test-ws {",
                "proxy_pass http://127.0.0.1:8081/test-ws;",
                "proxy_http_version 1.1;",
                "proxy_set_header Upgrade $http_upgrade;",
                "proxy_set_header Connection $connection_upgrade;",
                "proxy_set_header Host $http_host;",
                "proxy_set_header X-Real-IP $remote_addr;",
                "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                "proxy_set_header X-Forwarded-Proto $scheme;",
                "proxy_set_header X-Forwarded-Host $http_host;",
                "proxy_buffering off;",
                "proxy_read_timeout 60s;",
                "proxy_send_timeout 60s;",
                "}",
                "}",
            ]
        );
        assert!(block.contains("every 25s"), "{block}");
    }

    #[test]
    fn every_comment_line_is_a_comment_and_braces_balance() {
        let text = config(&NginxOptions {
            server_name: Some("www.testwebsocekt.com".into()),
            ..seed()
        })
        .unwrap();
        for l in text.lines().map(str::trim) {
            assert!(
                l.is_empty()
                    || l.starts_with('#')
                    || l.ends_with(';')
                    || l.ends_with('{')
                    || l == "}",
                "not a directive, block or comment: {l:?}"
            );
        }
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn config_has_the_map_outside_the_server_block() {
        let text = config(&seed()).unwrap();
        let map = text
            .find("map $http_upgrade $connection_upgrade {")
            .unwrap();
        let server = text.find("\nserver {\n").unwrap();
        assert!(map < server);
        assert!(text.contains("default upgrade;"));
        assert!(text.contains("''      close;"));
        assert!(text[..map].contains("http {} context"));
    }

    #[test]
    fn timeouts_are_twice_the_heartbeat_plus_margin_never_below_60s() {
        let secs = |s: u64| proxy_timeout_for(Duration::from_secs(s)).as_secs();
        assert_eq!(secs(1), 60);
        assert_eq!(secs(5), 60);
        assert_eq!(secs(25), 60);
        assert_eq!(secs(26), 62);
        assert_eq!(secs(45), 100);
        assert_eq!(secs(3600), 7210);
        assert_eq!(
            proxy_timeout_for(Duration::from_millis(30_250)).as_secs(),
            71
        );
        for hb in [1, 10, 25, 30, 59, 61, 300] {
            let t = secs(hb);
            assert!(t >= 2 * hb + 10 && t >= 60, "{hb}s -> {t}s");
        }
        let block = server_block(&NginxOptions {
            heartbeat: Duration::from_secs(45),
            ..seed()
        });
        assert!(block.contains("proxy_read_timeout 100s;"));
        assert!(block.contains("proxy_send_timeout 100s;"));
        assert!(block.contains("every 45s"));
    }

    #[test]
    fn listen_server_name_location_and_upstream_scheme() {
        let options = NginxOptions {
            upstream: "https://backend.internal:8443".into(),
            listen: "127.0.0.1:8080".into(),
            server_name: Some("  www.testwebsocekt.com   example.com ".into()),
            location: "/stomp/".into(),
            heartbeat: Duration::from_millis(1500),
        };
        options.validate().unwrap();
        let block = server_block(&options);
        let d = directives(&block);
        assert!(d.contains(&"listen 127.0.0.1:8080;"));
        assert!(d.contains(&"server_name www.testwebsocekt.com example.com;"));
        assert!(d.contains(&"location /stomp {"));
        assert!(d.contains(&"proxy_pass https://backend.internal:8443/stomp;"));
        assert!(block.contains("every 1.5s"));
        let root = NginxOptions {
            location: "/".into(),
            upstream: "[::1]:8081".into(),
            listen: "[::]:80".into(),
            ..seed()
        };
        root.validate().unwrap();
        let d = server_block(&root);
        assert!(d.contains("location / {"));
        assert!(d.contains("proxy_pass http://[::1]:8081/;"));
        assert!(d.contains("listen [::]:80;"));
    }

    #[test]
    fn bad_values_are_refused_with_the_option_named() {
        let bad = |o: NginxOptions| o.validate().unwrap_err();
        for upstream in [
            "",
            "http://",
            "127.0.0.1:8081/test-ws",
            "http://127.0.0.1:8081/",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "::1:8081",
            "[::1",
            "host:80; evil",
            "ws://127.0.0.1:8081",
            "$host:80",
        ] {
            assert_eq!(
                bad(NginxOptions {
                    upstream: upstream.into(),
                    ..seed()
                }),
                NginxConfigError::Upstream(upstream.into())
            );
        }
        for listen in ["", "0", "99999", "80;", "80 ssl", "localhost", "[::1]"] {
            assert_eq!(
                bad(NginxOptions {
                    listen: listen.into(),
                    ..seed()
                }),
                NginxConfigError::Listen(listen.into())
            );
        }
        for name in ["", "   ", "a;b", "x{", "$host"] {
            assert_eq!(
                bad(NginxOptions {
                    server_name: Some(name.into()),
                    ..seed()
                }),
                NginxConfigError::ServerName(name.into())
            );
        }
        for location in ["", "test-ws", "/a b", "/x;", "/x{", "/é"] {
            assert_eq!(
                bad(NginxOptions {
                    location: location.into(),
                    ..seed()
                }),
                NginxConfigError::Location(location.into())
            );
        }
        assert_eq!(
            bad(NginxOptions {
                heartbeat: Duration::ZERO,
                ..seed()
            }),
            NginxConfigError::ZeroHeartbeat
        );
        assert!(matches!(
            bad(NginxOptions {
                heartbeat: Duration::from_secs(86_401),
                ..seed()
            }),
            NginxConfigError::HeartbeatTooLong(_)
        ));
        let message = bad(NginxOptions {
            upstream: "http://x/y".into(),
            ..seed()
        })
        .to_string();
        assert!(
            message.starts_with("upstream `http://x/y`: expected HOST:PORT"),
            "{message}"
        );
        assert!(
            config(&NginxOptions {
                listen: "x".into(),
                ..seed()
            })
            .is_err()
        );
    }
}
