//! `rtn-bench`: load, latency and memory benchmark for a RealTimeNotify-compatible WebSocket
//! gateway (or any server that forwards Redis pub/sub messages to WebSocket clients).
//!
//! It connects N WebSocket clients, waits until all are connected, publishes M events to a Redis
//! pub/sub channel, or appends them to a Redis Stream (`--source stream`: `XADD <key> MAXLEN ~
//! 10000 * event <json>`, as the wiki does for the gateway's `redis-stream` source), as fast as
//! possible or at a fixed rate, and checks, per client, that every event arrived exactly once and
//! in order. Each event is a valid version-1 event
//! (`docs/events.md`) whose summary carries `bench seq=<n> t=<unix nanos at publish>`, so each
//! client can measure end-to-end latency. Frames with an `op` other than `event` (the gateway's
//! `hello`, ...) are ignored. Optionally samples a server process's RSS and CPU time.
//!
//! Loopback only: non-loopback WebSocket or Redis addresses are refused.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Benchmark a WebSocket fan-out server fed by Redis pub/sub or a Redis Stream (loopback only).
///
/// Examples:
///   rtn-bench --url ws://127.0.0.1:8080/v1/ws --redis-url redis://127.0.0.1:6379 \
///             --clients 1000 --events 2000 --expect-hello          # throughput
///   rtn-bench --url ws://127.0.0.1:8080/v1/ws --clients 1000 --events 2000 --expect-hello \
///             --source stream      # the same, for `realtimenotify serve --source redis-stream`
///   rtn-bench --url ws://127.0.0.1:8080/ --clients 100 --events 2000 --rate 200   # latency
///   rtn-bench --url ws://127.0.0.1:8080/ --clients 20000 --events 1 --server-pid 1234  # memory
///   rtn-bench --url ws://127.0.0.1:8080/v1/ws --source stream --prefill 50000 --since 0-0 --no-read \
///             --clients 200 --events 0 --hold 40 --expect-hello --server-pid 1234   # backfill memory
#[derive(Parser, Debug, Clone)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// WebSocket URL of the server under test (ws://, loopback host)
    #[arg(long)]
    url: String,
    /// Redis to PUBLISH to (redis://, loopback host)
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Pub/sub channel the server subscribes to
    #[arg(long, default_value = "mediawiki:notifications")]
    channel: String,
    /// How events reach the server: PUBLISH to --channel, or XADD to --stream-key
    #[arg(long, value_enum, default_value_t = Source::Pubsub)]
    source: Source,
    /// Redis Stream the server reads (--source stream); each entry's field `event` is the JSON
    #[arg(long, default_value = "mediawiki:events")]
    stream_key: String,
    /// Number of WebSocket clients
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Number of events to publish (0: connect, measure, disconnect)
    #[arg(long, default_value_t = 100)]
    events: u64,
    /// Events per second; 0 publishes as fast as possible (pipelined in --batch sized groups)
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Pipeline size when publishing as fast as possible
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Seconds after the first publish after which the run stops and reports what arrived
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Seconds allowed for connecting all clients
    #[arg(long, default_value_t = 120.0)]
    connect_timeout: f64,
    /// Concurrent connection attempts
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// Spread clients over source addresses 127.0.0.1..127.0.0.K (0: one per 16,000 clients)
    #[arg(long, default_value_t = 0)]
    source_ips: usize,
    /// A client counts as ready only once it has received the server's {"op":"hello"} frame
    #[arg(long)]
    expect_hello: bool,
    /// Seconds to wait after all clients are ready before measuring idle RSS and publishing
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// PID of the server process: sample its RSS (/proc/PID/status VmRSS) and CPU time
    #[arg(long)]
    server_pid: Option<u32>,
    /// Name of this run in the report
    #[arg(long, default_value = "server")]
    label: String,
    /// Also write the result as JSON to this file
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// WebSocket read buffer per client, bytes (0: 8 KiB, 4 KiB above 5,000 clients)
    #[arg(long, default_value_t = 0)]
    read_buffer: usize,
    /// Before connecting, XADD this many realistic events to --stream-key (no trimming)
    #[arg(long, default_value_t = 0)]
    prefill: u64,
    /// Clients connect with ?since=ID (resume), e.g. 0-0 for the whole stream
    #[arg(long)]
    since: Option<String>,
    /// Clients never read after the handshake (after `hello` with --expect-hello)
    #[arg(long)]
    no_read: bool,
    /// Seconds to hold all clients after they are ready, sampling the server's RSS for its peak
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Percent of the machine's CPUs busy before this run (`rtn-report busy`), kept in the JSON
    #[arg(long)]
    machine_busy: Option<u64>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `PUBLISH <channel> <json>`
    Pubsub,
    /// `XADD <stream-key> MAXLEN ~ 10000 * event <json>` (docs/events.md)
    Stream,
}

/// Stream entries kept (`MAXLEN ~`), as docs/events.md suggests; well above a run's events.
const STREAM_MAXLEN: u64 = 10_000;

/// The command that hands one event to the server under test.
fn publish_cmd(args: &Args, json: String) -> redis::Cmd {
    let mut cmd;
    match args.source {
        Source::Pubsub => {
            cmd = redis::cmd("PUBLISH");
            cmd.arg(&args.channel).arg(json);
        }
        Source::Stream => {
            cmd = redis::cmd("XADD");
            cmd.arg(&args.stream_key).arg("MAXLEN").arg("~").arg(STREAM_MAXLEN).arg("*").arg("event").arg(json);
        }
    }
    cmd
}

/// Smallest PUBLISH reply (subscribers reached) among `replies`; XADD replies (ids) are skipped.
fn min_receivers(current: Option<i64>, replies: &[redis::Value]) -> Option<i64> {
    replies.iter().fold(current, |m, v| match v {
        redis::Value::Int(n) => Some(m.map_or(*n, |m| m.min(*n))),
        _ => m,
    })
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// RFC 3339 UTC timestamp (`2026-11-25T01:02:03Z`) for a Unix time in seconds.
fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One bench event: a valid version-1 event whose summary carries the sequence number and the
/// publish time.
fn event_json(seq: u64, t_ns: u64) -> String {
    json!({
        "type": "edit",
        "wiki": "benchwiki",
        "namespace": 0,
        "page_title": format!("Bench/Page {}", seq % 100),
        "user_name": "RtnBench",
        "timestamp": rfc3339(t_ns / 1_000_000_000),
        "summary": format!("bench seq={seq} t={t_ns}"),
        "page_id": 1000 + seq % 100,
        "rev_id": 100_000 + seq,
        "old_rev_id": 99_999 + seq,
        "bot": false,
        "minor": seq % 3 < 1, // every third (is_multiple_of needs Rust 1.87)
        "size_delta": (seq % 200) as i64 - 100,
        "url": format!("http://127.0.0.1/index.php?diff={}&oldid={}", 100_000 + seq, 99_999 + seq),
    })
    .to_string()
}

/// A prefilled stream entry (`--prefill`): an ordinary change as the wiki sends it, with a
/// summary of typical length and a handful of watchers in its audience (~800 bytes).
fn prefill_event_json(n: u64) -> String {
    json!({
        "schema": 1,
        "type": "edit",
        "wiki": "benchwiki",
        "namespace": n % 4,
        "page_title": format!("Bench/Some article about topic {}", n % 5000),
        "user_name": format!("Editor{}", n % 300),
        "timestamp": rfc3339(1_764_032_523 + n),
        "summary": format!("/* History */ copyedit, added two references and fixed the infobox (prefill {n}); see talk page for the sources discussed"),
        "page_id": 1000 + n % 5000,
        "rev_id": 500_000 + n,
        "old_rev_id": 499_999 + n,
        "bot": n % 17 < 1,
        "minor": n % 3 < 1,
        "size_delta": (n % 400) as i64 - 200,
        "url": format!("https://bench.wiki.example/w/index.php?diff={}&oldid={}", 500_000 + n, 499_999 + n),
        "audience": {"public": true, "users": (0..12).map(|u| 10_000 + (n * 7 + u) % 90_000).collect::<Vec<u64>>()},
    })
    .to_string()
}

/// Parses `... seq=<n> t=<ns>` out of a summary.
fn parse_summary(summary: &str) -> Option<(u64, u64)> {
    let rest = &summary[summary.find("seq=")? + 4..];
    let (seq, rest) = rest.split_once(' ')?;
    let t = rest.strip_prefix("t=")?;
    let t = t.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((seq.parse().ok()?, t.parse().ok()?))
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    op: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    summary: Option<std::borrow::Cow<'a, str>>,
}

fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

fn loopback_addr(uri: &Uri, default_port: u16, what: &str) -> anyhow::Result<SocketAddr> {
    let host = uri.host().with_context(|| format!("{what}: no host in {uri}"))?;
    if !is_loopback_host(host) {
        bail!("{what}: refusing non-loopback host {host:?} (this tool only targets 127.0.0.0/8 or ::1)");
    }
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if h.eq_ignore_ascii_case("localhost") { Ipv4Addr::LOCALHOST.into() } else { h.parse()? };
    Ok(SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)))
}

/// Memory and CPU of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
struct ProcSample {
    rss_kib: u64,
    cpu_ticks: u64,
}

fn proc_sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" of the command name: state is field 3; utime, stime are 14, 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu_ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ProcSample { rss_kib, cpu_ticks })
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Raises RLIMIT_NOFILE to at least `need` (the hard limit too, when permitted).
fn raise_nofile(need: u64) -> anyhow::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur >= need {
        return Ok(lim.rlim_cur);
    }
    let mut want = libc::rlimit { rlim_cur: need.max(lim.rlim_cur), rlim_max: lim.rlim_max.max(need) };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
        // Not allowed to raise the hard limit: go as high as it allows.
        want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    Ok(want.rlim_cur)
}

struct Shared {
    /// Clients that received every planned event or ended early (each counted once).
    finished: AtomicUsize,
    ready: AtomicUsize,
    failed: AtomicUsize,
    alive: AtomicUsize,
    progress: Notify,
}

impl Shared {
    fn poke(&self) {
        self.progress.notify_one();
    }
}

#[derive(Default)]
struct ClientStats {
    connected: bool,
    connect_error: Option<String>,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    bad_frames: u64,
    control_frames: u64,
    unexpected_seq: u64,
    first_rx_ns: u64,
    last_rx_ns: u64,
    latencies_us: Vec<u32>,
    /// Why the connection ended before the run stopped it (close code or error).
    ended: Option<String>,
    seen: Vec<u64>,
}

impl ClientStats {
    fn record(&mut self, seq: u64, t_ns: u64, rx_ns: u64, events: u64, max_seq: &mut Option<u64>) {
        if seq >= events {
            self.unexpected_seq += 1;
            return;
        }
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if self.seen.is_empty() {
            self.seen = vec![0; events.div_ceil(64) as usize];
            self.latencies_us.reserve(events.min(1 << 16) as usize);
            self.first_rx_ns = rx_ns;
        }
        if self.seen[w] & (1 << b) != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[w] |= 1 << b;
        self.received += 1;
        if let Some(m) = *max_seq {
            if seq < m {
                self.out_of_order += 1;
            }
        }
        *max_seq = Some(max_seq.map_or(seq, |m| m.max(seq)));
        self.last_rx_ns = rx_ns;
        let lat_us = rx_ns.saturating_sub(t_ns) / 1000;
        self.latencies_us.push(lat_us.min(u32::MAX as u64) as u32);
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn connect_one(
    uri: &Uri,
    target: SocketAddr,
    source: Option<Ipv4Addr>,
    config: WebSocketConfig,
) -> anyhow::Result<Ws> {
    let socket = if target.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    if let (Some(src), true) = (source, target.is_ipv4()) {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // Let connect() pick the port per 4-tuple instead of reserving one at bind time, so
        // ports are not exhausted across source addresses.
        // SAFETY: valid fd and option buffer.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket.bind(SocketAddr::new(src.into(), 0))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    let (ws, _resp) = tokio_tungstenite::client_async_with_config(uri.clone(), stream, Some(config)).await?;
    Ok(ws)
}

#[allow(clippy::too_many_arguments)]
async fn run_client(
    uri: Uri,
    target: SocketAddr,
    source: Option<Ipv4Addr>,
    config: WebSocketConfig,
    args: Arc<Args>,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    connect_deadline: Instant,
    mut stop: watch::Receiver<bool>,
) -> ClientStats {
    let mut st = ClientStats::default();
    let mut ws = {
        let _permit = sem.acquire().await;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = connect_deadline.saturating_duration_since(Instant::now());
            let res =
                tokio::time::timeout(left.max(Duration::from_millis(1)), connect_one(&uri, target, source, config))
                    .await;
            match res {
                Ok(Ok(ws)) => break ws,
                Ok(Err(e)) if attempt < 8 && Instant::now() < connect_deadline => {
                    st.connect_error = Some(format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Ok(Err(e)) => {
                    st.connect_error = Some(format!("{e:#}"));
                    shared.failed.fetch_add(1, Ordering::SeqCst);
                    shared.poke();
                    return st;
                }
                Err(_) => {
                    st.connect_error = Some("connect timeout".into());
                    shared.failed.fetch_add(1, Ordering::SeqCst);
                    shared.poke();
                    return st;
                }
            }
        }
    };
    st.connected = true;
    st.connect_error = None;
    shared.alive.fetch_add(1, Ordering::SeqCst);
    let mut ready = false;
    if !args.expect_hello {
        ready = true;
        shared.ready.fetch_add(1, Ordering::SeqCst);
        shared.poke();
        if args.no_read {
            let _ = stop.changed().await;
            return st;
        }
    }
    let events = args.events;
    let mut max_seq = None;
    let mut finished = events == 0;
    if finished {
        shared.finished.fetch_add(1, Ordering::SeqCst);
    }
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            msg = ws.next() => {
                let rx_ns = now_ns();
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        let frame: Frame = match serde_json::from_str(text.as_str()) {
                            Ok(f) => f,
                            Err(_) => { st.bad_frames += 1; continue; }
                        };
                        match frame.op.as_deref() {
                            None | Some("event") => {}
                            Some(op) => {
                                st.control_frames += 1;
                                if op == "hello" && !ready {
                                    ready = true;
                                    shared.ready.fetch_add(1, Ordering::SeqCst);
                                    shared.poke();
                                }
                                if ready && args.no_read {
                                    // Hold the socket without reading until the run stops.
                                    let _ = stop.changed().await;
                                    break;
                                }
                                continue;
                            }
                        }
                        match frame.summary.as_deref().and_then(parse_summary) {
                            Some((seq, t)) => {
                                st.record(seq, t, rx_ns, events, &mut max_seq);
                                if st.received == events && !finished {
                                    finished = true;
                                    shared.finished.fetch_add(1, Ordering::SeqCst);
                                    shared.poke();
                                }
                            }
                            None => st.bad_frames += 1,
                        }
                    }
                    Some(Ok(Message::Binary(_))) => st.bad_frames += 1,
                    Some(Ok(Message::Close(cf))) => {
                        st.ended = Some(match cf {
                            Some(cf) => format!("close {}", u16::from(cf.code)),
                            None => "close (no code)".into(),
                        });
                        break;
                    }
                    Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    Some(Err(e)) => {
                        st.ended = Some(format!("error: {}", short_err(&e.to_string())));
                        break;
                    }
                    None => {
                        st.ended = Some("eof".into());
                        break;
                    }
                }
            }
        }
    }
    if st.ended.is_some() {
        if !ready {
            shared.failed.fetch_add(1, Ordering::SeqCst);
        } else if !finished {
            shared.finished.fetch_add(1, Ordering::SeqCst);
        }
        shared.alive.fetch_sub(1, Ordering::SeqCst);
        shared.poke();
    }
    drop(ws);
    st
}

fn short_err(s: &str) -> String {
    s.chars().take(60).collect()
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Arc::new(Args::parse());
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rtn-bench: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Arc<Args>) -> anyhow::Result<()> {
    // --- validation: loopback only ---------------------------------------------------------
    let uri: Uri = args.url.parse().with_context(|| format!("parsing --url {}", args.url))?;
    match uri.scheme_str() {
        Some("ws") => {}
        other => bail!("--url: only ws:// is supported (got {other:?})"),
    }
    let target = loopback_addr(&uri, 80, "--url")?;
    let ruri: Uri = args.redis_url.parse().with_context(|| format!("parsing --redis-url {}", args.redis_url))?;
    if ruri.scheme_str() != Some("redis") {
        bail!("--redis-url: only redis:// is supported");
    }
    loopback_addr(&ruri, 6379, "--redis-url")?;
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }

    let nofile = raise_nofile(args.clients as u64 + 1024)?;
    if nofile < args.clients as u64 + 64 {
        eprintln!("warning: RLIMIT_NOFILE is {nofile}, too low for {} clients", args.clients);
    }

    let redis = redis::Client::open(args.redis_url.as_str())?;
    let mut con = tokio::time::timeout(Duration::from_secs(10), redis.get_multiplexed_async_connection())
        .await
        .context("redis connect timeout")??;
    // The client's default of 500 ms per reply fails a pipelined burst on a busy machine.
    con.set_response_timeout(Duration::from_secs(30));
    let subscribers: Vec<(String, i64)> =
        redis::cmd("PUBSUB").arg("NUMSUB").arg(&args.channel).query_async(&mut con).await.context("PUBSUB NUMSUB")?;
    let numsub = subscribers.first().map_or(0, |s| s.1);
    if numsub == 0 && args.source == Source::Pubsub {
        eprintln!("warning: nobody is subscribed to {} on {}", args.channel, args.redis_url);
    }

    if args.prefill > 0 {
        let started = Instant::now();
        for from in (0..args.prefill).step_by(500) {
            let mut p = redis::pipe();
            for n in from..(from + 500).min(args.prefill) {
                p.cmd("XADD").arg(&args.stream_key).arg("*").arg("event").arg(prefill_event_json(n)).ignore();
            }
            let () = p.query_async(&mut con).await.context("prefilling the stream")?;
        }
        eprintln!(
            "[{}] prefilled {} entries into {} in {:.1}s",
            args.label,
            args.prefill,
            args.stream_key,
            started.elapsed().as_secs_f64()
        );
        // Let the server take them in (they reach its window live) before the "before" sample.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let uri: Uri = match &args.since {
        Some(since) => format!("{}{}since={since}", args.url, if args.url.contains('?') { '&' } else { '?' })
            .parse()
            .context("--since makes a bad URL")?,
        None => uri,
    };

    let tps = ticks_per_sec();
    let sample = || args.server_pid.and_then(proc_sample);
    let s_before = sample();
    let me_before = proc_sample(std::process::id());

    // --- connect -------------------------------------------------------------------------
    let n_src = if args.source_ips == 0 { args.clients.div_ceil(16_000).max(1) } else { args.source_ips };
    let n_src = n_src.min(254);
    let read_buffer = match args.read_buffer {
        0 if args.clients > 5_000 => 4 * 1024,
        0 => 8 * 1024,
        n => n,
    };
    let config = WebSocketConfig::default().read_buffer_size(read_buffer).write_buffer_size(0);
    let shared = Arc::new(Shared {
        finished: AtomicUsize::new(0),
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        alive: AtomicUsize::new(0),
        progress: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let connect_start = Instant::now();
    let connect_deadline = connect_start + Duration::from_secs_f64(args.connect_timeout);
    let mut handles = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let source = (target.is_ipv4() && n_src > 1).then(|| Ipv4Addr::new(127, 0, 0, 1 + (i % n_src) as u8));
        handles.push(tokio::spawn(run_client(
            uri.clone(),
            target,
            source,
            config,
            args.clone(),
            shared.clone(),
            sem.clone(),
            connect_deadline,
            stop_rx.clone(),
        )));
    }
    loop {
        let ready = shared.ready.load(Ordering::SeqCst);
        let failed = shared.failed.load(Ordering::SeqCst);
        if ready + failed >= args.clients {
            break;
        }
        let left = (connect_deadline + Duration::from_secs(2)).saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!("connect timeout: {ready} ready, {failed} failed of {}", args.clients);
            break;
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), shared.progress.notified()).await;
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    let ready = shared.ready.load(Ordering::SeqCst);
    let connect_failed = args.clients - ready;
    eprintln!(
        "[{}] {ready}/{} clients ready in {connect_secs:.2}s ({} source addrs, {connect_failed} failed)",
        args.label, args.clients, n_src
    );

    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    // Idle RSS: sample until stable (two samples 300 ms apart within 1 %), at most ~3 s.
    let mut s_idle = sample();
    for _ in 0..10 {
        if args.server_pid.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let s = sample();
        let stable =
            matches!((s_idle, s), (Some(a), Some(b)) if a.rss_kib.abs_diff(b.rss_kib) * 100 <= a.rss_kib.max(1));
        s_idle = s;
        if stable {
            break;
        }
    }

    // Hold the clients as they are, sampling the server's RSS for its peak.
    let mut rss_peak = s_idle.map(|s| s.rss_kib);
    if args.hold > 0.0 {
        let until = Instant::now() + Duration::from_secs_f64(args.hold);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(s) = sample() {
                rss_peak = Some(rss_peak.map_or(s.rss_kib, |p| p.max(s.rss_kib)));
            }
        }
    }

    // --- publish -------------------------------------------------------------------------
    let events = args.events;
    let ready_clients = ready as u64;
    let first_publish_ns = now_ns();
    let pub_start = Instant::now();
    let deadline = pub_start + Duration::from_secs_f64(args.timeout);
    let s_pub_start = sample();
    let publisher = {
        let args = args.clone();
        let mut con = con.clone();
        tokio::spawn(async move {
            let mut published = 0u64;
            let mut receivers = None;
            let mut last_ns = 0;
            if args.rate > 0.0 {
                let period = 1.0 / args.rate;
                for seq in 0..args.events {
                    let at = pub_start + Duration::from_secs_f64(seq as f64 * period);
                    if at >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(at.into()).await;
                    let t = now_ns();
                    let reply: redis::Value = publish_cmd(&args, event_json(seq, t)).query_async(&mut con).await?;
                    receivers = min_receivers(receivers, &[reply]);
                    published += 1;
                    last_ns = t;
                }
            } else {
                let mut seq = 0;
                while seq < args.events && Instant::now() < deadline {
                    let end = (seq + args.batch.max(1) as u64).min(args.events);
                    let mut p = redis::pipe();
                    for s in seq..end {
                        last_ns = now_ns();
                        p.add_command(publish_cmd(&args, event_json(s, last_ns)));
                    }
                    let replies: Vec<redis::Value> = p.query_async(&mut con).await?;
                    receivers = min_receivers(receivers, &replies);
                    published += end - seq;
                    seq = end;
                }
            }
            anyhow::Ok((published, receivers, last_ns))
        })
    };

    // --- wait for delivery -------------------------------------------------------------------
    let mut publish_result = None;
    let mut publisher = Some(publisher);
    loop {
        if let Some(h) = publisher.as_mut() {
            if h.is_finished() {
                publish_result = Some(publisher.take().unwrap().await?.context("publishing")?);
            }
        }
        let done = publisher.is_none() && shared.finished.load(Ordering::SeqCst) >= ready;
        if done || shared.alive.load(Ordering::SeqCst) == 0 || Instant::now() >= deadline {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), shared.progress.notified()).await;
    }
    let timed_out = Instant::now() >= deadline && shared.finished.load(Ordering::SeqCst) < ready;
    let s_after = sample();
    if let Some(h) = publisher.take() {
        h.abort();
    }
    let (published, min_receivers, last_publish_ns) = publish_result.unwrap_or((0, None, 0));
    let pub_secs = if last_publish_ns > 0 { (last_publish_ns - first_publish_ns) as f64 / 1e9 } else { 0.0 };

    // --- stop & collect -------------------------------------------------------------------
    let _ = stop_tx.send(true);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut delivered = 0u64;
    let mut lost = 0u64;
    let mut clients_with_loss = 0u64;
    let (mut dups, mut ooo, mut bad, mut unexpected) = (0u64, 0u64, 0u64, 0u64);
    let mut last_rx_ns = 0u64;
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    for h in handles {
        let st = h.await?;
        if !st.connected {
            *connect_errors.entry(short_err(st.connect_error.as_deref().unwrap_or("?"))).or_default() += 1;
            continue;
        }
        delivered += st.received;
        let l = published.saturating_sub(st.received);
        lost += l;
        clients_with_loss += u64::from(l > 0);
        dups += st.duplicates;
        ooo += st.out_of_order;
        bad += st.bad_frames;
        unexpected += st.unexpected_seq;
        last_rx_ns = last_rx_ns.max(st.last_rx_ns);
        if let Some(e) = st.ended {
            *ended.entry(e).or_default() += 1;
        }
        for l in st.latencies_us {
            hist.record(u64::from(l).max(1)).ok();
        }
    }
    let expected = ready_clients * published;
    let span_secs = if last_rx_ns > first_publish_ns { (last_rx_ns - first_publish_ns) as f64 / 1e9 } else { 0.0 };
    let dps = if span_secs > 0.0 { delivered as f64 / span_secs } else { 0.0 };
    let me_after = proc_sample(std::process::id());

    let rss_before = s_before.map(|s| s.rss_kib);
    let rss_idle = s_idle.map(|s| s.rss_kib);
    let rss_after = s_after.map(|s| s.rss_kib);
    let rss_per_conn = match (rss_before, rss_idle) {
        (Some(b), Some(i)) if ready > 0 => Some((i as f64 - b as f64) * 1024.0 / ready as f64),
        _ => None,
    };
    let cpu = |a: Option<ProcSample>, b: Option<ProcSample>| match (a, b) {
        (Some(a), Some(b)) => Some((b.cpu_ticks.saturating_sub(a.cpu_ticks)) as f64 / tps),
        _ => None,
    };
    let server_cpu_connect = cpu(s_before, s_idle);
    let server_cpu_deliver = cpu(s_pub_start, s_after);
    let bench_cpu = cpu(me_before, me_after);
    let q = |p: f64| if hist.is_empty() { None } else { Some(ms(hist.value_at_quantile(p))) };

    let result = json!({
        "label": args.label,
        "url": args.url,
        "clients": args.clients,
        "clients_ready": ready,
        "connect_failed": connect_failed,
        "connect_errors": connect_errors,
        "connect_secs": connect_secs,
        "source_addrs": n_src,
        "source": match args.source { Source::Pubsub => "pubsub", Source::Stream => "stream" },
        "stream_key": (args.source == Source::Stream).then_some(&args.stream_key),
        "redis_subscribers": numsub,
        "min_publish_receivers": min_receivers,
        "events_planned": events,
        "events_published": published,
        "rate": args.rate,
        "publish_secs": pub_secs,
        "expected": expected,
        "delivered": delivered,
        "lost": lost,
        "clients_with_loss": clients_with_loss,
        "duplicates": dups,
        "out_of_order": ooo,
        "bad_frames": bad,
        "unexpected_seq": unexpected,
        "ended_early": ended,
        "timed_out": timed_out,
        "delivery_span_secs": span_secs,
        "deliveries_per_sec": dps,
        "latency_ms": {
            "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999),
            "max": if hist.is_empty() { None } else { Some(ms(hist.max())) },
            "mean": if hist.is_empty() { None } else { Some(hist.mean() / 1000.0) },
        },
        "server_pid": args.server_pid,
        "server_rss_kib": { "before": rss_before, "idle": rss_idle, "peak": rss_peak, "after": rss_after },
        "prefill": args.prefill,
        "since": args.since,
        "no_read": args.no_read,
        "hold_secs": args.hold,
        "server_rss_per_conn_bytes": rss_per_conn,
        "server_cpu_secs": { "connect": server_cpu_connect, "deliver": server_cpu_deliver },
        "server_cpu_us_per_delivery": server_cpu_deliver.filter(|_| delivered > 0).map(|c| c * 1e6 / delivered as f64),
        "bench_cpu_secs": bench_cpu,
        "machine_busy_pct": args.machine_busy,
    });

    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!("== {} ({})", args.label, args.url);
    let via = match (args.source, min_receivers) {
        (Source::Stream, _) => format!("XADD to stream {}", args.stream_key),
        (Source::Pubsub, n) => format!("redis receivers >= {}", n.unwrap_or(0)),
    };
    println!(
        "clients {ready}/{} ready in {connect_secs:.2}s; events {published}/{events} published in {pub_secs:.3}s ({via})",
        args.clients
    );
    println!(
        "delivered {delivered}/{expected}  lost {lost} ({clients_with_loss} clients)  dup {dups}  out-of-order {ooo}  bad {bad}{}",
        if timed_out { "  TIMED OUT" } else { "" }
    );
    if !ended.is_empty() {
        println!("connections ended by server: {ended:?}");
    }
    if !connect_errors.is_empty() {
        println!("connect errors: {connect_errors:?}");
    }
    println!("deliveries/s {dps:.0} over {span_secs:.3}s");
    println!(
        "latency ms  p50 {}  p90 {}  p99 {}  p999 {}  max {}",
        f(q(0.5)),
        f(q(0.9)),
        f(q(0.99)),
        f(q(0.999)),
        f((!hist.is_empty()).then(|| ms(hist.max())))
    );
    if args.server_pid.is_some() {
        println!(
            "server RSS KiB  before {}  idle {}  after {}  per-conn {} B;  server CPU s  connect {}  deliver {}",
            rss_before.map_or("-".into(), |v| v.to_string()),
            rss_idle.map_or("-".into(), |v| v.to_string()),
            rss_after.map_or("-".into(), |v| v.to_string()),
            rss_per_conn.map_or("-".into(), |v| format!("{v:.0}")),
            f(server_cpu_connect),
            f(server_cpu_deliver),
        );
    }
    if args.hold > 0.0 {
        let grown = match (rss_before, rss_peak) {
            (Some(b), Some(p)) => format!("{:.1} MiB", (p as f64 - b as f64) / 1024.0),
            _ => "-".into(),
        };
        println!(
            "server RSS KiB peak over {:.0}s hold {} (grew {grown} from before)",
            args.hold,
            rss_peak.map_or("-".into(), |v| v.to_string())
        );
    }
    println!("bench CPU s {}", f(bench_cpu));
    // One line for bench/run.sh's progress log (stderr, last line).
    let per_conn = |at: Option<u64>| match (rss_before, at) {
        (Some(b), Some(a)) if ready > 0 => format!("{:.0}", (a as f64 - b as f64) * 1024.0 / ready as f64),
        _ => "-".into(),
    };
    eprintln!(
        "{:<8} ready {ready}/{} in {connect_secs:.2}s | delivered {delivered}/{expected} lost {lost} ended {} | \
         {dps:.0} dlv/s | p50 {} p99 {} ms | rss/conn idle {} after {} B | cpu {} us/dlv",
        args.label,
        args.clients,
        ended.values().sum::<u64>(),
        f(q(0.5)),
        f(q(0.99)),
        per_conn(rss_idle),
        per_conn(rss_after),
        f(server_cpu_deliver.filter(|_| delivered > 0).map(|c| c * 1e6 / delivered as f64)),
    );
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&result)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_032_523), "2025-11-25T01:02:03Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn summaries() {
        assert_eq!(parse_summary("bench seq=17 t=123"), Some((17, 123)));
        assert_eq!(parse_summary("bench seq=x t=123"), None);
        let ev: serde_json::Value = serde_json::from_str(&event_json(5, 1_764_032_523_000_000_000)).unwrap();
        assert_eq!(ev["timestamp"], "2025-11-25T01:02:03Z");
        assert_eq!(parse_summary(ev["summary"].as_str().unwrap()), Some((5, 1_764_032_523_000_000_000)));
    }

    #[test]
    fn publish_commands() {
        let packed = |extra: &[&str]| {
            let mut argv = vec!["rtn-bench", "--url", "ws://127.0.0.1:1/"];
            argv.extend_from_slice(extra);
            let args = Args::parse_from(argv);
            String::from_utf8(publish_cmd(&args, "{}".into()).get_packed_command()).unwrap()
        };
        // RESP: "*<n>", then "$<len>" and the word for each argument.
        let words = |s: String| s.split("\r\n").skip(2).step_by(2).map(String::from).collect::<Vec<_>>();
        assert_eq!(words(packed(&[])), ["PUBLISH", "mediawiki:notifications", "{}"]);
        assert_eq!(
            words(packed(&["--source", "stream", "--stream-key", "k"])),
            ["XADD", "k", "MAXLEN", "~", "10000", "*", "event", "{}"]
        );
    }

    #[test]
    fn receivers() {
        use redis::Value;
        assert_eq!(min_receivers(None, &[Value::Int(3), Value::Int(2)]), Some(2));
        assert_eq!(min_receivers(Some(1), &[Value::Int(3)]), Some(1));
        assert_eq!(min_receivers(None, &[Value::BulkString(b"1-0".to_vec())]), None);
        assert_eq!(min_receivers(None, &[]), None);
    }

    #[test]
    fn loopback() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.3.0.9"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("10.0.0.1"));
        assert!(!is_loopback_host("example.org"));
    }
}
