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
