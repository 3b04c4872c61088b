//! The embedded `http` source: `POST /v1/events` with a shared secret.

mod common;

use common::*;
use serde_json::json;

const SECRET: &str = "correct-horse-battery-staple";

async fn post(gateway: &Gateway, auth: Option<&str>, body: &str) -> (u16, String) {
    let header = auth.map(|a| format!("Bearer {a}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(h) = &header {
        headers.push(("Authorization", h.as_str()));
    }
    http(gateway.addr, "POST", "/v1/events", &headers, body).await
}

#[tokio::test]
async fn posted_events_are_authenticated_validated_and_delivered() {
    let gateway = Gateway::start(&["--source", "http", "--ingest-secret", SECRET, "--max-event-bytes", "2048"]);
    assert_eq!(gateway.get("/readyz").await.0, 200, "the http source is always ready");
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;

    assert_eq!(post(&gateway, None, &event(1)).await.0, 401);
    assert_eq!(post(&gateway, Some("correct-horse-battery-stapler"), &event(1)).await.0, 401);
    let (status, body) = post(&gateway, Some(SECRET), r#"{"page_title":"x"}"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("user_name"), "the error names the problem: {body}");
    let big = json!({"page_title": "P", "user_name": "U", "timestamp": "2026-11-25T01:02:03Z", "summary": "s".repeat(999), "url": format!("https://x/{}", "y".repeat(2030)), "target_title": "t".repeat(500)});
    assert_eq!(post(&gateway, Some(SECRET), &big.to_string()).await.0, 413);

    let (status, body) = post(&gateway, Some(SECRET), &event(7)).await;
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let e = next_event(&mut ws).await;
    assert_eq!(e["page_title"], "Page 7");
    assert_eq!(e["id"], id.as_str());
    assert_eq!(gateway.metric("rtn_events_dropped_total").await, 2.0);
}

#[tokio::test]
async fn ingest_is_off_without_a_secret() {
    let redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url()]);
    assert_eq!(post(&gateway, Some(SECRET), &event(1)).await.0, 404);
}

/// Issue 10 item 2: the secret is checked from the headers, before any body
/// byte is read; a body that never arrives is given up after a deadline.
#[tokio::test]
async fn the_secret_is_checked_before_the_body_which_has_a_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gateway = Gateway::start(&["--source", "http", "--ingest-secret", SECRET, "--handshake-timeout", "1"]);
    let status_of = |auth: Option<&'static str>| async move {
        let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
        let mut head = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n".to_string();
        if let Some(secret) = auth {
            head.push_str(&format!("Authorization: Bearer {secret}\r\n"));
        }
        head.push_str("\r\n"); // and no body at all
        stream.write_all(head.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_string();
        (line, started.elapsed())
    };
    let (line, took) = status_of(None).await;
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    assert!(took < std::time::Duration::from_millis(500), "answered without waiting for the body: {took:?}");
    let (line, took) = status_of(Some(SECRET)).await;
    assert!(line.starts_with("HTTP/1.1 408"), "{line}");
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    // Too large is refused from the announced length alone.
    let (status, _) = http(
        gateway.addr,
        "POST",
        "/v1/events",
        &[("Authorization", &format!("Bearer {SECRET}"))],
        &"x".repeat(70_000),
    )
    .await;
    assert_eq!(status, 413);
}
