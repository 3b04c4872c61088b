//! `GET /v1/status` (issue 15 §1): nothing for a stranger, the numbers for
//! a status token.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "0123456789abcdef0123456789abcdef-status";
const INGEST: &str = "ingest-secret-for-status-test";
const WIKI: &str = "testwiki";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn sign(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("signing a token")
}

/// A status token as the wiki mints it (StatusToken.php).
fn status_token(secret: &str, audience: &str, exp: u64) -> String {
    sign(
        secret,
        json!({"iss": "realtimenotify", "aud": audience, "sub": "1", "iat": now(), "nbf": now(), "exp": exp, "jti": "x1"}),
    )
}

async fn status(gateway: &Gateway, token: Option<&str>) -> (u16, String) {
    let header = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = header.iter().map(|h| ("Authorization", h.as_str())).collect();
    http(gateway.addr, "GET", "/v1/status", &headers, "").await
}

fn gateway() -> Gateway {
    Gateway::start(&["--source", "http", "--ingest-secret", INGEST, "--token-secrets", SECRET, "--wiki-id", WIKI])
}

#[tokio::test]
async fn strangers_get_401_and_nothing_else() {
    let gateway = gateway();
    let later = now() + 60;
    let audience = format!("{WIKI}/status");
    let refused = [
        None,
        Some("not-a-jwt".to_string()),
        // A connection token (audience: the wiki) is no status token.
        Some(status_token(SECRET, WIKI, later)),
        Some(status_token("another-secret-0123456789abcdef0123", &audience, later)),
        Some(status_token(SECRET, "otherwiki/status", later)),
        Some(status_token(SECRET, &audience, now() - 120)),
        // The ingest secret is no status token either.
        Some(INGEST.to_string()),
    ];
    for token in refused {
        let (code, body) = status(&gateway, token.as_deref()).await;
        assert_eq!(code, 401, "{token:?}");
        assert_eq!(body, "", "{token:?}: a refusal says nothing");
    }
    // Without any token secret, status is closed to everyone, the same way.
    let closed = Gateway::start(&["--source", "http", "--ingest-secret", INGEST]);
    let (code, body) = status(&closed, Some(&status_token(SECRET, &audience, later))).await;
    assert_eq!((code, body.as_str()), (401, ""));
}

#[tokio::test]
async fn a_status_token_gets_the_numbers() {
    let gateway = gateway();
    let token = status_token(SECRET, &format!("{WIKI}/status"), now() + 60);
    let (code, body) = status(&gateway, Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["ready"], true);
    assert_eq!(report["source"], json!({"kind": "http", "up": true}));
    assert_eq!(report["broker"]["kind"], "none");
    assert_eq!(report["clients"], 0.0);
    assert_eq!(report["events_received"], 0.0);
    assert_eq!(report["last_event_age_seconds"], Value::Null);
    assert_eq!(report["latency_p50_ms"], Value::Null);
    assert!(report["series"].is_array());

    // One client, one event delivered to it.
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    let auth = format!("Bearer {INGEST}");
    let headers = [("Content-Type", "application/json"), ("Authorization", auth.as_str())];
    assert_eq!(http(gateway.addr, "POST", "/v1/events", &headers, &event(1)).await.0, 202);
    next_event(&mut ws).await;
    let (_, body) = status(&gateway, Some(&token)).await;
    let report: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["clients"], 1.0, "{report}");
    assert_eq!(report["events_received"], 1.0, "{report}");
    assert_eq!(report["events_delivered"], 1.0, "{report}");
    assert_eq!(report["slow_client_drops"], 0.0, "{report}");
    let age = report["last_event_age_seconds"].as_f64().expect("an age");
    assert!((0.0..10.0).contains(&age), "{report}");
    let p50 = report["latency_p50_ms"].as_f64().expect("a p50");
    let p99 = report["latency_p99_ms"].as_f64().expect("a p99");
    assert!(p50 > 0.0 && p50 <= p99 && p99 < 2500.0, "{report}");
}

/// Neither token is the other: a status token opens no WebSocket (the
/// connection verifier wants the wiki itself as audience).
#[tokio::test]
async fn a_status_token_is_no_connection_token() {
    let gateway = gateway();
    let token = status_token(SECRET, &format!("{WIKI}/status"), now() + 60);
    let (head, frames) = raw_handshake(gateway.addr, &format!("/v1/ws?token={token}"), &[]).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert_eq!(frames.first().map(close_of).map(|(code, _)| code), Some(4401), "{head}");
}
