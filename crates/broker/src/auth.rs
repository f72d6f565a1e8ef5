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
}

/// Decides who may connect and as which user.
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok(Some(user))` connects as `user`, `Ok(None)` anonymously, `Err(reason)` refuses with an
    /// ERROR frame and close 1008.
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<String>, String>;
}

/// The default: everyone may connect; a non-empty `login` becomes the user name.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<String>, String> {
        Ok(request.login.filter(|l| !l.is_empty()).map(str::to_string))
    }
}

impl<F> Authenticator for F
where
    F: Fn(&ConnectRequest<'_>) -> Result<Option<String>, String> + Send + Sync + 'static,
{
    fn authenticate(&self, request: &ConnectRequest<'_>) -> Result<Option<String>, String> {
        self(request)
    }
}
