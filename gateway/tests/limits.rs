//! What one host can hold: sockets that never send a byte, more sockets
//! than the gateway has file descriptors, and the limits that keep both
//! from locking everyone else out (`--handshake-timeout` from accept,
//! `--max-connections-per-ip` from accept, `--max-connections`).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection from `local` (an address on 127.0.0.0/8) to `addr`.
async fn connect_from(local: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{local}:0").parse().expect("local address")).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// A WebSocket handshake over `stream`: `Ok` when admitted (its first
/// frame is `hello`), `Err(close code)` when upgraded and refused, and
/// `Err(status)` when answered with plain HTTP.
async fn handshake_over(stream: TcpStream, gateway: &Gateway) -> Result<Ws, u16> {
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let request = gateway.ws_url();
    match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await {
        Ok(Ok((mut ws, _))) => match refusal(&mut ws).await {
            Some(code) => Err(code),
            None => Ok(ws),
        },
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(response.status().as_u16()),
        Ok(Err(other)) => panic!("handshake failed: {other}"),
        Err(_) => panic!("no answer to a handshake within {WAIT:?}"),
    }
}

/// Reads from a silent client's socket until the server closes it:
/// (what the server sent, when it closed).
async fn until_closed(mut stream: TcpStream, within: Duration) -> (Vec<u8>, Option<Instant>) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Some(Instant::now())),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => return (got, None),
        }
    }
}

/// CPU time (user + system) the process has used, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name (which is in parentheses): state is
    // field 3, utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Twice as many silent sockets as the gateway has file descriptors: it
/// holds what its `--max-connections` (derived from the descriptor limit)
/// allows and turns the rest away at once; `/healthz` keeps answering, a
/// real handshake is refused with 503 (not left hanging) while it is full,
/// every held socket is closed `--handshake-timeout` after it was
/// accepted, and then real clients connect again.
#[tokio::test]
async fn silent_sockets_are_closed_after_the_handshake_timeout_and_never_exhaust_descriptors() {
    const NOFILE: u64 = 64;
    // Long enough that the checks made while the sockets are held fit in it
    // on a loaded 2-core machine (they are asserted to have).
    const TIMEOUT: Duration = Duration::from_secs(10);
    let redis = Redis::start();
    let url = redis.url();
    let gateway = Gateway::launch(Launch {
        args: &["--redis-url", &url, "--handshake-timeout", "10", "--max-connections-per-ip", "0"],
        nofile: Some(NOFILE),
        ..Launch::default()
    });
    gateway.wait_ready().await;

    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..2 * NOFILE {
        silent.push(TcpStream::connect(gateway.addr).await.expect("the kernel accepts the connection"));
    }
    let watchers: Vec<_> =
        silent.into_iter().map(|s| tokio::spawn(until_closed(s, TIMEOUT + Duration::from_secs(4)))).collect();

    // While every descriptor it will spend on clients is taken: health
    // checks are answered, a handshake is refused at once.
    let probe = Instant::now();
    let mut healthy = false;
    while probe.elapsed() < Duration::from_secs(2) && !healthy {
        healthy = tokio::time::timeout(Duration::from_secs(2), gateway.get("/healthz")).await.is_ok_and(|r| r.0 == 200);
    }
    assert!(healthy, "/healthz answered 200 within 2 s while full; log: {}", gateway.log_text());
    let asked = Instant::now();
    let refused = handshake_over(TcpStream::connect(gateway.addr).await.unwrap(), &gateway).await.err();
    assert!(opened.elapsed() < TIMEOUT, "the checks above ran while the silent sockets were held");
    assert_eq!(refused, Some(503), "a handshake beyond --max-connections is refused with 503");
    assert!(asked.elapsed() < Duration::from_secs(2), "and at once: {:?}", asked.elapsed());

    // Every silent socket is closed: the held ones at the handshake
    // timeout (nothing sent), the rest at once (with a 503).
    let mut held = 0;
    for watcher in watchers {
        let (got, closed) = watcher.await.unwrap();
        let closed = closed.expect("every silent socket is closed by the gateway").duration_since(opened);
        if got.is_empty() {
            held += 1;
            assert!(closed >= TIMEOUT - Duration::from_millis(500), "a held socket closed early: {closed:?}");
            assert!(closed <= TIMEOUT + Duration::from_millis(3500), "a held socket closed late: {closed:?}");
        } else {
            assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 503 "), "{}", String::from_utf8_lossy(&got));
        }
    }
    assert!((8..NOFILE).contains(&held), "held {held} silent sockets with {NOFILE} descriptors");

    // And it serves again.
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    redis.publish("mediawiki:notifications", &event(1)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");
    assert_eq!(gateway.get("/healthz").await.0, 200);
    assert!(gateway.metric("rtn_clients_rejected_total").await >= NOFILE as f64);
}

/// A `--max-connections` set above what the descriptor limit allows: the
/// process does run out of descriptors. `accept` then answers waiting
/// connections with a spare descriptor instead of failing in a loop (no
/// CPU burnt), `/healthz` is still answered, and once the silent sockets
/// are closed, it serves again by itself.
#[tokio::test]
async fn out_of_descriptors_accept_keeps_answering_and_recovers_without_spinning() {
    const NOFILE: u64 = 48;
    let redis = Redis::start();
    let url = redis.url();
    let gateway = Gateway::launch(Launch {
        args: &[
            "--redis-url",
            &url,
            "--handshake-timeout",
            "4",
            "--max-connections-per-ip",
            "0",
            "--max-connections",
            "1000",
        ],
        nofile: Some(NOFILE),
        ..Launch::default()
    });
    gateway.wait_ready().await;
    let pid = gateway.pid();

    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..3 * NOFILE {
        silent.push(TcpStream::connect(gateway.addr).await.expect("the kernel accepts the connection"));
    }
    let watchers: Vec<_> = silent.into_iter().map(|s| tokio::spawn(until_closed(s, Duration::from_secs(9)))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Out of descriptors, with nothing waiting: the gateway is idle, not spinning.
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_ticks(pid) - before;
    assert!(spent <= 20, "the gateway used {spent} ticks of CPU in 1 s while out of descriptors");

    // A health check is answered (the spare descriptor), quickly.
    let (status, _) = tokio::time::timeout(Duration::from_secs(2), gateway.get("/healthz"))
        .await
        .expect("/healthz is answered while out of descriptors");
    assert!(status == 200 || status == 503, "{status}");
    assert!(opened.elapsed() < Duration::from_secs(4), "still out of descriptors: {:?}", opened.elapsed());
    assert!(gateway.log_text().contains("out of file descriptors"), "{}", gateway.log_text());

    for watcher in watchers {
        let (_, closed) = watcher.await.unwrap();
        assert!(closed.is_some(), "every silent socket is closed");
    }
    // Recovered by itself.
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    redis.publish("mediawiki:notifications", &event(2)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 2");
    assert_eq!(gateway.get("/healthz").await.0, 200);
}

/// Silent sockets count against their address's limit from the moment they
/// are accepted: one host cannot hold more than `--max-connections-per-ip`
/// descriptors with them, and its WebSocket beyond that is refused with
/// 4429, while another address connects.
#[tokio::test]
async fn silent_sockets_count_against_the_per_ip_limit_from_accept() {
    let (redis, gateway) = redis_gateway(&["--max-connections-per-ip", "3", "--handshake-timeout", "2"]).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect_from("127.0.0.2", gateway.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = handshake_over(connect_from("127.0.0.2", gateway.addr).await, &gateway).await.err();
    assert_eq!(refused, Some(4429), "the fourth socket of 127.0.0.2 is refused");
    let mut other = handshake_over(connect_from("127.0.0.3", gateway.addr).await, &gateway).await.expect("127.0.0.3");
    // Once the silent sockets are closed (handshake timeout), 127.0.0.2 connects.
    let started = Instant::now();
    let mut admitted = None;
    while admitted.is_none() && started.elapsed() < Duration::from_secs(5) {
        admitted = handshake_over(connect_from("127.0.0.2", gateway.addr).await, &gateway).await.ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut admitted = admitted.expect("127.0.0.2 connects once its silent sockets are closed");
    assert!(started.elapsed() >= Duration::from_millis(1500), "not before the timeout: {:?}", started.elapsed());
    for stream in silent {
        assert!(until_closed(stream, Duration::from_secs(1)).await.1.is_some());
    }
    redis.publish("mediawiki:notifications", &event(3)).await;
    assert_eq!(next_event(&mut admitted).await["page_title"], "Page 3");
    assert_eq!(next_event(&mut other).await["page_title"], "Page 3");
}

/// `--max-connections`: beyond it a handshake is answered 503 before any
/// upgrade (a proxy retries it elsewhere), `/healthz` still 200; a freed
/// connection is taken again.
#[tokio::test]
async fn beyond_max_connections_handshakes_get_503_and_health_checks_200() {
    let (redis, gateway) = redis_gateway(&["--max-connections", "3"]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_hello(&gateway.ws_url()).await.0);
    }
    let refused = handshake_over(TcpStream::connect(gateway.addr).await.unwrap(), &gateway).await.err();
    assert_eq!(refused, Some(503));
    assert_eq!(gateway.get("/healthz").await.0, 200);
    let (status, body) = gateway.get("/readyz").await;
    assert_eq!((status, body.as_str()), (503, "too many connections\n"));
    drop(held.pop());
    let started = Instant::now();
    let mut ws = loop {
        match handshake_over(TcpStream::connect(gateway.addr).await.unwrap(), &gateway).await {
            Ok(ws) => break ws,
            Err(503) if started.elapsed() < WAIT => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(other) => panic!("refused with {other}"),
        }
    };
    redis.publish("mediawiki:notifications", &event(4)).await;
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 4");
}
