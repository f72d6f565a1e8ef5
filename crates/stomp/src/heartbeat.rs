//! The `heart-beat` header and its negotiation (STOMP 1.2 "Heart-beating").

use std::fmt;
use std::time::Duration;

/// A `heart-beat: cx,cy` header value, in milliseconds: the sender can send a heart-beat every
/// `send` ms (0 = cannot) and wants to receive one every `receive` ms (0 = does not want any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeartBeat {
    /// How often the sender of the header can send (first number). 0 = never.
    pub send: u32,
    /// How often the sender of the header wants to receive (second number). 0 = never.
    pub receive: u32,
}

/// A malformed `heart-beat` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid heart-beat header `{0}`: expected two non-negative integers `cx,cy` in milliseconds"
)]
pub struct HeartBeatError(pub String);

/// The intervals a server uses for one session after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// The server sends an EOL when it has sent nothing for this long.
    pub send: Option<Duration>,
    /// The client promised to send something at least this often.
    pub receive: Option<Duration>,
}

impl HeartBeat {
    /// A header value.
    pub const fn new(send: u32, receive: u32) -> HeartBeat {
        HeartBeat { send, receive }
    }

    /// Parses `cx,cy` (spaces around the numbers tolerated).
    pub fn parse(value: &str) -> Result<HeartBeat, HeartBeatError> {
        let err = || HeartBeatError(value.chars().take(64).collect());
        let (a, b) = value.split_once(',').ok_or_else(err)?;
        let send = a.trim().parse::<u32>().map_err(|_| err())?;
        let receive = b.trim().parse::<u32>().map_err(|_| err())?;
        Ok(HeartBeat { send, receive })
    }

    /// From the server's side: `self` is what the server offers in CONNECTED, `client` what
    /// the client sent in CONNECT. Each direction uses the larger of the two wishes, or none
    /// when either side said 0.
    pub fn negotiate(self, client: HeartBeat) -> Negotiated {
        let pick =
            |a: u32, b: u32| (a != 0 && b != 0).then(|| Duration::from_millis(u64::from(a.max(b))));
        Negotiated {
            send: pick(self.send, client.receive),
            receive: pick(client.send, self.receive),
        }
    }
}

impl fmt::Display for HeartBeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.send, self.receive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_takes_the_larger_wish_per_direction() {
        let server = HeartBeat::new(10_000, 10_000);
        let n = server.negotiate(HeartBeat::new(4_000, 20_000));
        assert_eq!(n.send, Some(Duration::from_millis(20_000)));
        assert_eq!(n.receive, Some(Duration::from_millis(10_000)));
    }

    #[test]
    fn zero_on_either_side_disables_a_direction() {
        let n = HeartBeat::new(10_000, 10_000).negotiate(HeartBeat::new(0, 0));
        assert_eq!(n, Negotiated::default());
        let n = HeartBeat::new(0, 5_000).negotiate(HeartBeat::new(1_000, 1_000));
        assert_eq!(n.send, None);
        assert_eq!(n.receive, Some(Duration::from_millis(5_000)));
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(HeartBeat::parse(" 10, 20"), Ok(HeartBeat::new(10, 20)));
        assert!(HeartBeat::parse("10").is_err());
        assert!(HeartBeat::parse("-1,0").is_err());
        assert!(HeartBeat::parse("a,b").is_err());
    }
}
