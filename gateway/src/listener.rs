//! The accept loop: what happens to a TCP connection before it is a
//! WebSocket.
//!
//! A public gateway is open to anyone who can open a socket, and a socket
//! costs a file descriptor whether or not it ever sends a byte. So, from the
//! moment a connection is accepted:
//!
//! - it holds a [`Slot`]: one of `--max-connections`, and (unless it comes
//!   from a trusted proxy, whose clients are known only from their
//!   requests) one of its address's `--max-connections-per-ip`;
//! - it has `--handshake-timeout` to complete its WebSocket upgrade (or
//!   whatever plain HTTP requests it makes), then it is closed;
//! - without a slot it is not served by hyper at all: a small responder
//!   ([`answer_plainly`]) waits briefly for its request, answers
//!   `GET /healthz` (so liveness checks keep working while the gateway is
//!   full), a WebSocket handshake from an address at its limit with `101`
//!   and close 4429, and anything else with 503 (429 for that address), and
//!   closes. At most `overflow` of these wait at once; past that they are
//!   answered from whatever they sent already;
//! - if the process runs out of descriptors anyway, a spare one is given up
//!   to accept and answer the next waiting connection the same way, so
//!   `accept` keeps draining the backlog instead of failing in a loop.
//!
//! The default `--max-connections` leaves a reserve below the descriptor
//! limit for everything else ([`descriptor_budget`]), so the last resort is
//! rare. Accepted sockets also get a small kernel send buffer
//! ([`SEND_BUFFER`]): a client that stops reading then backs up into the
//! gateway's own queue within a few hundred kilobytes, where `--max-lag`
//! sees it, instead of into megabytes of kernel memory where nothing does.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::admission::{Admission, Refused, Slot};
use crate::metrics as m;
use crate::protocol::{close, PROTOCOL};

/// Kernel send buffer requested for each accepted socket (`SO_SNDBUF`; Linux
/// doubles it for its bookkeeping). Linux would otherwise grow it up to
/// `tcp_wmem`'s maximum (4 MiB by default) for a client that stops reading,
/// hiding seconds to minutes of events from `--max-lag`. 64 KiB holds
/// about a hundred typical events, which a reading client drains at once;
/// what it costs is memory only while full, never for an idle connection.
pub const SEND_BUFFER: usize = 64 * 1024;

/// The listening socket's default backlog (`--listen-backlog`): how many
/// connections the kernel completes and queues for `accept`. The usual 128
/// (Rust's std, mio, tokio's `TcpListener::bind`) overflows when every tab
/// of a wiki reconnects at once after a restart: a SYN that finds the queue
/// full is dropped, and the client's kernel retries it only a second later
/// (then 3, 7 s...). `bench/run.sh`'s connect scenario measured 2,000 clients
/// in batches of 500 causing hundreds of `TcpExtListenOverflows` at 128.
/// Linux caps the value at `net.core.somaxconn` (4096 since 5.4).
pub const BACKLOG: u32 = 4096;

/// Binds the listening socket with `backlog` (see [`BACKLOG`]), and says so
/// when the kernel's `net.core.somaxconn` will cap it.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted gateway can bind at once,
    // with connections of its predecessor still in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(backlog)?;
    if let Some(cap) = somaxconn().filter(|&cap| cap < backlog) {
        tracing::warn!(
            backlog,
            somaxconn = cap,
            "the kernel caps the listen backlog at net.core.somaxconn: raise it (sysctl) for reconnect storms"
        );
    }
    Ok(listener)
}

/// `net.core.somaxconn`, the kernel's cap on any listen backlog.
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

/// After `--handshake-timeout` (or shutdown) a connection is asked to close
/// gracefully: a request in flight may finish within this, then it is cut.
const FINISH: Duration = Duration::from_secs(1);

/// How long a connection without a slot may take to send its request: long
/// enough for a browser to be told why (close 4429, or 503), short enough
/// that such sockets cannot pile up.
const PLAIN_WAIT: Duration = Duration::from_secs(1);

/// Warnings about refused connections, at most one per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the accept loop needs besides the listener and the routes.
pub struct Edge {
    pub admission: Arc<Admission>,
    pub handshake_timeout: Duration,
    /// Connections without a slot that may wait for their request at once
    /// ([`PLAIN_WAIT`]); beyond it they are answered at once.
    pub overflow: usize,
}

/// A connection's [`Slot`], from accept until its WebSocket handshake takes
/// it ([`Held::take`]); when the connection ends without one, the slot goes
/// with it. A request extension of every request on the connection, with
/// the connection's deadline.
#[derive(Clone)]
pub struct Held {
    slot: Arc<Mutex<Option<Slot>>>,
    deadline: tokio::time::Instant,
    /// Set by a response that streams for as long as the connection lives
    /// (the SSE feed, [`Held::stream`]): the handshake deadline no longer
    /// applies, and cancelling it ends the connection at once.
    stream: Arc<Mutex<Option<CancellationToken>>>,
}

impl Held {
    fn new(slot: Slot, deadline: tokio::time::Instant) -> Held {
        Held { slot: Arc::new(Mutex::new(Some(slot))), deadline, stream: Arc::default() }
    }

    /// This connection now carries a response that lasts (the SSE feed):
    /// [`serve`] lets it run past the handshake deadline, and drops the
    /// connection, unsent bytes and all, when the returned token is
    /// cancelled. That is how a reader that stopped reading is cut off:
    /// hyper would otherwise wait on its full socket for ever.
    pub fn stream(&self) -> CancellationToken {
        let token = CancellationToken::new();
        *self.stream.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        token
    }

    fn streaming(&self) -> Option<CancellationToken> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The slot, for the WebSocket this connection becomes; `None` if a
    /// request on it took the slot already.
    pub fn take(&self) -> Option<Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// When the connection is closed unless it has upgraded:
    /// `--handshake-timeout` after it was accepted.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }
}

/// The default `--max-connections` and the size of the overflow responder,
/// from the soft limit on open files (`RLIMIT_NOFILE`): a reserve of an
/// eighth (at least 48, at most 256, never more than half) is left for
/// Redis connections, the listener, logs and the overflow responder.
pub fn descriptor_budget() -> (usize, usize) {
    budget(nofile_limit())
}

fn budget(nofile: usize) -> (usize, usize) {
    let reserve = (nofile / 8).clamp(48, 256).min(nofile / 2);
    (nofile - reserve, (reserve / 2).min(32))
}

/// The soft limit on open files; a generous guess if it cannot be read.
fn nofile_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which lives here.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    match read {
        true if limit.rlim_cur == libc::RLIM_INFINITY => 1 << 20,
        true => usize::try_from(limit.rlim_cur).unwrap_or(1 << 20),
        false => 1024,
    }
}

/// Accepts connections until `shutdown`, then waits for the HTTP ones to
/// finish (upgraded ones belong to their clients by then). Written out
/// instead of `axum::serve` for what that lacks: the limits above, and
/// `TCP_NODELAY`, so small event frames are not held back by Nagle's
/// algorithm.
pub async fn accept(listener: TcpListener, app: Router, edge: Edge, shutdown: CancellationToken) {
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    // Also a bound per request on a kept-alive connection; the deadline
    // below bounds the connection as a whole, from accept.
    builder.http1().timer(TokioTimer::new()).header_read_timeout(edge.handshake_timeout);
    // What hyper buffers of a response before it stops asking the body for
    // more (its default is ~400 KiB): an SSE reader's events wait in the
    // gateway's own queue instead, where `--max-lag` sees them.
    builder.http1().max_buf_size(SEND_BUFFER);
    let connections = TaskTracker::new();
    let overflow = Arc::new(Semaphore::new(edge.overflow));
    let mut spare = Spare::open();
    let mut warned = [None; 3];
    let mut warn = |which: usize, what: &str, err: Option<&std::io::Error>| {
        let at: &mut Option<Instant> = &mut warned[which];
        if !at.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            *at = Some(Instant::now());
            tracing::warn!(error = err.map(tracing::field::display), open = edge.admission.open(), "{what}");
        }
    };
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if out_of_descriptors(&err) => {
                    warn(0, "out of file descriptors: refusing connections until some close", Some(&err));
                    spare.refuse_one(&listener).await;
                    continue;
                }
                Err(err) => {
                    // ECONNABORTED and the like: that one connection is gone.
                    tracing::debug!(error = %err, "accept failed");
                    continue;
                }
            },
        };
        tune(&stream);
        let slot = match edge.admission.connect(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                let turned = match refused {
                    Refused::Full => {
                        warn(1, "--max-connections reached: refusing connections with 503", None);
                        metrics::counter!(m::CLIENTS_REJECTED, "reason" => "max_connections").increment(1);
                        Turned::Full
                    }
                    Refused::PerIp => {
                        warn(2, "an address holds --max-connections-per-ip: refusing its connections (4429)", None);
                        metrics::counter!(m::CLIENTS_REJECTED, "reason" => "per_ip").increment(1);
                        Turned::PerIp(peer.ip().to_canonical())
                    }
                };
                match overflow.clone().try_acquire_owned() {
                    Ok(permit) => {
                        connections.spawn(async move {
                            answer_plainly(stream, turned, PLAIN_WAIT).await;
                            drop(permit);
                        });
                    }
                    Err(_) => answer_plainly(stream, turned, Duration::ZERO).await,
                }
                continue;
            }
        };
        let deadline = tokio::time::Instant::now() + edge.handshake_timeout;
        let held = Held::new(slot, deadline);
        let app = app.clone();
        let request_held = held.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(request_held.clone());
            app.clone().call(request)
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        connections.spawn(serve(connection, peer, held, shutdown.clone()));
    }
    // Refuse new connections at once (a proxy then tries another instance
    // straight away) while the open ones finish.
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Serves one connection's HTTP until it upgrades (then the connection
/// future ends, and the socket lives on in its client) or closes, for at
/// most `deadline` from accept. A connection still there by then, whether
/// silent, half-way through its headers or idle between requests, is asked
/// to close, and cut off [`FINISH`] later.
async fn serve<C>(connection: C, peer: SocketAddr, held: Held, shutdown: CancellationToken)
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulClose,
{
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        _ = tokio::time::sleep_until(held.deadline()) => match held.streaming() {
            // An SSE reader: it lives as long as its stream, which drops it
            // at once when it must go (see `Held::stream`), or until shutdown.
            Some(stream) => tokio::select! {
                ended = connection.as_mut() => Some(ended),
                _ = stream.cancelled() => None,
                _ = shutdown.cancelled() => finish(connection.as_mut()).await,
            },
            None => {
                tracing::debug!(%peer, "no WebSocket upgrade within the handshake timeout; closing");
                finish(connection.as_mut()).await
            }
        },
        _ = shutdown.cancelled() => finish(connection.as_mut()).await,
    };
    let Some(ended) = ended else {
        return;
    };
    if let Err(err) = ended {
        tracing::debug!(%peer, error = %err, "http connection ended with an error");
    }
}

/// Asks a connection to close, and gives it [`FINISH`] to do so; `None`
/// when it had to be cut off.
async fn finish<C>(
    mut connection: std::pin::Pin<&mut C>,
) -> Option<Result<(), Box<dyn std::error::Error + Send + Sync>>>
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulClose,
{
    connection.as_mut().close_gracefully();
    tokio::time::timeout(FINISH, connection).await.ok()
}

/// hyper's graceful close, behind a trait so that [`serve`] need not spell
/// out the connection's type.
trait GracefulClose {
    fn close_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E, B> GracefulClose for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn close_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Socket options of an accepted connection.
fn tune(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER);
}

fn out_of_descriptors(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// Why a connection is answered by [`answer_plainly`] instead of served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turned {
    /// `--max-connections` reached, or out of descriptors: 503.
    Full,
    /// This address holds `--max-connections-per-ip`: close 4429 for a
    /// WebSocket handshake, 429 for anything else.
    PerIp(IpAddr),
}

/// Answers a connection the gateway will not serve, without hyper: `GET
/// /healthz` gets 200 (liveness: the process is fine, it is full); a
/// WebSocket handshake from an address at its limit gets `101` and close
/// 4429, as the handshake itself would refuse it; anything else 503 (or 429).
/// Waits at most `wait` for the request (with none, takes only what has
/// arrived already), then closes.
async fn answer_plainly(mut stream: TcpStream, turned: Turned, wait: Duration) {
    let mut request = vec![0u8; 4096];
    let mut len = 0;
    if wait.is_zero() {
        if let Ok(n) = stream.try_read(&mut request) {
            len = n;
        }
    } else {
        let _ = tokio::time::timeout(wait, async {
            while len < request.len() && !request[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut request[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
            }
        })
        .await;
    }
    let answer = plain_answer(&request[..len], turned);
    // A fresh socket's send buffer takes this at once; if not, the peer loses nothing it asked for.
    let _ = stream.try_write(&answer);
    let _ = stream.shutdown().await;
    if !wait.is_zero() {
        // Read what the client still sends (its answering close frame), so
        // that closing with unread data does not reset the connection and
        // take the answer with it.
        let _ = tokio::time::timeout(wait, async { while let Ok(1..) = stream.read(&mut request).await {} }).await;
    }
}

/// The bytes [`answer_plainly`] sends for `request` (possibly incomplete).
fn plain_answer(request: &[u8], turned: Turned) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let complete = matches!(parsed.parse(request), Ok(httparse::Status::Complete(_)));
    if parsed.method == Some("GET") && parsed.path.is_some_and(|p| p == "/healthz" || p.starts_with("/healthz?")) {
        return text(200, "OK", "ok\n", "");
    }
    let Turned::PerIp(ip) = turned else {
        return text(503, "Service Unavailable", "too many connections\n", "retry-after: 1\r\n");
    };
    let reason = format!("too many connections from {ip}");
    let mut map = axum::http::HeaderMap::new();
    for header in parsed.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(header.name.as_bytes()),
            axum::http::HeaderValue::from_bytes(header.value),
        ) {
            map.append(name, value);
        }
    }
    let key = match (complete, parsed.method) {
        (true, Some(method)) => axum::http::Method::from_bytes(method.as_bytes())
            .ok()
            .and_then(|method| crate::upgrade::check(&method, &map).ok()),
        _ => None,
    };
    let Some(key) = key else {
        return text(429, "Too Many Requests", &format!("{reason}\n"), "");
    };
    // The handshake as `upgrade::Upgrade::accept` answers it, then at once the close frame.
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-accept: {}\r\n",
        tungstenite::handshake::derive_accept_key(key.as_bytes())
    );
    if crate::upgrade::offers(&map, PROTOCOL) {
        answer.push_str(&format!("sec-websocket-protocol: {PROTOCOL}\r\n"));
    }
    answer.push_str("\r\n");
    let mut answer = answer.into_bytes();
    answer.extend([0x88, 2 + reason.len() as u8]);
    answer.extend(close::TOO_MANY.to_be_bytes());
    answer.extend(reason.as_bytes());
    answer
}

/// A plain-text HTTP answer that closes the connection.
fn text(status: u16, phrase: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         {extra}connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A descriptor kept open for when there are none left: given up to accept
/// one waiting connection and answer it, then taken again.
struct Spare(Option<std::fs::File>);

impl Spare {
    fn open() -> Spare {
        Spare(std::fs::File::open("/dev/null").ok())
    }

    /// `accept` failed for want of descriptors while a connection waits (so
    /// the listener stays readable, and the loop would spin on it): answer
    /// that connection with the spare descriptor, so the backlog drains, and
    /// `/healthz` is still answered. Without a spare, wait a little.
    async fn refuse_one(&mut self, listener: &TcpListener) {
        if self.0.take().is_some() {
            if let Ok(Ok((stream, _))) = tokio::time::timeout(Duration::from_millis(10), listener.accept()).await {
                metrics::counter!(m::CLIENTS_REJECTED, "reason" => "descriptors").increment(1);
                answer_plainly(stream, Turned::Full, Duration::ZERO).await;
            }
        }
        *self = Spare::open();
        if self.0.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            *self = Spare::open();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_a_reserve_below_the_descriptor_limit() {
        assert_eq!(budget(1024), (896, 32));
        assert_eq!(budget(200), (152, 24));
        assert_eq!(budget(64), (32, 16));
        assert_eq!(budget(524_288), (524_032, 32));
        assert_eq!(budget(20_000), (19_744, 32), "bench/run.sh: 19,000 idle clients under 20,000 files");
        for nofile in [16, 64, 100, 1024, 65_536] {
            let (max, overflow) = budget(nofile);
            assert!(max + overflow < nofile, "{nofile}: {max} + {overflow}");
            assert!(max >= nofile / 2, "{nofile}: {max}");
        }
    }

    #[test]
    fn the_plain_answers() {
        let answer = |request: &str, turned| String::from_utf8(plain_answer(request.as_bytes(), turned)).unwrap();
        let ip = Turned::PerIp("10.0.0.1".parse().unwrap());
        let upgrade = "GET /v1/ws?since=1-0 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Protocol: realtimenotify.v1\r\n\r\n";
        for turned in [Turned::Full, ip] {
            assert!(answer("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", turned).starts_with("HTTP/1.1 200 OK"));
            assert!(answer("GET /healthz HTTP/1.1\r\nHo", turned).starts_with("HTTP/1.1 200 OK"), "the line is enough");
        }
        assert!(answer(upgrade, Turned::Full).starts_with("HTTP/1.1 503 "), "no upgrade beyond --max-connections");
        assert!(answer("", Turned::Full).starts_with("HTTP/1.1 503 "));
        assert!(answer("GET /metrics HTTP/1.1\r\n\r\n", ip).starts_with("HTTP/1.1 429 "));
        assert!(answer(&upgrade.replace("dGhlIHNhbXBsZSBub25jZQ==", "abc"), ip).starts_with("HTTP/1.1 429 "));
        let refused = plain_answer(upgrade.as_bytes(), ip);
        let text = String::from_utf8_lossy(&refused);
        assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
        assert!(text.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{text}");
        assert!(text.contains("sec-websocket-protocol: realtimenotify.v1\r\n"), "{text}");
        let frame = &refused[text.find("\r\n\r\n").unwrap() + 4..];
        let reason = b"too many connections from 10.0.0.1";
        assert_eq!(frame[..4], [0x88, 2 + reason.len() as u8, 0x11, 0x4d], "a close frame with 4429");
        assert_eq!(&frame[4..], reason);
    }

    /// The listening socket gets the backlog asked for (capped by the
    /// kernel), not the 128 that `TcpListener::bind` uses. Read back as `ss`
    /// shows it: a listening socket's Send-Q is its backlog.
    #[tokio::test]
    async fn the_listener_has_the_backlog_asked_for() {
        let Ok(ss) = std::process::Command::new("ss").arg("-V").output() else {
            eprintln!("no `ss` (iproute2) here: skipped");
            return;
        };
        assert!(ss.status.success());
        let cap = somaxconn().expect("/proc/sys/net/core/somaxconn");
        for asked in [BACKLOG, 200] {
            let listener = bind("127.0.0.1:0".parse().unwrap(), asked).unwrap();
            let port = listener.local_addr().unwrap().port();
            let out = std::process::Command::new("ss").args(["-Hltn", &format!("sport = :{port}")]).output().unwrap();
            let line = String::from_utf8_lossy(&out.stdout).to_string();
            // State Recv-Q Send-Q Local Peer
            let send_q: u32 = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()).expect(&line);
            assert_eq!(send_q, asked.min(cap), "{line}");
        }
    }

    #[tokio::test]
    async fn the_plain_responder_waits_for_the_request_and_gets_all_of_its_answer_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for (request, want) in [
            ("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"),
            ("GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", "HTTP/1.1 503 "),
            ("", "HTTP/1.1 503 "),
        ] {
            let client = tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await; // the request comes after the accept
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).await.unwrap();
                answer
            });
            let (stream, _) = listener.accept().await.unwrap();
            answer_plainly(stream, Turned::Full, Duration::from_millis(300)).await;
            let answer = client.await.unwrap();
            assert!(answer.starts_with(want), "{request:?} → {answer:?}");
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
            assert_eq!(body.len(), length, "{answer:?}");
        }
    }
}
