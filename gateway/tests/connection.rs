//! The connection itself: the handshake the gateway answers, frames that
//! arrive together with it, and keep-alive on the gateway's clock (pings,
//! and the idle timeout for clients that never answer them).

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The accept value RFC 6455 gives for its sample key ([`KEY`]).
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

#[tokio::test]
async fn the_handshake_is_answered_per_rfc_6455_and_frames_sent_with_it_are_read() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
    // One write: the handshake and, right behind it, a message. The gateway
    // must not lose bytes that arrived with the upgrade request.
    let mut bytes = handshake(gateway.addr);
    bytes.extend(masked_text(br#"{"op":"ping"}"#));
    stream.write_all(&bytes).await.expect("write");

    let raw = read_until(&mut stream, |seen| String::from_utf8_lossy(seen).contains(r#""op":"pong""#)).await;
    let (head, frames) = split_response(&raw);
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains(&format!("sec-websocket-accept: {}", ACCEPT.to_ascii_lowercase())), "{head}");
    assert!(head.contains("sec-websocket-protocol: realtimenotify.v1"), "{head}");
    let texts: Vec<String> =
        frames.iter().filter(|f| f.0 == 1).map(|f| String::from_utf8_lossy(&f.1).into_owned()).collect();
    assert_eq!(texts.len(), 2, "hello, then the answer: {texts:?}");
    assert!(texts[0].contains(r#""op":"hello""#), "{texts:?}");
    assert!(texts[1].contains(r#""op":"pong""#), "{texts:?}");
}

#[tokio::test]
async fn requests_that_are_not_websocket_handshakes_are_refused() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let (status, body) = gateway.get("/v1/ws").await;
    assert_eq!(status, 426, "{body}");
    let old = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "8"),
        ("Sec-WebSocket-Key", KEY),
    ];
    let (status, body) = http(gateway.addr, "GET", "/v1/ws", &old, "").await;
    assert_eq!(status, 426, "{body}");
    let keyless = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")];
    let (status, body) = http(gateway.addr, "GET", "/v1/ws", &keyless, "").await;
    assert_eq!(status, 400, "{body}");
}

/// RFC 6455 section 4.2.1: the key is a base64-encoded 16-byte nonce;
/// anything else is not a WebSocket handshake (400), however well-formed the
/// rest of it.
#[tokio::test]
async fn a_key_that_is_not_a_16_byte_nonce_is_refused() {
    let (_redis, gateway) = redis_gateway(&[]).await;
    let with_key = |key: &'static str| {
        [
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", key),
        ]
    };
    for bad in ["abc", "dGhlIHNhbXBsZSBub25jZSE=", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZSEhISE="] {
        let (status, body) = http(gateway.addr, "GET", "/v1/ws", &with_key(bad), "").await;
        assert_eq!(status, 400, "key {bad:?}: {body}");
        assert!(body.contains("16-byte nonce"), "{body}");
    }
    let (head, frames) = raw_handshake(gateway.addr, "/v1/ws", &[]).await;
    assert!(head.starts_with("http/1.1 101"), "the sample key of RFC 6455 is fine: {head}");
    assert!(frames.first().is_some_and(|f| f.0 == 1), "{frames:?}");
}

/// A proper WebSocket handshake that is refused is upgraded and then closed
/// at once with a 44xx code and its reason: the close frame is the first
/// and only frame, and the server then ends the connection.
#[tokio::test]
async fn refused_handshakes_are_closed_with_a_code_before_any_other_frame() {
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url(), "--allowed-origins", "https://wiki.test"]);
    gateway.wait_ready().await;
    redis.publish("mediawiki:notifications", &event(1)).await; // something a leak could show
    for (target, extra, code, reason) in [
        ("/v1/ws?since=yesterday", &[][..], 4400, "is not an event id"),
        ("/v1/ws?filter=%7Bnope", &[], 4400, "bad filter"),
        ("/v1/ws?filter=%7B%22addressed%22%3Atrue%7D", &[], 4401, "needs a token"),
        ("/v1/ws?token=abc", &[], 4401, "does not accept tokens"),
        ("/v1/ws", &[("Origin", "https://evil.test")], 4403, "origin"),
        ("/?since=0-1", &[("Origin", "https://evil.test")], 4403, "origin"),
    ] {
        let mut stream = TcpStream::connect(gateway.addr).await.expect("connect");
        stream.write_all(&handshake_with(gateway.addr, target, extra)).await.expect("write");
        // Everything until the server ends the connection.
        let raw = read_until(&mut stream, |_| false).await;
        let (head, frames) = split_response(&raw);
        assert!(head.starts_with("http/1.1 101"), "{target}: {head}");
        assert_eq!(frames.len(), 1, "{target}: the close frame and nothing else: {frames:?}");
        let (got, why) = close_of(&frames[0]);
        assert_eq!(got, code, "{target}: {why}");
        assert!(why.contains(reason), "{target}: {why:?}");
    }
    assert_eq!(gateway.metric("rtn_clients_rejected_total").await, 6.0);
    assert_eq!(gateway.metric("rtn_clients_connected").await, 0.0);
}

/// Behind a CDN and nginx (both trusted), the client is the first address
/// in `X-Forwarded-For` from the right that is not a trusted proxy: its
/// per-IP limit holds whatever the client writes further left, and another
/// client behind the same CDN is not limited by it.
#[tokio::test]
async fn forwarded_for_is_walked_past_every_trusted_proxy() {
    let (_redis, gateway) =
        redis_gateway(&["--trusted-proxies", "127.0.0.1,203.0.113.0/24", "--max-connections-per-ip", "1"]).await;
    let chain = |forged: &'static str, client: &'static str| {
        vec![("X-Forwarded-For", format!("{forged}, {client}")), ("X-Forwarded-For", "203.0.113.5".to_string())]
    };
    let open = |headers: Vec<(&'static str, String)>| {
        let addr = gateway.addr;
        async move {
            let extra: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(&handshake_with(addr, "/v1/ws", &extra)).await.expect("write");
            let raw = read_until(&mut stream, |seen| !split_response(seen).1.is_empty()).await;
            (stream, split_response(&raw).1)
        }
    };
    let (_held, frames) = open(chain("6.6.6.6", "198.51.100.7")).await;
    assert_eq!(frames[0].0, 1, "the first socket of 198.51.100.7 is admitted: {frames:?}");
    let (_, frames) = open(chain("7.7.7.7", "198.51.100.7")).await;
    let (code, reason) = close_of(&frames[0]);
    assert_eq!(
        (code, reason.as_str()),
        (4429, "too many connections from 198.51.100.7"),
        "a forged entry changes nothing"
    );
    let (_other, frames) = open(chain("6.6.6.6", "198.51.100.8")).await;
    assert_eq!(frames[0].0, 1, "another client behind the same CDN is admitted: {frames:?}");
    // An unreadable entry right of the client: what is known is the CDN's address.
    let (_cdn, frames) = open(vec![("X-Forwarded-For", "198.51.100.9, bogus, 203.0.113.5".to_string())]).await;
    assert_eq!(frames[0].0, 1, "{frames:?}");
    let (_, frames) = open(vec![("X-Forwarded-For", "198.51.100.10, bogus, 203.0.113.5".to_string())]).await;
    assert_eq!(close_of(&frames[0]), (4429, "too many connections from 203.0.113.5".to_string()));
}

/// Every client is pinged on the gateway's clock. One that answers stays;
/// one that never sends a frame (not even a pong) is closed with 1000 once
/// the idle timeout has passed.
#[tokio::test]
async fn the_clock_pings_clients_and_closes_silent_ones() {
    let (redis, gateway) = redis_gateway(&["--ping-interval", "1", "--idle-timeout", "3"]).await;
    // tungstenite answers pings by itself whenever the socket is read.
    let (mut lively, _) = connect_hello(&gateway.ws_url()).await;
    // A bare socket never answers anything.
    let mut silent = TcpStream::connect(gateway.addr).await.expect("connect");
    silent.write_all(&handshake(gateway.addr)).await.expect("write");

    let (silent_raw, pings) =
        tokio::join!(read_until(&mut silent, |seen| split_response(seen).1.iter().any(|f| f.0 == 8)), async {
            let mut pings = 0;
            let until = tokio::time::Instant::now() + Duration::from_secs(6);
            while let Ok(next) = tokio::time::timeout_at(until, lively.next()).await {
                match next {
                    Some(Ok(Message::Ping(_))) => pings += 1,
                    other => panic!("the answering client got {other:?}"),
                }
            }
            pings
        });
    assert!(pings >= 4, "one ping per second, got {pings} in 6 s");
    let (_, frames) = split_response(&silent_raw);
    let close = frames.iter().find(|f| f.0 == 8).expect("the silent client got a close frame");
    assert_eq!(&close.1[..2], &1000u16.to_be_bytes(), "close code 1000");
    assert_eq!(&close.1[2..], b"idle timeout");
    assert!(frames.iter().any(|f| f.0 == 9), "it was pinged before");

    // The answering client is still served.
    redis.publish("mediawiki:notifications", &event(1)).await;
    assert_eq!(next_event(&mut lively).await["page_title"], "Page 1");
}
