//! Events from Redis reach every client exactly once, in order, through
//! their filters; bad events are counted and dropped; slow clients do not
//! hold up the others.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const CHANNEL: &str = "mediawiki:notifications";

#[tokio::test]
async fn every_event_reaches_every_client_once_and_in_order() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect_hello(&gateway.ws_url()).await.0);
    }
    // The seed's URL shape (ws://host:port/) works too.
    clients.push(connect_hello(&format!("ws://{}/", gateway.addr)).await.0);
    gateway.wait_metric("rtn_clients_connected", 6.0).await;

    const N: usize = 300;
    for n in 0..N {
        assert_eq!(redis.publish(CHANNEL, &event(n)).await, 1, "the gateway is the one subscriber");
    }
    for ws in &mut clients {
        let mut last_id: Option<(u64, u64)> = None;
        for n in 0..N {
            let e = next_event(ws).await;
            assert_eq!(e["page_title"], format!("Page {n}"));
            assert_eq!(e["summary"], format!("edit number {n}"));
            let id = e["id"].as_str().expect("id");
            let (ms, seq) = id.split_once('-').expect("ms-seq");
            let id = (ms.parse().unwrap(), seq.parse().unwrap());
            assert!(last_id < Some(id), "ids increase");
            last_id = Some(id);
        }
        // Nothing extra: a ping round-trip proves the queue is empty.
        send_json(ws, json!({"op": "ping"})).await;
        assert_eq!(next_json(ws).await["op"], "pong", "no duplicate events after the last one");
    }
    assert_eq!(gateway.metric("rtn_events_received_total").await, N as f64);
    assert_eq!(gateway.metric("rtn_messages_sent_total").await, (N * 6) as f64);
    assert!(gateway.metric("rtn_delivery_latency_seconds_count").await >= (N * 6) as f64);
}

#[tokio::test]
async fn filters_select_events() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    send_json(&mut ws, json!({"op": "subscribe", "filter": {"namespaces": [0], "exclude_bots": true}})).await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["op"], "subscribed");
    assert_eq!(ack["filter"]["namespaces"], json!([0]));

    let (mut titles_ws, _) = connect_hello(&gateway.ws_url()).await;
    send_json(&mut titles_ws, json!({"op": "subscribe", "filter": {"titles": ["Page 7"]}})).await;
    assert_eq!(next_json(&mut titles_ws).await["op"], "subscribed");

    for n in 0..20 {
        redis.publish(CHANNEL, &event(n)).await;
    }
    // event(n): namespace n % 2, bot when n % 3 == 0.
    let expected: Vec<usize> = (0..20).filter(|n| n % 2 == 0 && n % 3 != 0).collect();
    for n in expected {
        assert_eq!(next_event(&mut ws).await["page_title"], format!("Page {n}"));
    }
    assert_eq!(next_event(&mut titles_ws).await["page_title"], "Page 7");

    // A bad filter is refused with an error and the connection stays usable.
    send_json(&mut ws, json!({"op": "subscribe", "filter": {"colour": "red"}})).await;
    assert_eq!(next_json(&mut ws).await["op"], "error");
    send_json(&mut ws, json!({"op": "ping"})).await;
    assert_eq!(next_json(&mut ws).await["op"], "pong");
}

#[tokio::test]
async fn malformed_events_are_counted_and_dropped() {
    let (redis, gateway) = redis_gateway(&["--max-event-bytes", "2048"]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    let huge = json!({"page_title": "Big", "user_name": "U", "timestamp": "2026-11-25T01:02:03Z", "summary": "x".repeat(900), "url": format!("https://x/{}", "y".repeat(1500))}).to_string();
    for bad in [
        "not json",
        "{}",
        "[]",
        r#"{"page_title":"P","user_name":"U","timestamp":"soon","summary":""}"#,
        huge.as_str(),
        "\u{0}\u{ff}",
    ] {
        redis.publish(CHANNEL, bad).await;
    }
    redis.publish(CHANNEL, &event(1)).await;
    let e = next_event(&mut ws).await;
    assert_eq!(e["page_title"], "Page 1", "the next good event still arrives");
    assert_eq!(gateway.metric("rtn_events_dropped_total").await, 6.0);
    let (_, metrics) = gateway.get("/metrics").await;
    assert!(metrics.contains(r#"rtn_events_dropped_total{reason="too_large"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"rtn_events_dropped_total{reason="invalid"} 5"#), "{metrics}");
    assert_eq!(gateway.get("/healthz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_delay_the_others() {
    let (redis, gateway) = redis_gateway(&["--client-queue", "512", "--write-timeout", "2"]).await;

    // The stalled client: a tiny receive buffer, and it never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gateway.addr).await.unwrap();
    let (stalled, _) = tokio_tungstenite::client_async(gateway.ws_url(), stream).await.unwrap();

    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(connect_hello(&gateway.ws_url()).await.0);
    }
    gateway.wait_metric("rtn_clients_connected", 4.0).await;

    // ~10 MB in all: more than loopback socket buffers absorb, so the stalled
    // client really falls behind.
    const N: usize = 6000;
    let publisher = tokio::spawn({
        let url = redis.url();
        async move {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            for n in 0..N {
                let big = json!({"page_title": format!("Page {n}"), "user_name": "U", "timestamp": "2026-11-25T01:02:03Z", "summary": "z".repeat(1000), "url": format!("https://example.org/{}", "u".repeat(600))}).to_string();
                let _: i64 = redis::cmd("PUBLISH").arg(CHANNEL).arg(big).query_async(&mut conn).await.unwrap();
                if n % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    });
    let started = std::time::Instant::now();
    let readers: Vec<_> = readers
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                for n in 0..N {
                    assert_eq!(next_event(&mut ws).await["page_title"], format!("Page {n}"));
                }
                ws
            })
        })
        .collect();
    let mut kept = Vec::new();
    for reader in readers {
        kept.push(reader.await.expect("reader got every event in order"));
    }
    publisher.await.unwrap();
    // The fast readers were never blocked behind the stalled one's write timeout.
    assert!(started.elapsed() < Duration::from_secs(30), "readers took {:?}", started.elapsed());
    gateway.wait_metric("rtn_slow_client_drops_total", 1.0).await;
    // The drop is counted when it starts; the client then has a second to get its close frame
    // out (its socket is full) before it is gone. `wait_metric` only waits for a rise.
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.metric("rtn_clients_connected").await > 3.0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gateway.metric("rtn_clients_connected").await, 3.0, "only the stalled client was dropped");
    drop(stalled);
}

/// Publishes events of about 2 KB, `per_second`, until `stop` fires; each
/// carries its publish time (ms since the epoch) in `rev_id`.
fn steady_publisher(
    url: String,
    per_second: u64,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
        let mut n = 0;
        while !stop.is_cancelled() {
            ticks.tick().await;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
            let event = json!({"page_title": format!("Page {n}"), "user_name": "U", "timestamp": "2026-11-25T01:02:03Z",
                "summary": "z".repeat(500), "url": format!("https://example.org/{}", "u".repeat(1400)), "rev_id": now});
            let _: i64 =
                redis::cmd("PUBLISH").arg(CHANNEL).arg(event.to_string()).query_async(&mut conn).await.unwrap();
            n += 1;
        }
        n
    })
}

/// Waits until the gateway's log has a line with all of `parts`; returns it.
async fn log_line(gateway: &Gateway, parts: &[&str], within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        let found = gateway.log.lock().unwrap().iter().find(|l| parts.iter().all(|p| l.contains(p))).cloned();
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Reads what is left of a socket that stopped reading: (event frames,
/// their bytes, the close code if a close frame came, the newest event's
/// `rev_id`).
async fn drain(mut ws: Ws) -> (usize, usize, Option<u16>, u64) {
    let (mut events, mut bytes, mut newest) = (0, 0, 0);
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                bytes += text.len();
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                if v["op"] == "event" {
                    events += 1;
                    newest = v["rev_id"].as_u64().unwrap_or(newest);
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => return (events, bytes, frame.map(|f| f.code.into()), newest),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return (events, bytes, None, newest),
        }
    }
}

/// A client that stops reading is closed with 4000 once its oldest
/// undelivered event is `--max-lag` old: within seconds, not after the
/// kernel has buffered megabytes for it; the log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_with_4000_after_max_lag() {
    a_stalled_client_is_closed(&["--max-lag", "2"], "max_lag", Duration::from_secs(2 + 5)).await;
}

/// The same when it is the write timeout that runs out first: the client
/// is closed (a close frame is attempted, the connection reset if it cannot
/// go out) and the log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_socket_stays_full_past_the_write_timeout_is_closed_and_logged() {
    a_stalled_client_is_closed(
        &["--max-lag", "600", "--write-timeout", "1"],
        "write_stalled",
        Duration::from_secs(1 + 5),
    )
    .await;
}

/// Two clients read 400 KB/s of events; one stops. It must be closed (the
/// log saying `reason`) within `within` of stopping, with a bounded amount
/// left in the buffers; the other is served throughout.
async fn a_stalled_client_is_closed(args: &[&str], reason: &str, within: Duration) {
    let (redis, gateway) = redis_gateway(args).await;
    let (mut stalled, _) = connect_hello(&gateway.ws_url()).await;
    let (mut reader, _) = connect_hello(&gateway.ws_url()).await;
    let stop = tokio_util::sync::CancellationToken::new();
    // A client that keeps reading, all along.
    let reading = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut newest = 0;
            while !stop.is_cancelled() {
                if let Ok(v) = tokio::time::timeout(Duration::from_millis(500), next_event(&mut reader)).await {
                    newest = v["rev_id"].as_u64().unwrap_or(newest);
                }
            }
            while let Ok(v) = tokio::time::timeout(Duration::from_millis(500), next_event(&mut reader)).await {
                newest = v["rev_id"].as_u64().unwrap_or(newest);
            }
            (newest, reader)
        }
    });
    let publisher = steady_publisher(redis.url(), 200, stop.clone());
    // It reads for a while, as a live client does, then stops.
    for _ in 0..200 {
        next_event(&mut stalled).await;
    }
    let stopped = std::time::Instant::now();
    let line = log_line(&gateway, &["client lagged", "4000"], Duration::from_secs(20)).await;
    let noticed = stopped.elapsed();
    stop.cancel();
    let published = publisher.await.unwrap();
    let line = line.unwrap_or_else(|| panic!("no lagged close within 20 s; log: {}", gateway.log_text()));
    eprintln!("stopped reading; closed after {noticed:?}: {line}");
    assert!(line.contains(&format!("\"reason\":\"{reason}\"")), "{line}");
    assert!(noticed < within, "closed {noticed:?} after the client stopped reading");
    gateway.wait_metric("rtn_slow_client_drops_total", 1.0).await;
    let (events, bytes, code, newest) = drain(stalled).await;
    eprintln!("then read {events} buffered events ({bytes} bytes), close {code:?}, of {published} published");
    assert!(bytes < 2 * 1024 * 1024, "{bytes} bytes were buffered for the stalled client");
    // The reader was served throughout, to the last event.
    let (last, _reader) = reading.await.expect("the reader got every event in time");
    assert!(last > newest, "the reader got everything ({last}), the stalled client less ({newest})");
    assert_eq!(gateway.metric("rtn_clients_connected").await, 1.0, "only the stalled client was closed");
}

#[tokio::test]
async fn resume_with_since_replays_exactly_what_was_missed() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    for n in 0..3 {
        redis.publish(CHANNEL, &event(n)).await;
    }
    let mut last = String::new();
    for _ in 0..3 {
        last = next_event(&mut ws).await["id"].as_str().unwrap().to_string();
    }
    drop(ws);
    for n in 3..8 {
        redis.publish(CHANNEL, &event(n)).await;
    }
    gateway.wait_metric("rtn_events_received_total", 8.0).await;
    let (mut ws, hello) = connect_hello(&format!("{}?since={last}", gateway.ws_url())).await;
    assert!(hello["last_id"].is_string());
    for n in 3..8 {
        assert_eq!(next_event(&mut ws).await["page_title"], format!("Page {n}"));
    }
    let resumed = next_json(&mut ws).await;
    assert_eq!(resumed["op"], "resumed");
    assert_eq!(resumed["count"], 5);
    redis.publish(CHANNEL, &event(8)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 8");

    // An id from before this gateway started: it says events may be lost.
    let (mut ws, _) = connect_hello(&format!("{}?since=1000-0", gateway.ws_url())).await;
    assert_eq!(next_json(&mut ws).await["op"], "lost");
    // A malformed id is refused at the handshake: close 4400 before any other frame.
    let mut bad = connect(&format!("{}?since=yesterday", gateway.ws_url())).await;
    assert_eq!(refusal(&mut bad).await, Some(4400));
}

#[tokio::test]
async fn oversized_client_frames_and_floods_are_refused() {
    let (_redis, gateway) = redis_gateway(&["--max-client-frame", "1024", "--client-rate", "5"]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    send_json(&mut ws, json!({"op": "subscribe", "filter": {"titles": ["x".repeat(2000)]}})).await;
    assert_eq!(close_code(&mut ws).await, 1009);

    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    for _ in 0..10 {
        send_json(&mut ws, json!({"op": "ping"})).await;
    }
    assert_eq!(close_code(&mut ws).await, 1008);
    let _ = ws.next().await;
}

/// A client that says goodbye gets the closing handshake answered, so it
/// sees its own code back rather than an abnormal 1006.
#[tokio::test]
async fn a_client_close_is_answered() {
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
    let (_redis, gateway) = redis_gateway(&[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() })).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1000);
}

/// A burst published at once (one pipeline) reaches every client whole and
/// in order: clients take queued events in batches, and no batch boundary
/// may lose or repeat one.
#[tokio::test]
async fn a_burst_arrives_whole_and_in_order() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(connect_hello(&gateway.ws_url()).await.0);
    }
    gateway.wait_metric("rtn_clients_connected", 3.0).await;
    const N: usize = 1000; // below --client-queue (1024): nobody may be dropped
    let mut pipe = redis::pipe();
    for n in 0..N {
        pipe.publish(CHANNEL, event(n)).ignore();
    }
    let mut conn = redis.conn().await;
    let () = pipe.query_async(&mut conn).await.expect("pipelined publish");
    for ws in &mut clients {
        for n in 0..N {
            assert_eq!(next_event(ws).await["page_title"], format!("Page {n}"));
        }
        send_json(ws, json!({"op": "ping"})).await;
        assert_eq!(next_json(ws).await["op"], "pong", "nothing after the last one");
    }
}

/// Issue 10 item 7: a null or misspelt `audience` fails closed: dropped and
/// counted as invalid, never delivered to everyone.
#[tokio::test]
async fn a_null_or_misspelt_audience_is_dropped_not_delivered_to_everyone() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    let with = |title: &str, extra: &str| {
        format!(r#"{{"page_title":"{title}","user_name":"U","timestamp":"2026-11-25T01:02:03Z","summary":""{extra}}}"#)
    };
    for bad in [
        with("Null", r#","audience":null"#),
        with("Capital", r#","Audience":{"rights":["patrol"]}"#),
        with("Typo", r#","audiance":{"rights":["patrol"]}"#),
    ] {
        redis.publish(CHANNEL, &bad).await;
    }
    redis.publish(CHANNEL, &with("Fine", r#","future_field":{"anything":1}"#)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Fine", "unknown fields stay ignored");
    let (_, metrics) = gateway.get("/metrics").await;
    assert!(metrics.contains(r#"rtn_events_dropped_total{reason="invalid"} 3"#), "{metrics}");
}

/// Issue 10 item 16: the same change published twice (the wiki's job queue
/// retrying a publish that partly succeeded) reaches a client once.
#[tokio::test]
async fn a_repeated_uuid_is_delivered_once_and_counted() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    let with_uuid = |n: usize| {
        let mut e: serde_json::Value = serde_json::from_str(&event(n)).unwrap();
        e["uuid"] = "6f1c2d3e-0a1b-4c2d-8e3f-405162738495".into();
        e.to_string()
    };
    redis.publish(CHANNEL, &with_uuid(1)).await;
    redis.publish(CHANNEL, &with_uuid(1)).await;
    redis.publish(CHANNEL, &event(2)).await;
    let first = next_event(&mut ws).await;
    assert_eq!(first["page_title"], "Page 1");
    assert_eq!(first["uuid"], "6f1c2d3e-0a1b-4c2d-8e3f-405162738495", "forwarded");
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 2", "the repeat never arrives");
    let (_, metrics) = gateway.get("/metrics").await;
    assert!(metrics.contains(r#"rtn_events_dropped_total{reason="duplicate"} 1"#), "{metrics}");
}
