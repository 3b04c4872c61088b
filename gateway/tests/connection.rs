//! The connection itself: the handshake the gateway answers, frames that
//! arrive together with it, and keep-alive on the gateway's clock (pings,
//! and the idle timeout for clients that never answer them).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// RFC 6455's sample key, and the accept value the RFC gives for it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn handshake(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: realtimenotify.v1\r\n\r\n"
    )
    .into_bytes()
}

/// A client's text frame: final, masked (clients must mask), short.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The server's frames in `bytes` (unmasked, as servers send them) as
/// (opcode, payload); stops at an incomplete frame.
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (opcode, short) = (bytes[0] & 0x0f, usize::from(bytes[1] & 0x7f));
        let (len, head) = match short {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            126 | 127 => break,
            n => (n, 2),
        };
        if bytes.len() < head + len {
            break;
        }
        out.push((opcode, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    out
}

/// Reads from `stream` until `done` says the bytes so far are enough, the
/// peer closes, or [`WAIT`] passes.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
        }
    }
    seen
}

/// Splits a raw response into its lowercased head and the frames after it.
fn split_response(raw: &[u8]) -> (String, Vec<(u8, Vec<u8>)>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 4);
    (String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase(), frames(&raw[end..]))
}

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
