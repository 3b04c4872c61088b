//! The WebSocket handshake (RFC 6455, section 4.2): checks the upgrade
//! request, answers 101, and turns the connection into a [`Socket`].
//!
//! axum's `WebSocketUpgrade` would do the same, but it hands over the socket
//! boxed behind hyper's `Upgraded` and wrapped once more, and its spawned
//! task keeps room for its own state beside ours. Idle connections are most
//! of a gateway's memory, so the gateway takes the plain `TcpStream` back
//! (hyper-util's `downcast`) and puts tungstenite right on it. The accept
//! key still comes from tungstenite.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::WebSocketConfig;

use crate::protocol::PROTOCOL;
use crate::socket::Socket;

/// A checked WebSocket upgrade request (an axum extractor).
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
    /// The client offered our subprotocol; the answer names it.
    protocol: Option<HeaderValue>,
}

/// Why a request is not a WebSocket handshake we can take.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection(StatusCode, &'static str);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut response = (self.0, self.1).into_response();
        if self.0 == StatusCode::UPGRADE_REQUIRED {
            response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Upgrade, Rejection> {
        let key = check(&parts.method, &parts.headers)?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(Rejection(StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded\n"))?;
        let protocol = offers(&parts.headers, PROTOCOL).then(|| HeaderValue::from_static(PROTOCOL));
        Ok(Upgrade { key, on_upgrade, protocol })
    }
}

/// The handshake's header checks; the client's key when they pass.
pub(crate) fn check(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, Rejection> {
    if method != Method::GET {
        return Err(Rejection(StatusCode::METHOD_NOT_ALLOWED, "a WebSocket handshake is a GET\n"));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Rejection(StatusCode::UPGRADE_REQUIRED, "this endpoint speaks WebSocket only\n"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err(Rejection(StatusCode::UPGRADE_REQUIRED, "unsupported WebSocket version (13 is)\n"));
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if is_nonce(key.as_bytes()) => Ok(key.clone()),
        Some(_) => Err(Rejection(StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is not a base64 16-byte nonce\n")),
        None => Err(Rejection(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n")),
    }
}

/// Whether `key` is what RFC 6455 (section 4.2.1) asks of a
/// `Sec-WebSocket-Key`: 16 bytes in base64, which is always 22 characters
/// of the base64 alphabet and `==` (the rule Node's `ws` applies too).
fn is_nonce(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The entries of a comma-separated header (all its lines), trimmed.
pub fn list(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &str> {
    headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    list(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Whether the client offered subprotocol `protocol`.
pub(crate) fn offers(headers: &HeaderMap, protocol: &str) -> bool {
    list(headers, header::SEC_WEBSOCKET_PROTOCOL).any(|p| p == protocol)
}

impl Upgrade {
    /// The 101 answer, and the connection to come: once hyper has sent the
    /// answer it hands the stream over to [`Pending::socket`].
    pub fn accept(self) -> (Response, Pending) {
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(self.key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = self.protocol {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        (response, Pending(self.on_upgrade))
    }
}

/// An accepted upgrade whose connection hyper has not handed over yet.
pub struct Pending(OnUpgrade);

impl Pending {
    /// The WebSocket, once hyper hands the connection over; `None` (logged)
    /// when it never does, e.g. the client left right after the handshake.
    pub async fn socket(self, config: WebSocketConfig) -> Option<Socket> {
        let upgraded = match self.0.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(error = %err, "upgrade did not complete");
                return None;
            }
        };
        // Always a TCP stream: `server::accept` serves nothing else.
        let Ok(parts) = hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) else {
            tracing::error!("upgraded connection is not a TCP stream; dropping it");
            return None;
        };
        // The client may have sent frames right behind its handshake.
        Some(Socket::new(parts.io.into_inner(), parts.read_buf.to_vec(), config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    const GOOD: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "WebSocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn accepts_a_proper_handshake_case_insensitively() {
        assert_eq!(check(&Method::GET, &handshake(&GOOD)).unwrap(), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn refuses_what_is_not_a_websocket_handshake() {
        assert_eq!(check(&Method::POST, &handshake(&GOOD)).unwrap_err().0, StatusCode::METHOD_NOT_ALLOWED);
        for (missing, header) in GOOD.iter().enumerate() {
            let mut pairs = GOOD.to_vec();
            pairs.remove(missing);
            assert!(check(&Method::GET, &handshake(&pairs)).is_err(), "accepted without {header:?}");
        }
        let mut old = GOOD.to_vec();
        old[2] = ("sec-websocket-version", "8");
        assert_eq!(check(&Method::GET, &handshake(&old)).unwrap_err().0, StatusCode::UPGRADE_REQUIRED);
    }

    #[test]
    fn the_key_must_be_a_base64_16_byte_nonce() {
        let with_key = |key: &'static str| {
            let mut pairs = GOOD.to_vec();
            pairs[3] = ("sec-websocket-key", key);
            check(&Method::GET, &handshake(&pairs))
        };
        for good in ["dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA==", "+/+/+/+/+/+/+/+/+/+/+w=="] {
            assert!(with_key(good).is_ok(), "{good} is 16 bytes in base64");
        }
        for bad in [
            "abc",
            "",
            "dGhlIHNhbXBsZSBub25jZQ",       // no padding
            "dGhlIHNhbXBsZSBub25jZQ=",      // short padding
            "dGhlIHNhbXBsZSBub25jZSE=",     // 17 bytes
            "dGhlIHNhbXBsZSBub25j",         // 15 bytes
            "dGhlIHNhbXBsZSBub25jZQ==AAAA", // 19 bytes
            "dGhlIHNhbXBsZSBub25jZ-==",     // not the base64 alphabet
            "dGhlIHNhbXBsZSBub25j ZQ==",
        ] {
            assert_eq!(with_key(bad).unwrap_err().0, StatusCode::BAD_REQUEST, "{bad:?} is refused");
        }
    }

    #[test]
    fn names_our_subprotocol_only_when_offered() {
        let offered = handshake(&[("sec-websocket-protocol", "realtimenotify.token.abc, realtimenotify.v1")]);
        assert!(offers(&offered, "realtimenotify.v1"));
        assert!(!offers(&offered, "realtimenotify.token"));
        assert!(!offers(&handshake(&[]), "realtimenotify.v1"));
    }
}
