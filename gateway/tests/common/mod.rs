//! Real parts for the integration tests: a `redis-server` on a free port, the
//! `realtimenotify` binary, and WebSocket clients.
#![allow(dead_code)] // each test file uses a different part of this kit

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A throwaway `redis-server`, killed on drop.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    aof: bool,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(false)
    }

    /// With `aof`, writes survive a restart (`appendonly yes`, fsync always).
    pub fn start_with(aof: bool) -> Redis {
        let mut redis = Redis::unstarted(aof);
        redis.spawn();
        redis
    }

    /// A port and a directory for a Redis that is not running (yet):
    /// [`Redis::restart`] starts it.
    pub fn unstarted(aof: bool) -> Redis {
        Redis { child: None, port: free_port(), dir: tempfile::tempdir().expect("tempdir"), aof }
    }

    /// A number from `INFO` (e.g. `total_connections_received`).
    pub async fn info(&self, field: &str) -> u64 {
        let mut conn = self.conn().await;
        let info: String = redis::cmd("INFO").query_async(&mut conn).await.expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in INFO"))
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--dir", &self.dir.path().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        self.child = Some(cmd.spawn().expect("redis-server must be installed (apt-get install redis-server)"));
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: no goodbye to its clients.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("redis url");
        client.get_multiplexed_async_connection().await.expect("connect to test redis")
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> i64 {
        let mut conn = self.conn().await;
        redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(&mut conn).await.expect("PUBLISH")
    }
}

/// A fresh `redis-server` and a gateway on it (pub/sub source) with
/// `extra` arguments, ready.
pub async fn redis_gateway(extra: &[&str]) -> (Redis, Gateway) {
    let redis = Redis::start();
    let url = redis.url();
    let mut args = vec!["--redis-url", url.as_str()];
    args.extend_from_slice(extra);
    let gateway = Gateway::start(&args);
    gateway.wait_ready().await;
    (redis, gateway)
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The gateway binary under test, SIGKILLed on drop unless it already exited.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `realtimenotify serve --listen 127.0.0.1:0 ARGS...` and waits
    /// until it reports the address it bound.
    pub fn start(args: &[&str]) -> Gateway {
        Gateway::start_on("127.0.0.1:0", args)
    }

    pub fn start_on(listen: &str, args: &[&str]) -> Gateway {
        Gateway::start_env(listen, args, &[])
    }

    /// Like [`Gateway::start_on`], with extra environment variables.
    pub fn start_env(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::launch(Launch { listen, args, env, ..Launch::default() })
    }

    /// Starts the gateway as `launch` says and waits until it reports the
    /// address it bound.
    pub fn launch(launch: Launch<'_>) -> Gateway {
        let mut command = Command::new(env!("CARGO_BIN_EXE_realtimenotify"));
        command
            .args(["serve", "--listen", launch.listen])
            .args(launch.args)
            .env("RTN_LOG_FORMAT", if launch.human_log { "human" } else { "json" })
            .env("RTN_LOG", "info,realtimenotify=debug")
            .envs(launch.env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(nofile) = launch.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only setrlimit is called, which is async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit { rlim_cur: nofile, rlim_max: nofile };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().expect("start the gateway");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr =
            rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("gateway did not start; log: {:?}", log.lock().unwrap()));
        Gateway { child, addr: addr.parse().expect("listening addr"), log }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the gateway process, in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args(["-s", name, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `GET path` → (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        http(self.addr, "GET", path, &[], "").await
    }

    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.get("/readyz").await.0 != 200 {
            assert!(tokio::time::Instant::now() < deadline, "gateway not ready; log: {:?}", self.log.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sum of a metric's samples (all label sets) on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{')))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .fold(0.0, |a, b| a + b)
    }

    pub async fn wait_metric(&self, name: &str, at_least: f64) -> f64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(name).await;
            if value >= at_least {
                return value;
            }
            assert!(tokio::time::Instant::now() < deadline, "{name} stayed at {value}, wanted >= {at_least}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

/// How to start the gateway: [`Gateway::launch`].
pub struct Launch<'a> {
    pub listen: &'a str,
    pub args: &'a [&'a str],
    /// Extra environment variables (they win over the defaults below).
    pub env: &'a [(&'a str, &'a str)],
    /// A limit on open files (`RLIMIT_NOFILE`, soft and hard) for the gateway.
    pub nofile: Option<u64>,
    /// The human log format instead of JSON.
    pub human_log: bool,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Launch { listen: "127.0.0.1:0", args: &[], env: &[], nofile: None, human_log: false }
    }
}

/// The address in the gateway's "listening" log line, in either format.
fn listening_addr(line: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return (v["message"] == "listening").then(|| v["addr"].as_str().unwrap_or_default().to_string());
    }
    let (_, after) = line.split_once(" listening addr=")?;
    Some(after.split(' ').next().unwrap_or_default().to_string())
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny HTTP/1.0 client: enough for health, metrics and ingest.
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect for http");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read response");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// RFC 6455's sample key.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A WebSocket handshake for `/v1/ws` with RFC 6455's sample key.
pub fn handshake(addr: SocketAddr) -> Vec<u8> {
    handshake_with(addr, "/v1/ws", &[])
}

/// A WebSocket handshake for `target` (path and query) with extra header lines.
pub fn handshake_with(addr: SocketAddr, target: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut request = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Protocol: realtimenotify.v1\r\n"
    );
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Sends a raw handshake and reads the answer until the server closes or a
/// close frame came: (lowercased head, frames after it).
pub async fn raw_handshake(addr: SocketAddr, target: &str, extra: &[(&str, &str)]) -> (String, Vec<(u8, Vec<u8>)>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&handshake_with(addr, target, extra)).await.expect("write");
    let raw = read_until(&mut stream, |seen| split_response(seen).1.iter().any(|f| f.0 == 8)).await;
    split_response(&raw)
}

/// A close frame's code and reason.
pub fn close_of(frame: &(u8, Vec<u8>)) -> (u16, String) {
    assert_eq!(frame.0, 8, "a close frame");
    let code = u16::from_be_bytes([frame.1[0], frame.1[1]]);
    (code, String::from_utf8_lossy(&frame.1[2..]).into_owned())
}

/// A client's text frame: final, masked (clients must mask), short.
pub fn masked_text(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The server's frames in `bytes` (unmasked, as servers send them) as
/// (opcode, payload); stops at an incomplete frame.
pub fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (opcode, short) = (bytes[0] & 0x0f, usize::from(bytes[1] & 0x7f));
        let (len, head) = match short {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            126 | 127 => break,
            n => (n, 2),
        };
        if bytes.len() < head + len {
            break;
        }
        out.push((opcode, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    out
}

/// Reads from `stream` until `done` says the bytes so far are enough, the
/// peer closes, or [`WAIT`] passes.
pub async fn read_until(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
        }
    }
    seen
}

/// Splits a raw response into its lowercased head and the frames after it.
pub fn split_response(raw: &[u8]) -> (String, Vec<(u8, Vec<u8>)>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 4);
    (String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase(), frames(&raw[end..]))
}

pub async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect timed out")
        .expect("websocket connect");
    ws
}

/// Connects and reads the `hello` frame.
pub async fn connect_hello(url: &str) -> (Ws, Value) {
    let mut ws = connect(url).await;
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["op"], "hello", "first frame is hello: {hello}");
    (ws, hello)
}

/// Next text frame as JSON (skipping pings), failing after [`WAIT`].
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no frame in time")
            .expect("stream ended")
            .expect("ws error");
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).expect("frames are JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Next event frame, skipping control frames.
pub async fn next_event(ws: &mut Ws) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["op"] == "event" {
            return v;
        }
    }
}

/// The first frame of a socket that was just upgraded: `None` when it is
/// `hello` (the client was admitted), the close code when it is a close
/// frame (a refused handshake: nothing may come before it).
pub async fn refusal(ws: &mut Ws) -> Option<u16> {
    let first = tokio::time::timeout(WAIT, ws.next()).await.expect("no first frame in time");
    match first {
        Some(Ok(Message::Text(text))) => {
            let v: Value = serde_json::from_str(&text).expect("frames are JSON");
            assert_eq!(v["op"], "hello", "an admitted client's first frame is hello: {v}");
            None
        }
        Some(Ok(Message::Close(Some(frame)))) => {
            // Answer the close, as a browser does, so the server can let go at once.
            let _ = tokio::time::timeout(WAIT, ws.next()).await;
            Some(frame.code.into())
        }
        other => panic!("a handshake's first frame is hello or a close frame, got {other:?}"),
    }
}

/// Reads until the close frame and returns its code.
pub async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("no close in time") {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Close(None))) => return 1005,
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before close frame: {e}"),
            None => panic!("socket ended without a close frame"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("send");
}

/// A valid event whose title carries `n`.
pub fn event(n: usize) -> String {
    serde_json::json!({
        "page_title": format!("Page {n}"),
        "user_name": "Alice",
        "timestamp": "2026-11-25T01:02:03Z",
        "summary": format!("edit number {n}"),
        "namespace": (n % 2) as i64,
        "bot": n % 3 == 0,
        "minor": n % 5 == 0,
    })
    .to_string()
}
