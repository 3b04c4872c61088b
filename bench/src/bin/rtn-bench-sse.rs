//! `rtn-bench-sse`: fan-out and idle memory of the gateway's SSE feed
//! (`/v2/stream/recentchange`, issue 11), to set beside `rtn-bench`'s WebSocket figures.
//!
//! Connects N SSE readers (plain HTTP/1.0, so the body is the stream itself), waits until each
//! has its opening comment, samples the server's RSS, publishes M events to Redis pub/sub as
//! fast as possible (pipelined), and counts each reader's `event: message` until it has all M:
//! deliveries/s = N × M / (last delivery − first publish). With `--events 0` it only measures
//! the RSS the connected readers add (idle memory per SSE connection).
//!
//! Loopback only.
//!
//!   rtn-bench-sse --url http://127.0.0.1:8080/v2/stream/recentchange --clients 1000 --events 2000 --server-pid PID
//!   rtn-bench-sse --url http://127.0.0.1:8080/v2/stream/recentchange --clients 10000 --events 0 --server-pid PID

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

#[derive(Parser, Debug)]
#[command(about = "Fan-out and idle memory of the gateway's SSE feed (loopback only)")]
struct Args {
    /// SSE URL (http://127.0.0.1:PORT/v2/stream/recentchange)
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[arg(long, default_value = "mediawiki:notifications")]
    channel: String,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Events to publish (0: idle memory only)
    #[arg(long, default_value_t = 2000)]
    events: usize,
    /// Server PID, for its RSS
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds to wait for every delivery
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

/// `(host:port, path)` of a loopback `http://` URL.
fn split(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url.strip_prefix("http://").context("--url must be http://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let addr: SocketAddr = authority.parse().with_context(|| format!("{authority} is not IP:PORT"))?;
    if !addr.ip().is_loopback() {
        bail!("only loopback servers: {addr}");
    }
    Ok((addr, path))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// Counts `needle` in a stream of chunks, across chunk boundaries.
struct Counter {
    tail: Vec<u8>,
}

const NEEDLE: &[u8] = b"event: message\n";

impl Counter {
    fn feed(&mut self, chunk: &[u8]) -> usize {
        self.tail.extend_from_slice(chunk);
        let n = self.tail.windows(NEEDLE.len()).filter(|w| *w == NEEDLE).count();
        let keep = self.tail.len().min(NEEDLE.len() - 1);
        self.tail.drain(..self.tail.len() - keep);
        n
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (addr, path) = split(&args.url)?;
    let before = args.server_pid.and_then(rss_kib);
    let connected = Arc::new(AtomicUsize::new(0));
    let all_connected = Arc::new(Notify::new());
    let done = Arc::new(AtomicUsize::new(0));
    let all_done = Arc::new(Notify::new());
    let last_delivery = Arc::new(std::sync::Mutex::new(None::<Instant>));
    // Connect a few hundred at a time: the listen backlog is finite.
    let opening = Arc::new(Semaphore::new(256));
    let mut readers = Vec::with_capacity(args.clients);
    let started = Instant::now();
    for _ in 0..args.clients {
        let (connected, all_connected, done, all_done, last, opening) = (
            connected.clone(),
            all_connected.clone(),
            done.clone(),
            all_done.clone(),
            last_delivery.clone(),
            opening.clone(),
        );
        let (path, clients, events) = (path.clone(), args.clients, args.events);
        readers.push(tokio::spawn(async move {
            let permit = opening.acquire_owned().await.context("semaphore")?;
            let mut stream = TcpStream::connect(addr).await.context("connect")?;
            stream
                .write_all(
                    format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n").as_bytes(),
                )
                .await?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut head = Vec::new();
            // Until the opening comment: the reader is subscribed.
            while !head.windows(4).any(|w| w == b":ok\n") {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    bail!("closed before the stream opened: {}", String::from_utf8_lossy(&head));
                }
                head.extend_from_slice(&buf[..n]);
            }
            drop(permit);
            if connected.fetch_add(1, Ordering::SeqCst) + 1 == clients {
                all_connected.notify_one();
            }
            let mut counter = Counter { tail: Vec::new() };
            let mut got = counter.feed(&head);
            while got < events {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    bail!("stream ended after {got} of {events}");
                }
                got += counter.feed(&buf[..n]);
            }
            if events > 0 {
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                if done.fetch_add(1, Ordering::SeqCst) + 1 == clients {
                    all_done.notify_one();
                }
            }
            // Idle mode: hold the connection until the process exits.
            std::future::pending::<()>().await;
            Ok(())
        }));
    }
    if args.clients > 0 {
        tokio::time::timeout(Duration::from_secs(120), all_connected.notified())
            .await
            .context("not every reader connected within 120 s")?;
    }
    println!("connected {} SSE readers in {:.1} s", args.clients, started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected_rss = args.server_pid.and_then(rss_kib);
    if let (Some(b), Some(a)) = (before, connected_rss) {
        println!(
            "server RSS {b} KiB before, {a} KiB with {} readers: {:.0} bytes per idle SSE connection",
            args.clients,
            (a.saturating_sub(b) as f64 * 1024.0) / args.clients.max(1) as f64
        );
    }
    if args.events == 0 {
        return Ok(());
    }
    let client = redis::Client::open(args.redis_url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let summary = "x".repeat(60);
    let first_publish = Instant::now();
    for chunk in (0..args.events).collect::<Vec<_>>().chunks(50) {
        let mut pipe = redis::pipe();
        for n in chunk {
            let event = serde_json::json!({"page_title": format!("Bench {n}"), "user_name": "Bench",
                "timestamp": "2026-11-25T01:02:03Z", "summary": summary, "namespace": 0, "rev_id": n + 1,
                "old_rev_id": n, "url": format!("http://127.0.0.1:8090/index.php?diff={}", n + 1)});
            pipe.cmd("PUBLISH").arg(&args.channel).arg(event.to_string()).ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
    }
    let published = first_publish.elapsed();
    tokio::time::timeout(Duration::from_secs_f64(args.timeout), all_done.notified())
        .await
        .with_context(|| format!("only {} of {} readers got every event", done.load(Ordering::SeqCst), args.clients))?;
    let last = last_delivery.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or_else(Instant::now);
    let elapsed = last.duration_since(first_publish).as_secs_f64();
    let deliveries = (args.clients * args.events) as f64;
    println!(
        "published {} events in {:.2} s; {} deliveries in {:.2} s: {:.0} deliveries/s, every reader got every event",
        args.events,
        published.as_secs_f64(),
        deliveries,
        elapsed,
        deliveries / elapsed
    );
    for reader in readers {
        reader.abort();
    }
    Ok(())
}
