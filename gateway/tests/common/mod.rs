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
        let mut child = Command::new(env!("CARGO_BIN_EXE_realtimenotify"))
            .args(["serve", "--listen", listen])
            .args(args)
            .envs(env.iter().copied())
            .env("RTN_LOG_FORMAT", "json")
            .env("RTN_LOG", "info,realtimenotify=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the gateway");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "listening" {
                        let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                    }
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
