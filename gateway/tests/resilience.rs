//! The gateway outlives its broker and stops cleanly.

mod common;

use std::time::Duration;

use common::*;

const CHANNEL: &str = "mediawiki:notifications";

#[tokio::test]
async fn reconnects_after_redis_is_killed_and_restarted() {
    let mut redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url()]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    redis.publish(CHANNEL, &event(1)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");

    redis.kill();
    // Not ready while the source is down, but still alive and serving clients.
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.get("/readyz").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "readyz stayed 200 with redis gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gateway.get("/healthz").await.0, 200);
    let (mut during, _) = connect_hello(&gateway.ws_url()).await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart();
    gateway.wait_ready().await;
    // Subscribed again: PUBLISH reports one receiver.
    let deadline = tokio::time::Instant::now() + WAIT;
    while redis.publish(CHANNEL, &event(2)).await != 1 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 2", "the old client still gets events");
    assert_eq!(next_event(&mut during).await["page_title"], "Page 2", "a client that joined during the outage too");
    assert!(gateway.metric("rtn_source_connects_total").await >= 2.0);
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits_zero() {
    let redis = Redis::start();
    let mut gateway = Gateway::start(&["--redis-url", &redis.url(), "--shutdown-grace", "5"]);
    gateway.wait_ready().await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect_hello(&gateway.ws_url()).await.0);
    }
    gateway.wait_metric("rtn_clients_connected", 3.0).await;
    gateway.signal("TERM");
    for ws in &mut clients {
        assert_eq!(close_code(ws).await, 1001);
    }
    assert_eq!(gateway.wait_exit(Duration::from_secs(8)), Some(0), "log: {}", gateway.log_text());
}

#[tokio::test]
async fn sigterm_exits_within_the_grace_even_if_a_client_never_answers() {
    let redis = Redis::start();
    let mut gateway = Gateway::start(&["--redis-url", &redis.url(), "--shutdown-grace", "2"]);
    gateway.wait_ready().await;
    // A client that never reads, so it never answers the close frame.
    let (_silent, _) = tokio_tungstenite::connect_async(gateway.ws_url()).await.unwrap();
    gateway.wait_metric("rtn_clients_connected", 1.0).await;
    let started = std::time::Instant::now();
    gateway.signal("INT");
    assert_eq!(gateway.wait_exit(Duration::from_secs(6)), Some(0));
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realtimenotify"))
        .args(["serve", "--source", "http"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ingest-secret"));

    let help =
        std::process::Command::new(env!("CARGO_BIN_EXE_realtimenotify")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in ["--redis-url", "RTN_REDIS_URL", "--source", "--config", "--client-queue"] {
        assert!(help.contains(flag), "--help mentions {flag}");
    }
}

/// Logs that cannot be written (stderr is a closed pipe, as under
/// `realtimenotify serve 2>&1 | head -1`) are dropped; the gateway goes on.
#[tokio::test]
async fn a_closed_stderr_does_not_stop_the_gateway() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let redis = Redis::start();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_realtimenotify"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--redis-url", &redis.url()])
        .env("RTN_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut first = String::new();
    BufReader::new(child.stderr.take().expect("piped")).read_line(&mut first).expect("a first log line");
    // The reader is gone now: every later log write fails with EPIPE.
    let ws_url = format!("ws://127.0.0.1:{port}/v1/ws");
    let deadline = std::time::Instant::now() + WAIT;
    while http(format!("127.0.0.1:{port}").parse().unwrap(), "GET", "/readyz", &[], "").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut ws, _) = connect_hello(&ws_url).await;
    redis.publish(CHANNEL, &event(1)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "SIGTERM ignored");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

/// Issue 10 item 14: after pub/sub re-subscribes, a connected client is
/// told (`lost`, mid-stream) that events may have been lost: what Redis
/// took while the gateway was not subscribed never arrives.
#[tokio::test]
async fn pubsub_clients_are_told_lost_after_a_resubscribe() {
    let mut redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url()]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    redis.publish(CHANNEL, &event(1)).await;
    let first = next_event(&mut ws).await;
    let first_id = first["id"].as_str().expect("id").to_string();

    redis.restart();
    gateway.wait_metric("rtn_source_connects_total", 2.0).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while redis.publish(CHANNEL, &event(2)).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "never re-subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lost = next_json(&mut ws).await;
    assert_eq!(lost["op"], "lost", "told before the next event: {lost}");
    assert_eq!(lost["since"], first_id.as_str(), "since = the last id it was sent");
    let resume_after = lost["resume_after"].as_str().expect("resume_after").to_string();
    let second = next_event(&mut ws).await;
    assert_eq!(second["page_title"], "Page 2");
    // A client resuming from before the gap is told too, at the handshake.
    let (mut late, _) = connect_hello(&format!("{}?since={first_id}", gateway.ws_url())).await;
    assert_eq!(next_json(&mut late).await["op"], "lost");
    assert_eq!(next_event(&mut late).await["page_title"], "Page 2");
    // One resuming from `resume_after` lost nothing more.
    let (mut resumed, _) = connect_hello(&format!("{}?since={resume_after}", gateway.ws_url())).await;
    assert_eq!(next_json(&mut resumed).await["page_title"], "Page 2");
}

/// Issue 10 item 15: ready again within a second of Redis accepting
/// connections, however long it was away (the reconnect backoff is capped
/// below a second).
#[tokio::test]
async fn ready_within_a_second_of_redis_coming_back() {
    let mut redis = Redis::start();
    let gateway = Gateway::start(&["--redis-url", &redis.url()]);
    gateway.wait_ready().await;
    for round in 0..2 {
        redis.kill();
        // Long enough for an uncapped backoff to grow past several seconds.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(gateway.get("/readyz").await.0, 503);
        redis.restart(); // returns once Redis accepts connections
        let back = std::time::Instant::now();
        while gateway.get("/readyz").await.0 != 200 {
            assert!(back.elapsed() < Duration::from_secs(10), "never ready again");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = back.elapsed();
        assert!(took < Duration::from_secs(1), "round {round}: ready {took:?} after Redis came back");
    }
}
