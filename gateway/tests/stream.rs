//! The `redis-stream` source: durable replay, resume on any instance, and
//! fault tests that publish a known set of events and check that every
//! client received exactly that set, in order.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "mediawiki:events";

async fn xadd(conn: &mut redis::aio::MultiplexedConnection, n: usize) -> redis::RedisResult<String> {
    redis::cmd("XADD")
        .arg(KEY)
        .arg("MAXLEN")
        .arg("~")
        .arg(100_000)
        .arg("*")
        .arg("event")
        .arg(event(n))
        .query_async(conn)
        .await
}

fn stream_gateway(redis: &Redis, extra: &[&str]) -> Gateway {
    let url = redis.url();
    let mut args = vec!["--source", "redis-stream", "--redis-url", url.as_str(), "--stream-key", KEY];
    args.extend_from_slice(extra);
    Gateway::start(&args)
}

fn title_number(e: &Value) -> usize {
    e["page_title"]
        .as_str()
        .and_then(|t| t.strip_prefix("Page "))
        .and_then(|n| n.parse().ok())
        .expect("a test event title")
}

/// A client that follows events across disconnects, always resuming with
/// `since` from the last id it saw, on the next URL in `urls`.
struct Follower {
    urls: Vec<String>,
    next_url: usize,
    last_id: Option<String>,
    seen: Vec<usize>,
    lost: bool,
}

impl Follower {
    fn new(urls: Vec<String>) -> Follower {
        Follower { urls, next_url: 0, last_id: None, seen: Vec::new(), lost: false }
    }

    /// Reads until `want` events were seen, reconnecting whenever the
    /// socket closes, within `limit`.
    async fn collect(&mut self, want: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.seen.len() < want {
            assert!(tokio::time::Instant::now() < deadline, "only {} of {want} events in time", self.seen.len());
            let url = &self.urls[self.next_url % self.urls.len()];
            let url = match &self.last_id {
                Some(id) => format!("{url}?since={id}"),
                None => url.clone(),
            };
            let Ok(Ok((mut ws, _))) =
                tokio::time::timeout(Duration::from_secs(2), tokio_tungstenite::connect_async(&url)).await
            else {
                self.next_url += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            while self.seen.len() < want {
                let frame = tokio::time::timeout_at(deadline, ws.next()).await;
                let Ok(Some(Ok(Message::Text(text)))) = frame else {
                    if matches!(frame, Ok(Some(Ok(Message::Ping(_) | Message::Pong(_))))) {
                        continue;
                    }
                    break; // closed, failed or timed out: reconnect
                };
                let v: Value = serde_json::from_str(&text).expect("JSON frame");
                match v["op"].as_str() {
                    Some("event") => {
                        self.seen.push(title_number(&v));
                        self.last_id = v["id"].as_str().map(str::to_string);
                    }
                    Some("lost") => self.lost = true,
                    _ => {}
                }
            }
            self.next_url += 1;
        }
    }
}

#[tokio::test]
async fn events_added_before_start_are_replayed_then_live() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(xadd(&mut conn, n).await.unwrap());
    }
    let gateway = stream_gateway(&redis, &[]);
    gateway.wait_ready().await;
    let (mut ws, hello) = connect_hello(&format!("{}?since={}", gateway.ws_url(), ids[1])).await;
    assert_eq!(hello["last_id"], ids[4].as_str());
    for (n, id) in ids.iter().enumerate().skip(2) {
        let e = next_event(&mut ws).await;
        assert_eq!(title_number(&e), n);
        assert_eq!(e["id"], id.as_str(), "the stream entry id is the event id");
    }
    assert_eq!(next_json(&mut ws).await["op"], "resumed");
    let id = xadd(&mut conn, 5).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((title_number(&e), e["id"].as_str().unwrap()), (5, id.as_str()));
}

#[tokio::test]
async fn resume_beyond_the_window_is_backfilled_from_redis() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(xadd(&mut conn, n).await.unwrap());
    }
    let gateway = stream_gateway(&redis, &["--replay-window", "5"]);
    gateway.wait_ready().await;
    let mut follower = Follower::new(vec![gateway.ws_url()]);
    follower.last_id = Some(ids[3].clone());
    follower.collect(16, WAIT).await;
    assert_eq!(follower.seen, (4..20).collect::<Vec<_>>());
    assert!(!follower.lost, "nothing was trimmed, so nothing is reported lost");
}

#[tokio::test]
async fn resume_older_than_retention_says_events_were_lost() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(xadd(&mut conn, n).await.unwrap());
    }
    let _: i64 = redis::cmd("XTRIM").arg(KEY).arg("MAXLEN").arg(5).query_async(&mut conn).await.unwrap();
    let gateway = stream_gateway(&redis, &[]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&format!("{}?since={}", gateway.ws_url(), ids[2])).await;
    let lost = next_json(&mut ws).await;
    assert_eq!(lost["op"], "lost", "{lost}");
    assert_eq!(lost["oldest"], ids[15].as_str());
    for n in 15..20 {
        assert_eq!(title_number(&next_event(&mut ws).await), n);
    }
}

/// Publishes events `0..n` to the stream with a pause between them,
/// retrying each until Redis accepts it (Redis may be restarting). Entry ids
/// are explicit so a retry is idempotent: Redis can be killed after storing
/// an entry but before replying, and the retry must not add it twice.
fn spawn_publisher(url: String, n: usize, pause: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = redis::Client::open(url).unwrap();
        let mut conn = None;
        let base = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        for i in 0..n {
            let id = format!("{base}-{}", i + 1);
            loop {
                if conn.is_none() {
                    conn = client.get_multiplexed_async_connection().await.ok();
                }
                if let Some(c) = conn.as_mut() {
                    let added: redis::RedisResult<String> =
                        redis::cmd("XADD").arg(KEY).arg(&id).arg("event").arg(event(i)).query_async(c).await;
                    match added {
                        Ok(_) => break,
                        Err(e) if e.to_string().contains("equal or smaller") => break, // stored before the crash
                        Err(_) => {}
                    }
                    conn = None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(pause).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_move_to_another_gateway_after_kill_9_without_loss() {
    let redis = Redis::start();
    let a = stream_gateway(&redis, &[]);
    let b = stream_gateway(&redis, &[]);
    a.wait_ready().await;
    b.wait_ready().await;
    const N: usize = 300;
    let mut followers: Vec<_> = (0..4).map(|_| Follower::new(vec![a.ws_url(), b.ws_url()])).collect();
    let tasks: Vec<_> = followers
        .drain(..)
        .map(|mut f| {
            tokio::spawn(async move {
                f.collect(N, Duration::from_secs(60)).await;
                f
            })
        })
        .collect();
    a.wait_metric("rtn_clients_connected", 4.0).await;
    let publisher = spawn_publisher(redis.url(), N, Duration::from_millis(5));
    // Kill A while events flow.
    a.wait_metric("rtn_messages_sent_total", 200.0).await;
    let mut a = a;
    a.signal("KILL");
    assert!(a.wait_exit(Duration::from_secs(5)).is_none(), "killed by a signal: no exit code");
    publisher.await.unwrap();
    for task in tasks {
        let f = task.await.unwrap();
        assert_eq!(f.seen, (0..N).collect::<Vec<_>>(), "exactly the published set, in order");
        assert!(!f.lost);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_with_aof_mid_stream_loses_nothing() {
    let mut redis = Redis::start_with(true);
    let gateway = stream_gateway(&redis, &[]);
    gateway.wait_ready().await;
    const N: usize = 200;
    let url = gateway.ws_url();
    let follower = tokio::spawn(async move {
        let mut f = Follower::new(vec![url]);
        f.collect(N, Duration::from_secs(60)).await;
        f
    });
    gateway.wait_metric("rtn_clients_connected", 1.0).await;
    let publisher = spawn_publisher(redis.url(), N, Duration::from_millis(10));
    gateway.wait_metric("rtn_events_received_total", 50.0).await;
    redis.restart();
    publisher.await.unwrap();
    let f = follower.await.unwrap();
    assert_eq!(f.seen, (0..N).collect::<Vec<_>>());
    assert!(gateway.metric("rtn_source_connects_total").await >= 2.0, "the gateway reconnected");
}

#[tokio::test]
async fn a_client_offline_for_30_seconds_gets_everything_it_missed() {
    let redis = Redis::start();
    let gateway = stream_gateway(&redis, &[]);
    gateway.wait_ready().await;
    let mut follower = Follower::new(vec![gateway.ws_url()]);
    follower.last_id = Some("0-0".into()); // from the beginning of the stream
    let mut conn = redis.conn().await;
    xadd(&mut conn, 0).await.unwrap();
    follower.collect(1, WAIT).await;
    // Offline: no socket at all for 30 s while events keep coming.
    let publisher = spawn_publisher(redis.url(), 60, Duration::from_millis(490));
    tokio::time::sleep(Duration::from_secs(30)).await;
    publisher.await.unwrap();
    follower.seen.clear();
    follower.collect(60, WAIT).await;
    // Publisher numbers restart at 0: event 0 twice in the stream, once before.
    assert_eq!(follower.seen, (0..60).collect::<Vec<_>>());
}

/// Appends `events` (JSON) to the stream in pipelined batches; their ids.
async fn fill(conn: &mut redis::aio::MultiplexedConnection, events: impl Iterator<Item = String>) -> Vec<String> {
    let events: Vec<String> = events.collect();
    let mut ids = Vec::with_capacity(events.len());
    for batch in events.chunks(1000) {
        let mut pipe = redis::pipe();
        for e in batch {
            pipe.cmd("XADD").arg(KEY).arg("*").arg("event").arg(e);
        }
        let added: Vec<String> = pipe.query_async(conn).await.expect("pipelined XADD");
        ids.extend(added);
    }
    ids
}

/// Reads a resuming client's replay until `resumed`: the event numbers in
/// order, and every `lost` frame.
async fn read_replay(ws: &mut Ws) -> (Vec<usize>, Vec<Value>, Value) {
    let (mut seen, mut lost) = (Vec::new(), Vec::new());
    loop {
        let v = next_json(ws).await;
        match v["op"].as_str() {
            Some("event") => seen.push(title_number(&v)),
            Some("lost") => lost.push(v),
            Some("resumed") => return (seen, lost, v),
            _ => {}
        }
    }
}

/// Issue 10 item 3: a resume from further back than 50,000 entries that
/// the stream still holds is served in full, paged, not announced `lost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_older_than_50_000_entries_is_served_in_full() {
    const N: usize = 60_000;
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let ids = fill(&mut conn, (0..N).map(event)).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "1000"]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&format!("{}?since=0-0", gateway.ws_url())).await;
    let (seen, lost, resumed) = read_replay(&mut ws).await;
    assert!(lost.is_empty(), "nothing was trimmed: {lost:?}");
    assert_eq!(seen.len(), N);
    assert!(seen.iter().enumerate().all(|(i, n)| i == *n), "every entry once, in order");
    assert_eq!(resumed["count"], N);
    let live = xadd(&mut conn, N).await.unwrap();
    let e = next_event(&mut ws).await;
    assert_eq!((title_number(&e), e["id"].as_str()), (N, Some(live.as_str())), "then live, right after");
    assert_eq!(ids.len(), N);
}

/// Item 3: resuming clients read the stream over one shared connection,
/// not a new Redis connection each.
#[tokio::test]
async fn resuming_clients_share_one_redis_connection() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    fill(&mut conn, (0..3000).map(event)).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "100"]);
    gateway.wait_ready().await;
    let before = redis.info("total_connections_received").await;
    for _ in 0..10 {
        let (mut ws, _) = connect_hello(&format!("{}?since=0-0", gateway.ws_url())).await;
        let (seen, lost, _) = read_replay(&mut ws).await;
        assert_eq!((seen.len(), lost.len()), (3000, 0));
    }
    // The ten backfills, plus the test's own INFO connection.
    let opened = redis.info("total_connections_received").await - before;
    assert!(opened <= 2, "{opened} new Redis connections for 10 resuming clients");
}

/// Item 3: a resuming client that never reads holds about one page of the
/// stream, not the whole gap (the next page is read only once the last one
/// was written to its socket).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_clients_that_never_read_cost_a_page_not_the_whole_gap() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    // ~10 KB each: a public change naming 1,500 watchers (the audience is read, never sent).
    let big = |n: usize| {
        serde_json::json!({"page_title": format!("Page {n}"), "user_name": "U", "timestamp": "2026-11-25T01:02:03Z",
            "summary": "x".repeat(500), "audience": {"public": true, "users": (1_000_000..1_001_500).collect::<Vec<u64>>()}})
        .to_string()
    };
    fill(&mut conn, (0..4000).map(big)).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "10", "--write-timeout", "30"]);
    gateway.wait_ready().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = gateway.rss_kib();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        // A tiny receive buffer, and no reading at all after the handshake.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(gateway.addr).await.unwrap();
        let url = format!("{}?since=0-0", gateway.ws_url());
        stalled.push(tokio_tungstenite::client_async(url, stream).await.unwrap().0);
    }
    gateway.wait_metric("rtn_clients_connected", 4.0).await;
    let mut peak = before;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(gateway.rss_kib());
    }
    let grown_mib = (peak.saturating_sub(before)) / 1024;
    // The whole gap is 4 x 4,000 events of ~10 KB (about 160 MB raw, more parsed).
    assert!(grown_mib < 40, "RSS grew by {grown_mib} MiB for 4 stalled resuming clients");
    drop(stalled);
}

/// Item 3, the seam: a long backfill while the window moves on underneath
/// it (new events, a small window) delivers every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backfill_while_the_window_moves_has_no_gap_and_no_duplicate() {
    const OLD: usize = 20_000;
    const NEW: usize = 500;
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    fill(&mut conn, (0..OLD).map(event)).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "50"]);
    gateway.wait_ready().await;
    let mut follower = Follower::new(vec![gateway.ws_url()]);
    follower.last_id = Some("0-0".into());
    let publisher = tokio::spawn(async move {
        let mut conn = conn;
        for n in OLD..OLD + NEW {
            xadd(&mut conn, n).await.unwrap();
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    follower.collect(OLD + NEW, Duration::from_secs(60)).await;
    publisher.await.unwrap();
    assert!(!follower.lost);
    assert!(follower.seen.iter().enumerate().all(|(i, n)| i == *n), "in order, no gap, no duplicate");
}

/// Item 3: a client whose live queue overflows while it is being backfilled
/// is closed with 4000 and, resuming from where it got, loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_the_live_queue_during_a_backfill_closes_with_4000_and_loses_nothing() {
    const OLD: usize = 3000;
    const NEW: usize = 100;
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    fill(&mut conn, (0..OLD).map(event)).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "10", "--client-queue", "8"]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&format!("{}?since=0-0", gateway.ws_url())).await;
    let mut seen = Vec::new();
    let mut last_id = None;
    let mut published = false;
    let code = loop {
        let frame = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time").expect("open");
        match frame.expect("ws") {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["op"] == "event" {
                    seen.push(title_number(&v));
                    last_id = v["id"].as_str().map(str::to_string);
                    tokio::time::sleep(Duration::from_millis(1)).await; // a slow reader
                }
                if !published && seen.len() == 200 {
                    fill(&mut conn, (OLD..OLD + NEW).map(event)).await; // live, while the backfill goes on
                    published = true;
                }
            }
            Message::Close(frame) => break frame.map(|f| u16::from(f.code)),
            _ => {}
        }
    };
    assert_eq!(code, Some(4000), "lagged during the backfill");
    assert!(seen.len() < OLD + NEW);
    let mut follower = Follower::new(vec![gateway.ws_url()]);
    follower.last_id = last_id;
    follower.seen = seen;
    follower.collect(OLD + NEW, WAIT).await;
    assert!(!follower.lost);
    assert_eq!(follower.seen, (0..OLD + NEW).collect::<Vec<_>>());
}

/// Issue 10 item 13: a gateway that starts while Redis is down refuses or
/// holds resuming handshakes until the stream has loaded, then serves them
/// exactly (no silent gap); `/readyz` is 503 meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_while_redis_is_down_serves_no_resume_it_cannot_back() {
    let mut redis = Redis::start_with(true);
    let mut conn = redis.conn().await;
    let ids = fill(&mut conn, (0..2000).map(event)).await;
    drop(conn);
    redis.kill();
    let gateway = stream_gateway(&redis, &["--replay-window", "1000", "--handshake-timeout", "4"]);
    assert_eq!(gateway.get("/readyz").await.0, 503, "not ready while the stream is not loaded");
    let url = format!("{}?since={}", gateway.ws_url(), ids[100]);
    // Held for the handshake timeout, then refused: the client retries.
    let started = std::time::Instant::now();
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a resume before the stream loaded was answered: {:?}", other.map(|_| ())),
    }
    assert!(started.elapsed() >= Duration::from_millis(3500), "held until the timeout");
    // A handshake held while Redis comes back is served once the stream loaded.
    let held = tokio::spawn(async move {
        let (mut ws, _) = connect_hello(&url).await;
        read_replay(&mut ws).await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished());
    redis.restart();
    let (seen, lost, _) = held.await.unwrap();
    assert!(lost.is_empty(), "{lost:?}");
    assert_eq!(seen, (101..2000).collect::<Vec<_>>(), "the stream's entries after since, all of them");
    gateway.wait_ready().await;
}

/// Issue 14 §3: `lost` says where to resume (`resume_after`): resuming from
/// it gets what is left, and no `lost` again.
#[tokio::test]
async fn lost_says_where_to_resume_after() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let ids = fill(&mut conn, (0..20).map(event)).await;
    let _: i64 = redis::cmd("XTRIM").arg(KEY).arg("MAXLEN").arg(5).query_async(&mut conn).await.unwrap();
    let gateway = stream_gateway(&redis, &["--replay-window", "2"]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&format!("{}?since={}", gateway.ws_url(), ids[2])).await;
    let (seen, lost, _) = read_replay(&mut ws).await;
    assert_eq!(seen, (15..20).collect::<Vec<_>>());
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0]["since"], ids[2].as_str());
    assert_eq!(lost[0]["oldest"], ids[15].as_str());
    let resume_after = lost[0]["resume_after"].as_str().expect("resume_after").to_string();
    let id = |s: &str| -> (u64, u64) {
        let (ms, seq) = s.split_once('-').unwrap();
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    assert!(id(&ids[14]) <= id(&resume_after) && id(&resume_after) < id(&ids[15]), "{resume_after}");
    let (mut again, _) = connect_hello(&format!("{}?since={resume_after}", gateway.ws_url())).await;
    let (seen, lost, _) = read_replay(&mut again).await;
    assert_eq!((seen, lost.len()), ((15..20).collect::<Vec<_>>(), 0));
}

/// Issue 10 item 16: a change published twice (same uuid) is delivered
/// once, live and when replayed from the stream beyond the window.
#[tokio::test]
async fn a_change_published_twice_is_delivered_once() {
    let redis = Redis::start();
    let mut conn = redis.conn().await;
    let with_uuid = |n: usize, uuid: usize| {
        let mut e: Value = serde_json::from_str(&event(n)).unwrap();
        e["uuid"] = format!("00000000-0000-4000-8000-{uuid:012}").into();
        e.to_string()
    };
    // 0, 1, 1 again (a retried publish), 2, then more than the window.
    let events =
        [with_uuid(0, 0), with_uuid(1, 1), with_uuid(1, 1), with_uuid(2, 2)].into_iter().chain((3..10).map(event));
    fill(&mut conn, events).await;
    let gateway = stream_gateway(&redis, &["--replay-window", "3"]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&format!("{}?since=0-0", gateway.ws_url())).await;
    let (seen, _, _) = read_replay(&mut ws).await;
    assert_eq!(seen, (0..10).collect::<Vec<_>>(), "from the stream, each change once");
    xadd_raw(&mut conn, &with_uuid(10, 10)).await;
    xadd_raw(&mut conn, &with_uuid(10, 10)).await;
    xadd_raw(&mut conn, &event(11)).await;
    assert_eq!(title_number(&next_event(&mut ws).await), 10);
    assert_eq!(title_number(&next_event(&mut ws).await), 11, "live, the repeat is dropped");
    let (_, metrics) = gateway.get("/metrics").await;
    assert!(metrics.contains(r#"rtn_events_dropped_total{reason="duplicate"} 1"#), "{metrics}");
}

async fn xadd_raw(conn: &mut redis::aio::MultiplexedConnection, json: &str) -> String {
    redis::cmd("XADD").arg(KEY).arg("*").arg("event").arg(json).query_async(conn).await.expect("XADD")
}
