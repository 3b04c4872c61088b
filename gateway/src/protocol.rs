//! The WebSocket protocol's names and numbers (`docs/protocol.md`), in one
//! place for every module that speaks it: the handshake ([`crate::upgrade`],
//! [`crate::server`]) and the connection ([`crate::client`]).

use std::fmt;

/// The subprotocol the gateway speaks; browsers offer it beside the token.
pub const PROTOCOL: &str = "realtimenotify.v1";
/// Prefix of the subprotocol entry that carries a token, so the token does
/// not have to sit in the URL (and in proxy logs).
pub const TOKEN_PROTOCOL_PREFIX: &str = "realtimenotify.token.";
/// `hello.protocol`.
pub const VERSION: u32 = 1;

/// Close codes. Below 4000 they are RFC 6455's; from 4000 on, the
/// gateway's own, which a browser can tell apart from a network fault
/// (1006) and act on.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The replay could not be served (the source's log is unreachable):
    /// reconnect with `since` a little later; nothing is lost.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The client fell behind (its queue overflowed, its oldest undelivered
    /// event is older than `--max-lag`, or its socket would not drain).
    pub const LAGGED: u16 = 4000;
    /// The connection's token expired.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// Handshake refused: malformed `since` or `filter`.
    pub const BAD_REQUEST: u16 = 4400;
    /// Handshake refused: token missing where required, invalid, expired or used.
    pub const UNAUTHORIZED: u16 = 4401;
    /// Handshake refused: `Origin` not allowed.
    pub const FORBIDDEN: u16 = 4403;
    /// Handshake refused: too many connections from this client address.
    pub const TOO_MANY: u16 = 4429;
}

/// Why a WebSocket handshake (or, for the same rules, a client message) is
/// refused. At the handshake it is answered `101` and then at once a close
/// frame with [`Refusal::code`], before any other frame: a browser sees the
/// code, where an HTTP status would reach it only as 1006.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    TooMany(String),
}

impl Refusal {
    pub fn code(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => close::BAD_REQUEST,
            Refusal::Unauthorized(_) => close::UNAUTHORIZED,
            Refusal::Forbidden(_) => close::FORBIDDEN,
            Refusal::TooMany(_) => close::TOO_MANY,
        }
    }

    /// The `reason` label of `rtn_clients_rejected_total`.
    pub fn metric(&self) -> &'static str {
        match self {
            Refusal::BadRequest(_) => "bad_request",
            Refusal::Unauthorized(_) => "token",
            Refusal::Forbidden(_) => "origin",
            Refusal::TooMany(_) => "per_ip",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Refusal::BadRequest(m) | Refusal::Unauthorized(m) | Refusal::Forbidden(m) | Refusal::TooMany(m) => m,
        }
    }

    /// The message as a close frame's reason, which RFC 6455 caps at 123
    /// bytes: cut at a character boundary.
    pub fn close_reason(&self) -> &str {
        let message = self.message();
        let mut end = message.len().min(MAX_CLOSE_REASON);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        &message[..end]
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A close frame's payload is at most 125 bytes: the code, then the reason.
pub const MAX_CLOSE_REASON: usize = 123;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_a_close_frame_and_stay_utf8() {
        let long = Refusal::BadRequest("é".repeat(100));
        assert!(long.close_reason().len() <= MAX_CLOSE_REASON);
        assert_eq!(long.close_reason().len(), 122, "cut before the character that would not fit");
        assert_eq!(Refusal::TooMany("short".into()).close_reason(), "short");
        assert_eq!(Refusal::Forbidden(String::new()).code(), 4403);
    }
}
