//! Log forging: whatever a client or the broker sends, each log record stays
//! one line, in both log formats, with the untrusted text escaped inside it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CHANNEL: &str = "mediawiki:notifications";
/// What an attacker would like to see as a log line of its own.
const FORGED: &str = "2026-11-25T01:02:03.000000Z  INFO realtimenotify::server: FORGED admin logged in";

/// Sends every untrusted input the gateway may log, each carrying a
/// newline (and a terminal escape) followed by a forged log line.
async fn attack(redis: &Redis, gateway: &Gateway) {
    let payload = format!("\n{FORGED}\r\n\u{1b}[2K{FORGED}");
    let encode = |text: &str| -> String { text.bytes().map(|b| format!("%{b:02X}")).collect() };
    // Query parameters, refused at the handshake (and logged with their
    // reason). In a filter the newline is JSON-escaped, and the parser's
    // error quotes it decoded: a real newline.
    for query in [
        format!("filter={}", encode(&json!({payload.as_str(): 1}).to_string())), // an unknown field
        format!("filter={}", encode(&json!({"types": [payload]}).to_string())),  // an unknown event type
        format!("since={}", encode(&payload)),
        format!("token={}", encode(&payload)),
    ] {
        // Refused whichever way (close 4400 or 4401 here): what matters is the log.
        let (head, _) = raw_handshake(gateway.addr, &format!("/v1/ws?{query}"), &[]).await;
        assert!(head.starts_with("http/1.1 "), "{query} is answered: {head}");
    }
    // Headers cannot carry a newline; a proxy's X-Forwarded-For can carry anything else.
    let (head, _) = raw_handshake(gateway.addr, "/v1/ws?since=bad", &[("X-Forwarded-For", "1.2.3.4, \tFORGÉD")]).await;
    assert!(head.starts_with("http/1.1 "), "{head}");
    // Client messages on an open socket.
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    send_json(&mut ws, json!({"op": payload})).await;
    assert_eq!(next_json(&mut ws).await["op"], "error");
    send_json(&mut ws, json!({"op": "subscribe", "filter": {"types": [payload]}})).await;
    assert_eq!(next_json(&mut ws).await["op"], "error");
    // Broker events: a bad `type`, and bad JSON around a newline.
    let bad_type = json!({"type": payload, "page_title": "P", "user_name": "U",
        "timestamp": "2026-11-25T01:02:03Z", "summary": ""});
    redis.publish(CHANNEL, &bad_type.to_string()).await;
    redis.publish(CHANNEL, &format!("{{\"page_title\": {payload}")).await;
    gateway.wait_metric("rtn_events_dropped_total", 2.0).await;
    // A good event still gets through: the gateway is fine.
    redis.publish(CHANNEL, &event(1)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");
    tokio::time::sleep(Duration::from_millis(200)).await; // the last log lines
}

#[tokio::test]
async fn untrusted_text_cannot_forge_a_human_log_line() {
    let redis = Redis::start();
    let url = redis.url();
    let gateway = Gateway::launch(Launch {
        args: &["--redis-url", &url, "--trusted-proxies", "127.0.0.1"],
        human_log: true,
        ..Launch::default()
    });
    gateway.wait_ready().await;
    attack(&redis, &gateway).await;
    let log = gateway.log_text();
    let lines: Vec<&str> = log.lines().collect();
    let carrying: Vec<&&str> = lines.iter().filter(|line| line.contains("FORGE")).collect();
    assert!(carrying.len() >= 5, "the attempts were logged: {log}");
    for line in &carrying {
        assert!(
            line.contains("handshake refused") || line.contains("dropped event"),
            "a line carrying the payload is one the gateway wrote: {line:?}"
        );
        assert!(!line.contains('\u{1b}') && !line.contains('\r'), "control characters are escaped: {line:?}");
    }
    assert!(!lines.iter().any(|line| line.starts_with("2026-11-25T01:02:03")), "a forged line: {log}");
    assert!(carrying.iter().any(|line| line.contains("\\n2026-11-25T01:02:03")), "escaped, not dropped: {log}");
    // Every line is a record of the gateway's: timestamp, level, target.
    for line in &lines {
        let level = line.split_whitespace().nth(1).unwrap_or_default();
        assert!(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level), "not a log record: {line:?}");
    }
}

#[tokio::test]
async fn untrusted_text_stays_inside_json_log_records() {
    let redis = Redis::start();
    let url = redis.url();
    let gateway =
        Gateway::launch(Launch { args: &["--redis-url", &url, "--trusted-proxies", "127.0.0.1"], ..Launch::default() });
    gateway.wait_ready().await;
    attack(&redis, &gateway).await;
    let log = gateway.log_text();
    let mut carrying = 0;
    for line in log.lines() {
        let record: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON record ({e}): {line:?}"));
        if line.contains("FORGE") {
            carrying += 1;
            let message = record["message"].as_str().unwrap_or_default();
            assert!(["handshake refused", "dropped event"].contains(&message), "{line}");
        }
    }
    assert!(carrying >= 5, "the attempts were logged: {log}");
}
