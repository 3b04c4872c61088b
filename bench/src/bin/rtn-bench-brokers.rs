//! Deliveries per second and end-to-end latency through each durable broker, in one run:
//! the Redis Stream (`--source redis-stream`, events XADDed as the wiki does) and a RabbitMQ
//! stream (`--source rabbitmq`, events published to the exchange with publisher confirms, as the
//! wiki's php-amqplib transport does). `bench/brokers.sh` starts both brokers and both gateways.
//!
//! For each broker: `--clients` WebSocket clients connect; `--events` events are published as
//! fast as the broker confirms them (a burst); the clock runs from the first publish to the last
//! delivery, and each event's latency is its delivery time minus the publish time it carries.
//! Then `--rate` events per second for `--secs` seconds (paced): the latency of a steady flow.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// Redis the redis-stream gateway reads
    #[arg(long)]
    redis_url: String,
    #[arg(long, default_value = "mediawiki:events")]
    stream_key: String,
    /// WebSocket URL of the gateway reading the Redis Stream
    #[arg(long)]
    redis_ws: String,
    /// RabbitMQ the rabbitmq gateway reads
    #[arg(long)]
    amqp_url: String,
    #[arg(long, default_value = "realtimenotify")]
    amqp_exchange: String,
    /// WebSocket URL of the gateway reading the RabbitMQ stream
    #[arg(long)]
    amqp_ws: String,
    #[arg(long, default_value_t = 50)]
    clients: usize,
    #[arg(long, default_value_t = 2000)]
    events: u64,
    #[arg(long, default_value_t = 200)]
    rate: u64,
    #[arg(long, default_value_t = 5)]
    secs: u64,
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn event(seq: u64) -> String {
    json!({
        "type": "edit", "wiki": "benchwiki", "namespace": 0,
        "page_title": format!("Bench/Page {}", seq % 100), "user_name": "RtnBench",
        "timestamp": "2026-11-30T00:00:00Z", "summary": format!("bench seq={seq} t={}", now_ns()),
    })
    .to_string()
}

/// The publish time an event's summary carries.
fn sent_at(frame: &Value) -> Option<u64> {
    frame["summary"].as_str()?.split(" t=").nth(1)?.parse().ok()
}

/// Where the events go.
enum Publisher {
    Redis(redis::aio::MultiplexedConnection, String),
    Amqp(lapin::Channel, String),
}

impl Publisher {
    /// Publishes `events` and returns once the broker has all of them (XADD replies, confirms).
    async fn burst(&mut self, first: u64, count: u64) -> anyhow::Result<()> {
        match self {
            Publisher::Redis(conn, key) => {
                for chunk in (first..first + count).collect::<Vec<_>>().chunks(100) {
                    let mut pipe = redis::pipe();
                    for &seq in chunk {
                        pipe.cmd("XADD")
                            .arg(&*key)
                            .arg("MAXLEN")
                            .arg("~")
                            .arg(100_000)
                            .arg("*")
                            .arg("event")
                            .arg(event(seq))
                            .ignore();
                    }
                    let () = pipe.query_async(conn).await.context("XADD")?;
                }
            }
            Publisher::Amqp(channel, exchange) => {
                let mut confirms = Vec::with_capacity(count as usize);
                for seq in first..first + count {
                    confirms.push(
                        channel
                            .basic_publish(
                                exchange.as_str().into(),
                                "".into(),
                                BasicPublishOptions::default(),
                                event(seq).as_bytes(),
                                BasicProperties::default().with_delivery_mode(2),
                            )
                            .await
                            .context("basic.publish")?,
                    );
                }
                for confirm in confirms {
                    anyhow::ensure!(confirm.await.context("confirm")?.is_ack(), "the broker nacked an event");
                }
            }
        }
        Ok(())
    }
}

/// What the clients saw.
struct Seen {
    deliveries: u64,
    last: Instant,
    latency: Histogram<u64>,
}

async fn measure(name: &str, ws_url: &str, mut publisher: Publisher, args: &Args) -> anyhow::Result<Value> {
    let seen = Arc::new(Mutex::new(Seen {
        deliveries: 0,
        last: Instant::now(),
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram")?,
    }));
    let mut clients = Vec::new();
    for _ in 0..args.clients {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(ws_url).await.with_context(|| format!("connecting to {ws_url}"))?;
        let seen = seen.clone();
        // Wait for hello: the client is subscribed.
        while let Some(Ok(frame)) = ws.next().await {
            if matches!(&frame, Message::Text(t) if t.contains("\"hello\"")) {
                break;
            }
        }
        clients.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = ws.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                if v["op"] != "event" {
                    continue;
                }
                let rx = now_ns();
                let mut s = seen.lock().await;
                s.deliveries += 1;
                s.last = Instant::now();
                if let Some(t) = sent_at(&v) {
                    let _ = s.latency.record(rx.saturating_sub(t) / 1000);
                }
            }
        }));
    }
    // The burst.
    let want = args.clients as u64 * args.events;
    let start = Instant::now();
    publisher.burst(0, args.events).await?;
    let published = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.lock().await.deliveries < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (burst_deliveries, burst_secs, burst_p50, burst_p99) = {
        let mut s = seen.lock().await;
        let secs = s.last.duration_since(start).as_secs_f64();
        let r = (s.deliveries, secs, s.latency.value_at_quantile(0.5), s.latency.value_at_quantile(0.99));
        s.latency.reset();
        s.deliveries = 0;
        r
    };
    // The steady flow.
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / args.rate.max(1)));
    let total = args.rate * args.secs;
    for seq in 0..total {
        tick.tick().await;
        publisher.burst(args.events + seq, 1).await?;
    }
    let want = args.clients as u64 * total;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.lock().await.deliveries < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let s = seen.lock().await;
    for c in clients {
        c.abort();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let result = json!({
        "broker": name,
        "clients": args.clients,
        "burst_events": args.events,
        "burst_published_s": published.as_secs_f64(),
        "burst_deliveries": burst_deliveries,
        "burst_deliveries_per_s": (burst_deliveries as f64 / burst_secs.max(1e-9)).round(),
        "burst_latency_p50_ms": ms(burst_p50),
        "burst_latency_p99_ms": ms(burst_p99),
        "steady_rate": args.rate,
        "steady_deliveries": s.deliveries,
        "steady_expected": want,
        "steady_latency_p50_ms": ms(s.latency.value_at_quantile(0.5)),
        "steady_latency_p99_ms": ms(s.latency.value_at_quantile(0.99)),
        "steady_latency_max_ms": ms(s.latency.max()),
    });
    Ok(result)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let redis = redis::Client::open(args.redis_url.as_str()).context("redis url")?;
    let conn = redis.get_multiplexed_async_connection().await.context("connecting to redis")?;
    let amqp =
        Connection::connect(&args.amqp_url, ConnectionProperties::default()).await.context("connecting to rabbitmq")?;
    let channel = amqp.create_channel().await.context("channel")?;
    channel.confirm_select(ConfirmSelectOptions::default()).await.context("confirm.select")?;
    let mut results = Vec::new();
    results
        .push(measure("redis-stream", &args.redis_ws, Publisher::Redis(conn, args.stream_key.clone()), &args).await?);
    results
        .push(measure("rabbitmq", &args.amqp_ws, Publisher::Amqp(channel, args.amqp_exchange.clone()), &args).await?);
    println!("{}", serde_json::to_string_pretty(&results)?);
    println!();
    println!("| source | clients | burst: deliveries/s | burst p50 / p99 ms | steady {} ev/s: p50 / p99 / max ms | steady delivered |", args.rate);
    println!("|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} | {} / {} | {} / {} / {} | {}/{} |",
            r["broker"],
            r["clients"],
            r["burst_deliveries_per_s"],
            r["burst_latency_p50_ms"],
            r["burst_latency_p99_ms"],
            r["steady_latency_p50_ms"],
            r["steady_latency_p99_ms"],
            r["steady_latency_max_ms"],
            r["steady_deliveries"],
            r["steady_expected"]
        );
    }
    Ok(())
}
