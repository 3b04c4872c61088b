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
