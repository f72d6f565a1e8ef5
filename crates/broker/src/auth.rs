//! Authentication of CONNECT frames. The broker calls an [`Authenticator`]; the default allows
//! everyone and takes the `login` header as the user name.

use std::net::SocketAddr;

use stompbox_stomp::Header;

use crate::Transport;

/// What an authenticator sees of a CONNECT frame.
#[derive(Debug)]
pub struct ConnectRequest<'a> {
    /// `login` header.
    pub login: Option<&'a str>,
    /// `passcode` header.
    pub passcode: Option<&'a str>,
    /// `host` header.
    pub host: Option<&'a str>,
    /// All CONNECT headers.
    pub headers: &'a [Header],
    /// The transport.
    pub transport: Transport,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The `Authorization` header of the HTTP request that opened the connection (the WebSocket
    /// handshake, or the first receiving request of a SockJS HTTP session), e.g. `Bearer …`.
    pub handshake_authorization: Option<&'a str>,
}

impl ConnectRequest<'_> {
    /// The token of a `Bearer` handshake `Authorization` header (scheme matched
    /// case-insensitively), if there is one.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.handshake_authorization?.trim();
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }
}

/// Who a session belongs to: the user name (which keys its `/user/…` destinations and is sent
/// as `user-name` in CONNECTED) and the roles an [`crate::Authorizer`] may look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name.
    pub name: String,
    /// The user's roles (empty when none).
    pub roles: Vec<String>,
}

impl Principal {
    /// A user without roles.
    pub fn new(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            roles: Vec::new(),
        }
    }

    /// The same user with these roles.
    pub fn with_roles(mut self, roles: impl IntoIterator<Item = impl Into<String>>) -> Principal {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }
}

impl From<String> for Principal {
    fn from(name: String) -> Principal {
        Principal::new(name)
    }
}

/// Decides who may connect and as which user.
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(Some(principal))` connects as that user, `Ok(None)` anonymously (the session's
    /// `/user/…` destinations are then keyed by its session id), `Err(reason)` refuses with an
    /// ERROR frame whose `message` is `access refused: {reason}`, then close 1008.
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<Principal>, String>;
}

/// The default: everyone may connect; a non-empty `login` becomes the user name, unverified.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<Principal>, String> {
        Ok(request.login.filter(|l| !l.is_empty()).map(Principal::new))
    }
}

/// A closure returning the user name (no roles) is an authenticator too.
impl<F> Authenticator for F
where
    F: Fn(&ConnectRequest<'_>) -> Result<Option<String>, String> + Send + Sync + 'static,
{
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<Principal>, String> {
        self(request).map(|user| user.map(Principal::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> ConnectRequest<'_> {
        ConnectRequest {
            login: Some("alice"),
            passcode: None,
            host: None,
            headers: &[],
            transport: Transport::InMemory,
            remote: None,
            handshake_authorization: authorization,
        }
    }

    #[test]
    fn bearer_tokens_are_taken_from_the_handshake_header_only_with_that_scheme() {
        assert_eq!(
            request(Some("Bearer abc.def")).bearer_token(),
            Some("abc.def")
        );
        assert_eq!(request(Some("bearer   abc ")).bearer_token(), Some("abc"));
        assert_eq!(request(Some("Basic YWxpY2U6eA==")).bearer_token(), None);
        assert_eq!(request(Some("Bearer ")).bearer_token(), None);
        assert_eq!(request(None).bearer_token(), None);
    }

    #[test]
    fn allow_all_and_closures_name_the_user_without_roles() {
        assert_eq!(
            AllowAll.authenticate(&request(None)),
            Ok(Some(Principal::new("alice")))
        );
        let closure = |r: &ConnectRequest<'_>| -> Result<Option<String>, String> {
            Ok(r.login.map(str::to_uppercase))
        };
        assert_eq!(
            closure.authenticate(&request(None)),
            Ok(Some(Principal::new("ALICE")))
        );
    }
}
