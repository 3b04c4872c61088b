//! The EventStreams-compatible SSE feed (`/v2/stream/recentchange`) against
//! a real `redis-server` and the real binary: live delivery in the
//! `mediawiki/recentchange` shape (every message checked against
//! `contract/recentchange-1.0.1.schema.json`), resume with `Last-Event-ID`
//! and `?since=`, `lost`, tokens and public isolation, filters, heartbeats,
//! CORS, limits, slow readers, and core's RCFeed as input.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHANNEL: &str = "mediawiki:notifications";
const SECRET: &str = "0123456789abcdef0123456789abcdef-sse";
const PATH: &str = "/v2/stream/recentchange";

/// One SSE message (or a comment).
#[derive(Debug, Clone, Default)]
struct Message {
    event: String,
    id: Option<String>,
    data: String,
    comment: Option<String>,
}

/// A raw SSE reader over HTTP/1.0 (so the body is neither chunked nor kept
/// alive: what arrives is the stream itself).
struct Sse {
    stream: TcpStream,
    head: String,
    buf: Vec<u8>,
}

impl Sse {
    async fn open(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Sse {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Sse::open_on(stream, addr, target, headers).await
    }

    async fn open_on(mut stream: TcpStream, addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Sse {
        let mut request = format!("GET {target} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write request");
        let raw = read_until(&mut stream, |seen| seen.windows(4).any(|w| w == b"\r\n\r\n")).await;
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 4);
        Sse { stream, head: String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase(), buf: raw[end..].to_vec() }
    }

    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(|v| v.trim().to_string()))
    }

    /// The next message or comment; `None` when the stream ends, panics after [`WAIT`].
    async fn next_any(&mut self) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8(block).expect("SSE is UTF-8");
                let mut m = Message { event: "message".into(), ..Message::default() };
                for line in text.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        m.comment = Some(c.to_string());
                    } else if let Some((field, value)) = line.split_once(": ") {
                        match field {
                            "event" => m.event = value.into(),
                            "id" => m.id = Some(value.into()),
                            "data" => m.data.push_str(value),
                            _ => {}
                        }
                    }
                }
                return Some(m);
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => panic!("no SSE message in time; buffered: {:?}", String::from_utf8_lossy(&self.buf)),
                Ok(Ok(0)) | Ok(Err(_)) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The next message (comments skipped).
    async fn next(&mut self) -> Message {
        loop {
            let m = self.next_any().await.expect("stream ended");
            if m.comment.is_none() || !m.data.is_empty() {
                return m;
            }
        }
    }

    /// The next `event: message`, its data parsed and checked against the schema.
    async fn change(&mut self) -> (String, Value) {
        loop {
            let m = self.next().await;
            if m.event == "message" {
                let rc: Value = serde_json::from_str(&m.data).expect("data is JSON");
                check_recentchange(&rc);
                return (m.id.expect("every message has an id"), rc);
            }
        }
    }
}

/// `contract/recentchange-1.0.1.schema.json`.
fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contract/recentchange-1.0.1.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the schema")).expect("schema is JSON")
}

/// Validates `value` against the subset of JSON Schema the contract file
/// uses (`type`, `required`, `properties`, `minLength`, `maxLength`,
/// `minimum`, `maximum`); panics with the path of the first violation.
fn validate(value: &Value, schema: &Value, path: &str) {
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "array" => value.is_array(),
            _ => false,
        });
        assert!(ok, "{path}: {value} is not {types:?}");
    }
    if let (Some(s), Some(min)) = (value.as_str(), schema.get("minLength").and_then(Value::as_u64)) {
        assert!(s.chars().count() as u64 >= min, "{path}: shorter than {min}");
    }
    if let (Some(s), Some(max)) = (value.as_str(), schema.get("maxLength").and_then(Value::as_u64)) {
        assert!(s.chars().count() as u64 <= max, "{path}: longer than {max}");
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema.get("minimum").and_then(Value::as_f64)) {
        assert!(n >= min, "{path}: below {min}");
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema.get("maximum").and_then(Value::as_f64)) {
        assert!(n <= max, "{path}: above {max}");
    }
    for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        let key = required.as_str().expect("required names");
        assert!(value.get(key).is_some(), "{path}: `{key}` is required; {value}");
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema.get("properties").and_then(Value::as_object)) {
        for (key, sub) in properties {
            if let Some(v) = object.get(key) {
                validate(v, sub, &format!("{path}.{key}"));
            }
        }
    }
}

/// Valid against the published schema, and carrying what we always emit.
fn check_recentchange(rc: &Value) {
    validate(rc, &schema(), "$");
    assert_eq!(rc["$schema"], "/mediawiki/recentchange/1.0.1");
    for key in ["uri", "id", "dt", "domain", "stream"] {
        assert!(rc["meta"][key].is_string(), "meta.{key} in {rc}");
    }
    assert_eq!(rc["meta"]["stream"], "mediawiki.recentchange");
    for key in ["type", "title", "comment", "parsedcomment", "user"] {
        assert!(rc[key].is_string(), "{key} in {rc}");
    }
    assert!(["edit", "new", "log", "categorize"].contains(&rc["type"].as_str().unwrap_or("")), "{rc}");
    assert!(rc["timestamp"].is_i64() && rc["namespace"].is_i64() && rc["bot"].is_boolean(), "{rc}");
    if rc["type"] == "log" {
        assert!(rc["log_type"].is_string() && rc["log_action"].is_string() && rc.get("log_params").is_some(), "{rc}");
    } else {
        assert!(rc["minor"].is_boolean() && rc["length"].is_object() && rc["revision"].is_object(), "{rc}");
    }
}

fn change(title: &str, extra: Value) -> String {
    let mut e = json!({"page_title": title, "user_name": "Alice", "timestamp": "2026-11-25T01:02:03Z",
        "summary": "a <b>summary</b>", "wiki": "testwiki", "namespace": 0, "rev_id": 42, "old_rev_id": 41,
        "url": "http://127.0.0.1:8090/w/index.php?diff=42&oldid=41"});
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        e.extend(extra.clone());
    }
    e.to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn token(user: u64, rights: &[&str]) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let claims = json!({"iss": "realtimenotify", "aud": "testwiki", "sub": user.to_string(), "name": "U",
        "rights": rights, "iat": now(), "nbf": now(), "exp": now() + 300,
        "jti": format!("sse-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))});
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

/// Publishes and waits until the gateway has it (`rtn_events_received_total`).
async fn publish(redis: &Redis, gateway: &Gateway, raw: &str) {
    let before = gateway.metric("rtn_events_received_total").await;
    assert_eq!(redis.publish(CHANNEL, raw).await, 1);
    gateway.wait_metric("rtn_events_received_total", before + 1.0).await;
}

#[tokio::test]
async fn live_changes_arrive_in_the_recentchange_shape() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut sse = Sse::open(gateway.addr, PATH, &[]).await;
    assert_eq!(sse.status(), 200, "{}", sse.head);
    assert!(sse.header("content-type").is_some_and(|t| t.starts_with("text/event-stream")), "{}", sse.head);
    gateway.wait_metric("rtn_sse_clients_connected", 1.0).await;

    redis.publish(CHANNEL, &change("Main Page", json!({"minor": true, "size_delta": -3}))).await;
    redis.publish(CHANNEL, &change("New page", json!({"type": "create", "old_rev_id": 0}))).await;
    // Not a recent change: patrol alerts stay on the WebSocket.
    redis.publish(CHANNEL, &change("Alerted", json!({"type": "alert", "reasons": ["blanking"]}))).await;
    redis.publish(CHANNEL, &change("Old", json!({"type": "move", "target_title": "New"}))).await;
    redis.publish(CHANNEL, &change("Gone", json!({"type": "delete"}))).await;
    redis.publish(CHANNEL, &change("File:X.png", json!({"type": "upload", "namespace": 6}))).await;

    let (first, edit) = sse.change().await;
    assert!(first.parse::<String>().is_ok() && first.contains('-'), "the id is the event id: {first}");
    assert_eq!((edit["type"].as_str(), edit["title"].as_str()), (Some("edit"), Some("Main Page")));
    assert_eq!(edit["minor"], true);
    assert_eq!(edit["revision"], json!({"old": 41, "new": 42}));
    assert_eq!(edit["parsedcomment"], "a &lt;b&gt;summary&lt;/b&gt;");
    assert_eq!(edit["server_url"], "http://127.0.0.1:8090");
    assert_eq!(edit["title_url"], "http://127.0.0.1:8090/w/index.php?title=Main_Page");
    assert_eq!(edit["timestamp"], 1_795_568_523);
    let (_, new) = sse.change().await;
    assert_eq!((new["type"].as_str(), new["revision"]["old"].is_null()), (Some("new"), true));
    let (_, moved) = sse.change().await;
    assert_eq!((moved["type"].as_str(), moved["log_type"].as_str()), (Some("log"), Some("move")));
    assert_eq!(moved["log_params"]["target"], "New");
    let (_, deleted) = sse.change().await;
    assert_eq!(deleted["log_type"], "delete");
    let (last, uploaded) = sse.change().await;
    assert_eq!(uploaded["log_type"], "upload");
    assert!(first < last || first.len() < last.len(), "ids increase");
    assert!(gateway.metric("rtn_messages_sent_total").await >= 5.0);
}

#[tokio::test]
async fn last_event_id_and_since_resume_exactly() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut sse = Sse::open(gateway.addr, PATH, &[]).await;
    gateway.wait_metric("rtn_sse_clients_connected", 1.0).await;
    for n in 0..5 {
        publish(&redis, &gateway, &change(&format!("P{n}"), json!({}))).await;
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(sse.change().await.0);
    }
    drop(sse);

    // As an EventSource reconnects: the last id it saw, in the header.
    let mut again = Sse::open(gateway.addr, PATH, &[("Last-Event-ID", &ids[1])]).await;
    for (n, id) in ids.iter().enumerate().skip(2) {
        let (got, rc) = again.change().await;
        assert_eq!((&got, rc["title"].as_str()), (id, Some(format!("P{n}").as_str())));
    }
    publish(&redis, &gateway, &change("P5", json!({}))).await;
    assert_eq!(again.change().await.1["title"], "P5", "then live, with no gap and no repeat");

    // ?since= takes the same id; the header wins over it.
    let mut since = Sse::open(gateway.addr, &format!("{PATH}?since={}", ids[3]), &[]).await;
    assert_eq!(since.change().await.0, ids[4]);
    let mut both = Sse::open(gateway.addr, &format!("{PATH}?since={}", ids[0]), &[("Last-Event-ID", &ids[3])]).await;
    assert_eq!(both.change().await.0, ids[4]);

    // A time: everything the gateway received from then on.
    let ms: u64 = ids[2].split('-').next().unwrap().parse().unwrap();
    let iso = chrono_free_iso(ms);
    let mut by_time = Sse::open(gateway.addr, &format!("{PATH}?since={iso}"), &[]).await;
    let (got, _) = by_time.change().await;
    assert!(got <= ids[2] || got.len() < ids[2].len(), "{got} from {iso}");

    // Nonsense is refused before any stream.
    let bad = Sse::open(gateway.addr, &format!("{PATH}?since=yesterday"), &[]).await;
    assert_eq!(bad.status(), 400, "{}", bad.head);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of `ms`, to the second below (so it is at or before it).
fn chrono_free_iso(ms: u64) -> String {
    realtimenotify::recentchange::format_rfc3339((ms / 1000 * 1000) as i64, true)
}

#[tokio::test]
async fn a_gap_on_resume_is_told_as_lost() {
    let (redis, gateway) = redis_gateway(&[]).await;
    publish(&redis, &gateway, &change("After start", json!({}))).await;
    // From long before this gateway started: with pub/sub it cannot vouch for that.
    let mut sse = Sse::open(gateway.addr, &format!("{PATH}?since=2020-01-01T00:00:00Z"), &[]).await;
    let lost = sse.next().await;
    assert_eq!(lost.event, "lost", "{lost:?}");
    let data: Value = serde_json::from_str(&lost.data).unwrap();
    assert_eq!(lost.id.as_deref(), data["resume_after"].as_str(), "its id is where to resume");
    let (id, rc) = sse.change().await;
    assert_eq!(rc["title"], "After start");
    assert_eq!(data["oldest"].as_str(), Some(id.as_str()));
    // Resuming from the lost message's id: the event again, no second `lost`.
    let mut again = Sse::open(gateway.addr, PATH, &[("Last-Event-ID", lost.id.as_deref().unwrap())]).await;
    let next = again.next().await;
    assert_eq!((next.event.as_str(), next.id.as_deref()), ("message", Some(id.as_str())));
}

#[tokio::test]
async fn anonymous_readers_get_public_changes_and_a_token_admits_a_user() {
    let (redis, gateway) = redis_gateway(&[
        "--token-secrets",
        SECRET,
        "--wiki-id",
        "testwiki",
        "--allowed-origins",
        "https://wiki.example",
    ])
    .await;
    let mut anonymous = Sse::open(gateway.addr, PATH, &[]).await;
    let bearer = format!("Bearer {}", token(7, &["read"]));
    let mut alice = Sse::open(gateway.addr, PATH, &[("Authorization", &bearer)]).await;
    assert_eq!(alice.status(), 200, "{}", alice.head);
    gateway.wait_metric("rtn_sse_clients_connected", 2.0).await;

    let private = json!({"audience": {"public": false, "users": [7], "rights": []}});
    redis.publish(CHANNEL, &change("Only for 7", private)).await;
    redis
        .publish(CHANNEL, &change("Private wiki", json!({"audience": {"public": false, "visible_to": ["read"]}})))
        .await;
    redis.publish(CHANNEL, &change("Public", json!({"audience": {"public": true, "users": [7]}}))).await;
    assert_eq!(alice.change().await.1["title"], "Only for 7");
    assert_eq!(alice.change().await.1["title"], "Private wiki");
    assert_eq!(alice.change().await.1["title"], "Public");
    assert_eq!(anonymous.change().await.1["title"], "Public", "nothing private before it");

    // A spent, forged or missing token, a foreign origin: plain HTTP refusals.
    let spent = Sse::open(gateway.addr, PATH, &[("Authorization", &bearer)]).await;
    assert_eq!(spent.status(), 401);
    assert!(spent.header("www-authenticate").is_some());
    let forged = Sse::open(gateway.addr, &format!("{PATH}?token=abc.def.ghi"), &[]).await;
    assert_eq!(forged.status(), 401);
    let addressed = Sse::open(gateway.addr, &format!("{PATH}?addressed=1"), &[]).await;
    assert_eq!(addressed.status(), 401, "the addressed filter needs a token");
    let foreign = Sse::open(gateway.addr, PATH, &[("Origin", "https://evil.example")]).await;
    assert_eq!(foreign.status(), 403);
    let page = Sse::open(gateway.addr, PATH, &[("Origin", "https://wiki.example")]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.header("access-control-allow-origin").as_deref(), Some("https://wiki.example"));
    let (status, _) = http(gateway.addr, "OPTIONS", PATH, &[("Origin", "https://wiki.example")], "").await;
    assert_eq!(status, 204, "the preflight of Authorization / Last-Event-ID");
}

#[tokio::test]
async fn a_private_gateway_refuses_anonymous_readers() {
    let (_redis, gateway) =
        redis_gateway(&["--auth-mode", "private", "--token-secrets", SECRET, "--wiki-id", "testwiki"]).await;
    assert_eq!(Sse::open(gateway.addr, PATH, &[]).await.status(), 401);
    let bearer = format!("Bearer {}", token(3, &["read"]));
    assert_eq!(Sse::open(gateway.addr, PATH, &[("Authorization", &bearer)]).await.status(), 200);
}

#[tokio::test]
async fn websocket_filters_work_as_query_parameters() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut fields = Sse::open(gateway.addr, &format!("{PATH}?namespaces=0&exclude_bots=1"), &[]).await;
    let json_filter = urlencode(r#"{"types":["create"]}"#);
    let mut by_json = Sse::open(gateway.addr, &format!("{PATH}?filter={json_filter}"), &[]).await;
    gateway.wait_metric("rtn_sse_clients_connected", 2.0).await;
    redis.publish(CHANNEL, &change("Talk:Bot", json!({"namespace": 1}))).await;
    redis.publish(CHANNEL, &change("By a bot", json!({"bot": true}))).await;
    redis.publish(CHANNEL, &change("Created", json!({"type": "create"}))).await;
    redis.publish(CHANNEL, &change("Wanted", json!({}))).await;
    assert_eq!(fields.change().await.1["title"], "Created");
    assert_eq!(fields.change().await.1["title"], "Wanted");
    assert_eq!(by_json.change().await.1["title"], "Created");
    assert_eq!(Sse::open(gateway.addr, &format!("{PATH}?types=nuke"), &[]).await.status(), 400);
}

#[tokio::test]
async fn one_feed_serves_every_wiki_or_one() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut all = Sse::open(gateway.addr, PATH, &[]).await;
    let mut one = Sse::open(gateway.addr, &format!("{PATH}?wiki=dewiki"), &[]).await;
    gateway.wait_metric("rtn_sse_clients_connected", 2.0).await;
    // Two wikis' RCFeeds (or extensions) publishing to the same gateway.
    redis.publish(CHANNEL, &change("English", json!({"wiki": "enwiki"}))).await;
    redis.publish(CHANNEL, &change("Deutsch", json!({"wiki": "dewiki"}))).await;
    assert_eq!(all.change().await.1["wiki"], "enwiki");
    assert_eq!(all.change().await.1["wiki"], "dewiki");
    let (_, rc) = one.change().await;
    assert_eq!((rc["wiki"].as_str(), rc["title"].as_str()), (Some("dewiki"), Some("Deutsch")));
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn heartbeats_keep_an_idle_stream_alive_past_the_handshake_timeout() {
    let (_redis, gateway) =
        redis_gateway(&["--ping-interval", "1", "--idle-timeout", "3", "--handshake-timeout", "1"]).await;
    let mut sse = Sse::open(gateway.addr, PATH, &[]).await;
    let opening = sse.next_any().await.expect("an opening comment");
    assert_eq!(opening.comment.as_deref(), Some("ok"));
    let started = std::time::Instant::now();
    let mut beats = 0;
    while beats < 3 {
        let m = sse.next_any().await.expect("the stream stays open");
        if m.comment.as_deref() == Some("heartbeat") {
            beats += 1;
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(1500), "past --handshake-timeout and --idle-timeout");
}

#[tokio::test]
async fn sse_readers_count_against_the_connection_limits() {
    // Two per address: the test's own /metrics requests count too, so it reads them with one open.
    let (_redis, gateway) = redis_gateway(&["--max-connections-per-ip", "2"]).await;
    let one = Sse::open(gateway.addr, PATH, &[]).await;
    assert_eq!(one.status(), 200);
    gateway.wait_metric("rtn_sse_clients_connected", 1.0).await;
    let two = Sse::open(gateway.addr, PATH, &[]).await;
    assert_eq!(two.status(), 200);
    let three = Sse::open(gateway.addr, PATH, &[]).await;
    assert_eq!(three.status(), 429, "{}", three.head);
    drop((one, three));
    let deadline = tokio::time::Instant::now() + WAIT;
    while gateway.metric("rtn_sse_clients_connected").await != 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "a reader that left is let go, the other stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(two);
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_dropped() {
    let (redis, gateway) = redis_gateway(&["--max-lag", "3", "--write-timeout", "3"]).await;
    // A small receive window, and never a read: the gateway's writes back up.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(gateway.addr).await.unwrap();
    let mut stuck = Sse::open_on(stream, gateway.addr, PATH, &[]).await;
    let mut reading = Sse::open(gateway.addr, PATH, &[]).await;
    gateway.wait_metric("rtn_sse_clients_connected", 2.0).await;
    // The reader that keeps up gets everything, in order.
    let reader = tokio::spawn(async move {
        for n in 0..1500 {
            let (_, rc) = reading.change().await;
            assert_eq!(rc["title"], format!("Big {n}"), "in order, none missing");
        }
    });
    let big = "x".repeat(900);
    let mut conn = redis.conn().await;
    for n in 0..1500 {
        let raw = change(&format!("Big {n}"), json!({"summary": big}));
        let _: i64 = redis::cmd("PUBLISH").arg(CHANNEL).arg(raw).query_async(&mut conn).await.unwrap();
    }
    gateway.wait_metric("rtn_slow_client_drops_total", 1.0).await;
    let log = gateway.log_text();
    assert!(log.contains("sse reader lagged"), "{log}");
    // The stuck one's connection is gone: reading what was buffered ends in EOF.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = vec![0u8; 65536];
        loop {
            match stuck.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stuck reader's connection was dropped");
    if reader.await.is_err() {
        panic!("the reader that kept up did not get all 1500; log: {}", gateway.log_text());
    }
}

#[tokio::test]
async fn core_rcfeed_messages_are_taken_as_public_changes() {
    let (redis, gateway) = redis_gateway(&[]).await;
    let mut sse = Sse::open(gateway.addr, PATH, &[]).await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    gateway.wait_metric("rtn_sse_clients_connected", 1.0).await;
    // What MediaWiki core's JSONRCFeedFormatter publishes through RedisPubSubFeedEngine.
    let ts = now();
    let edit = json!({"id": 31, "type": "edit", "namespace": 0, "title": "Core Page",
        "title_url": "http://wiki.example/index.php?title=Core_Page", "comment": "from core", "timestamp": ts,
        "user": "Bob", "bot": false, "notify_url": "http://wiki.example/index.php?diff=8&oldid=7", "minor": false,
        "patrolled": false, "length": {"old": 3, "new": 9}, "revision": {"old": 7, "new": 8},
        "server_url": "http://wiki.example", "server_name": "wiki.example", "server_script_path": "",
        "wiki": "examplewiki", "parsedcomment": "from core"});
    let block = json!({"id": 32, "type": "log", "namespace": 2, "title": "User:Vandal", "comment": "spam",
        "timestamp": ts, "user": "Admin", "bot": false, "log_id": 4, "log_type": "block", "log_action": "block",
        "log_params": {"duration": "infinite", "flags": ["nocreate"]}, "log_action_comment": "blocked Vandal",
        "server_url": "http://wiki.example", "server_name": "wiki.example", "server_script_path": "", "wiki": "examplewiki"});
    let categorize = json!({"id": 33, "type": "categorize", "namespace": 14, "title": "Category:X", "comment": "",
        "timestamp": ts, "user": "Bob", "bot": false, "server_name": "wiki.example"});
    redis.publish(CHANNEL, &edit.to_string()).await;
    redis.publish(CHANNEL, &categorize.to_string()).await;
    redis.publish(CHANNEL, &block.to_string()).await;

    let (_, rc) = sse.change().await;
    assert_eq!(
        (rc["id"].as_i64(), rc["title"].as_str(), rc["wiki"].as_str()),
        (Some(31), Some("Core Page"), Some("examplewiki"))
    );
    assert_eq!(rc["length"], json!({"old": 3, "new": 9}));
    assert_eq!(rc["timestamp"], ts);
    let (_, rc) = sse.change().await;
    assert_eq!(
        (rc["type"].as_str(), rc["log_type"].as_str(), rc["log_id"].as_i64()),
        (Some("log"), Some("block"), Some(4))
    );
    assert_eq!(rc["log_params"]["flags"], json!(["nocreate"]));
    // The WebSocket carries the same changes.
    let e = next_event(&mut ws).await;
    assert_eq!(
        (e["page_title"].as_str(), e["rev_id"].as_u64(), e["size_delta"].as_i64()),
        (Some("Core Page"), Some(8), Some(6))
    );
    assert_eq!(next_event(&mut ws).await["log_type"], "block");
    let (_, metrics) = gateway.get("/metrics").await;
    assert!(metrics.contains("rtn_events_dropped_total{reason=\"skipped\"} 1"), "categorize is counted as skipped");
    assert!(!gateway.log_text().contains("dropped event"), "and skipped quietly");
}
