//! The `rabbitmq` source against a real, private `rabbitmq-server` (started by
//! `scripts/rabbitmq-node.sh` with its own node name, ports and data, so a
//! broker already running on the machine is never touched): delivery,
//! resume with `since` on another gateway and from the stream's history,
//! dead-lettering, and faults (the broker restarted while events flow, a
//! gateway killed under its client).
//!
//! A node takes several seconds to start (much longer on a loaded machine),
//! so the tests share one; the restart test has its own. Each test uses its
//! own stream, exchange and dead-letter queue.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use lapin::options::{BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq-node.sh")
}

/// A private RabbitMQ node, stopped on drop (and, through the script's
/// watcher, when the test process exits however it ends).
struct Broker {
    dir: tempfile::TempDir,
    url: String,
}

impl Broker {
    /// `None` (and says so) when rabbitmq-server is not installed.
    fn start() -> Option<Broker> {
        if !Path::new(SERVER).exists() {
            eprintln!(
                "SKIPPED: rabbitmq-server is not installed ({SERVER} missing); \
                 `bash scripts/install-deps.sh` installs it"
            );
            return None;
        }
        let dir = tempfile::Builder::new().prefix("rtn-rabbitmq-").tempdir().expect("tempdir");
        let mut broker = Broker { url: String::new(), dir };
        broker.url = broker.node(&["start", &broker.path(), "--watch", &std::process::id().to_string()]);
        Some(broker)
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn node(&self, args: &[&str]) -> String {
        let out = Command::new("bash").arg(script()).args(args).output().expect("run rabbitmq-node.sh");
        assert!(
            out.status.success(),
            "rabbitmq-node.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the node properly (its data stays).
    fn stop(&self) {
        self.node(&["stop", &self.path(), "--keep-epmd"]);
    }

    /// Starts it again: same port, same data.
    fn restart(&self) {
        self.node(&["start", &self.path()]);
    }

    async fn publisher(&self) -> Publisher {
        Publisher::connect(&self.url).await.expect("connect to the test broker")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["stop", &self.path()]).output();
    }
}

/// The node every test but the restart test shares.
fn shared() -> Option<&'static Broker> {
    static BROKER: OnceLock<Option<Broker>> = OnceLock::new();
    BROKER.get_or_init(Broker::start).as_ref()
}

/// Names of one test's stream, exchange and dead-letter queue.
struct Names {
    stream: String,
    exchange: String,
    dead: String,
}

impl Names {
    fn new(test: &str) -> Names {
        Names { stream: format!("{test}.events"), exchange: format!("{test}.exchange"), dead: format!("{test}.dead") }
    }

    fn args<'a>(&'a self, url: &'a str) -> Vec<&'a str> {
        vec![
            "--source",
            "rabbitmq",
            "--amqp-url",
            url,
            "--amqp-stream",
            &self.stream,
            "--amqp-exchange",
            &self.exchange,
            "--amqp-dead-letter",
            &self.dead,
        ]
    }
}

fn gateway(broker: &Broker, names: &Names, extra: &[&str]) -> Gateway {
    let mut args = names.args(&broker.url);
    args.extend_from_slice(extra);
    Gateway::start(&args)
}

/// Publishes as the wiki does: persistent, to the exchange, with confirms.
struct Publisher {
    conn: Connection,
    channel: lapin::Channel,
}

impl Publisher {
    async fn connect(url: &str) -> lapin::Result<Publisher> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok(Publisher { conn, channel })
    }

    /// Publishes and waits for the broker's confirm; `Ok(false)` if it
    /// refused (nack) or could not route the message.
    async fn send(&self, exchange: &str, payload: &[u8]) -> lapin::Result<bool> {
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                "".into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                payload,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await?;
        Ok(confirm.is_ack() && confirm.take_message().is_none())
    }

    async fn must_send(&self, exchange: &str, payload: &[u8]) {
        assert!(self.send(exchange, payload).await.expect("publish"), "the broker took the event");
    }
}

/// Event `n`, with a uuid of its own so a repeated publish is delivered once.
fn event_u(n: usize) -> String {
    let mut v: Value = serde_json::from_str(&event(n)).expect("test event");
    v["uuid"] = format!("00000000-0000-4000-8000-{n:012}").into();
    v.to_string()
}

fn title_number(e: &Value) -> usize {
    e["page_title"].as_str().and_then(|t| t.strip_prefix("Page ")).and_then(|n| n.parse().ok()).expect("a test title")
}

/// A client that follows events across disconnects, resuming with `since`
/// from the last id it saw, on the next of `urls` each time.
struct Follower {
    urls: Vec<String>,
    next_url: usize,
    last_id: Option<String>,
    seen: Vec<usize>,
    ids: Vec<String>,
    lost: bool,
}

impl Follower {
    fn new(urls: Vec<String>) -> Follower {
        Follower { urls, next_url: 0, last_id: None, seen: Vec::new(), ids: Vec::new(), lost: false }
    }

    /// Reads until `want` events were seen in all, within `limit`; panics
    /// with `gateway`'s log otherwise.
    async fn collect(&mut self, want: usize, limit: Duration, gateway: &Gateway) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.seen.len() < want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?} of {want} events in time; log:\n{}",
                self.seen,
                gateway.log_text()
            );
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
                let text = match frame {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                    _ => break,
                };
                let v: Value = serde_json::from_str(&text).expect("frames are JSON");
                match v["op"].as_str() {
                    Some("event") => {
                        let id = v["id"].as_str().expect("event id").to_string();
                        self.seen.push(title_number(&v));
                        self.ids.push(id.clone());
                        self.last_id = Some(id);
                    }
                    Some("lost") => self.lost = true,
                    _ => {}
                }
            }
            self.next_url += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_and_resumes_on_any_gateway_and_from_the_stream() {
    let Some(broker) = shared() else { return };
    let names = Names::new("deliver");
    let a = gateway(broker, &names, &[]);
    let b = gateway(broker, &names, &[]);
    a.wait_ready().await;
    b.wait_ready().await;
    let (mut ws, _) = connect_hello(&a.ws_url()).await;
    let publisher = broker.publisher().await;
    for n in 0..5 {
        publisher.must_send(&names.exchange, event_u(n).as_bytes()).await;
    }
    let mut ids = Vec::new();
    for n in 0..5 {
        let e = next_event(&mut ws).await;
        assert_eq!(title_number(&e), n);
        ids.push(e["id"].as_str().expect("id").to_string());
    }
    // The id is the stream offset (plus one): the same on every gateway.
    assert_eq!(ids, ["0-1", "0-2", "0-3", "0-4", "0-5"]);

    // Resume on the other gateway (from its window).
    let (mut ws_b, _) = connect_hello(&format!("{}?since={}", b.ws_url(), ids[1])).await;
    for (n, id) in ids.iter().enumerate().skip(2) {
        let e = next_event(&mut ws_b).await;
        assert_eq!((title_number(&e), e["id"].as_str()), (n, Some(id.as_str())));
    }

    // A gateway started later has none of them in memory: it reads them
    // from the stream (the History), in pages, in order.
    let c = gateway(broker, &names, &["--replay-window", "2"]);
    c.wait_ready().await;
    let mut follower = Follower::new(vec![c.ws_url()]);
    follower.last_id = Some(ids[0].clone());
    follower.collect(4, Duration::from_secs(20), &c).await;
    assert_eq!(follower.seen, [1, 2, 3, 4]);
    assert!(!follower.lost);
    // And the live stream follows the replay.
    publisher.must_send(&names.exchange, event_u(5).as_bytes()).await;
    follower.collect(5, Duration::from_secs(20), &c).await;
    assert_eq!(follower.seen, [1, 2, 3, 4, 5]);
    assert_eq!(follower.ids.last().map(String::as_str), Some("0-6"));
    assert!(c.metric("rtn_source_up").await == 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_next_event_delivered() {
    let Some(broker) = shared() else { return };
    let names = Names::new("poison");
    let gw = gateway(broker, &names, &["--max-event-bytes", "2048"]);
    gw.wait_ready().await;
    let (_, metrics) = gw.get("/metrics").await;
    for reason in ["invalid", "too_large"] {
        let line = format!("rtn_events_dead_lettered_total{{reason=\"{reason}\"}} 0");
        assert!(metrics.contains(&line), "{line} is present at zero:\n{metrics}");
    }
    let (mut ws, _) = connect_hello(&gw.ws_url()).await;
    let publisher = broker.publisher().await;
    publisher.must_send(&names.exchange, b"{not json").await;
    // Valid JSON, but larger than --max-event-bytes.
    let big = format!("{}{}", event_u(1), " ".repeat(3000));
    publisher.must_send(&names.exchange, big.as_bytes()).await;
    publisher.must_send(&names.exchange, event_u(7).as_bytes()).await;
    let e = next_event(&mut ws).await;
    assert_eq!(title_number(&e), 7, "the event after the poison ones is delivered");
    assert_eq!(e["id"], "0-3");

    gw.wait_metric("rtn_events_dead_lettered_total", 2.0).await;
    let (_, metrics) = gw.get("/metrics").await;
    assert!(metrics.contains("rtn_events_dead_lettered_total{reason=\"invalid\"} 1"), "{metrics}");
    assert!(metrics.contains("rtn_events_dead_lettered_total{reason=\"too_large\"} 1"), "{metrics}");

    // Both are in the dead-letter queue, with the reason and where they were.
    let channel = publisher.conn.create_channel().await.expect("channel");
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = channel
            .basic_get(names.dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
            .expect("a dead letter");
        let headers = message.properties.headers().clone().expect("headers");
        let header = |name: &str| headers.inner().get(name).cloned();
        let reason = match header("x-rtn-reason") {
            Some(AMQPValue::LongString(s)) => s.to_string(),
            other => panic!("x-rtn-reason: {other:?}"),
        };
        let offset = match header("x-rtn-stream-offset") {
            Some(AMQPValue::LongLongInt(o)) => o,
            other => panic!("x-rtn-stream-offset: {other:?}"),
        };
        assert!(matches!(header("x-rtn-error"), Some(AMQPValue::LongString(_))));
        got.push((reason, offset, message.delivery.data.len()));
    }
    assert_eq!(got[0].0, "invalid");
    assert_eq!((got[0].1, got[0].2), (0, b"{not json".len()));
    assert_eq!((got[1].0.as_str(), got[1].1, got[1].2), ("too_large", 1, big.len()));
    assert!(gw.log_text().contains("dead-lettered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_hands_its_client_to_the_other() {
    let Some(broker) = shared() else { return };
    let names = Names::new("failover");
    let a = gateway(broker, &names, &[]);
    let b = gateway(broker, &names, &[]);
    a.wait_ready().await;
    b.wait_ready().await;
    let publisher = broker.publisher().await;
    let (mut ws, _) = connect_hello(&a.ws_url()).await;
    for n in 0..10 {
        publisher.must_send(&names.exchange, event_u(n).as_bytes()).await;
    }
    let mut last = String::new();
    for n in 0..10 {
        let e = next_event(&mut ws).await;
        assert_eq!(title_number(&e), n);
        last = e["id"].as_str().expect("id").to_string();
    }
    a.signal("KILL");
    // The client sees its socket end, as a browser would.
    let ended = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(ended.is_ok(), "the socket of a killed gateway ends");
    for n in 10..20 {
        publisher.must_send(&names.exchange, event_u(n).as_bytes()).await;
    }
    // It resumes on the other gateway from the last id it saw.
    let mut follower = Follower::new(vec![b.ws_url()]);
    follower.last_id = Some(last);
    follower.collect(10, Duration::from_secs(20), &b).await;
    assert_eq!(follower.seen, (10..20).collect::<Vec<_>>(), "every event once, in order");
    assert!(!follower.lost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_while_events_flow_loses_nothing_confirmed() {
    let Some(broker) = Broker::start() else { return };
    let names = Names::new("restart");
    let gw = gateway(&broker, &names, &[]);
    gw.wait_ready().await;
    let mut follower = Follower::new(vec![gw.ws_url()]);
    const TOTAL: usize = 60;

    // The wiki side: each event until the broker confirms it, reconnecting
    // while it is down (a retried event keeps its uuid, as the wiki's
    // retry job does).
    let url = broker.url.clone();
    let exchange = names.exchange.clone();
    let (down_tx, mut down_rx) = tokio::sync::mpsc::channel::<()>(1);
    let publishing = tokio::spawn(async move {
        let mut publisher: Option<Publisher> = None;
        let mut failures = 0;
        for n in 0..TOTAL {
            loop {
                if publisher.is_none() {
                    publisher = Publisher::connect(&url).await.ok();
                }
                let sent = match &publisher {
                    Some(p) => tokio::time::timeout(Duration::from_secs(5), p.send(&exchange, event_u(n).as_bytes()))
                        .await
                        .unwrap_or(Ok(false)),
                    None => Ok(false),
                };
                if matches!(sent, Ok(true)) {
                    break;
                }
                failures += 1;
                publisher = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if n == TOTAL / 3 {
                let _ = down_tx.send(()).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        failures
    });

    // A client that stays connected to the gateway throughout.
    let (mut ws, _) = connect_hello(&gw.ws_url()).await;
    down_rx.recv().await.expect("a third was published");
    broker.stop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gw.get("/readyz").await.0 != 503 {
        assert!(tokio::time::Instant::now() < deadline, "/readyz says 503 while the broker is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gw.metric("rtn_source_up").await, 0.0);
    broker.restart();
    tokio::time::timeout(Duration::from_secs(60), gw.wait_ready()).await.expect("ready again");
    let failures = tokio::time::timeout(Duration::from_secs(120), publishing).await.expect("published").expect("task");
    assert!(failures > 0, "the outage was seen by the publisher");

    let mut seen = Vec::new();
    while seen.len() < TOTAL {
        let e = next_event(&mut ws).await;
        seen.push(title_number(&e));
    }
    assert_eq!(seen, (0..TOTAL).collect::<Vec<_>>(), "every confirmed event once, in order, live");
    // And from the stream's history too, on a fresh connection.
    follower.last_id = Some("0-0".into());
    follower.collect(TOTAL, Duration::from_secs(30), &gw).await;
    assert_eq!(follower.seen, (0..TOTAL).collect::<Vec<_>>());
    let password = broker.url.split(':').nth(2).and_then(|p| p.split('@').next()).expect("password in url");
    assert!(!gw.log_text().contains(password), "the password never reaches the log");
}
