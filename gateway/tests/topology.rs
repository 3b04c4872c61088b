//! Redis Sentinel and Redis Cluster, with real processes.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A redis-server process with its own directory and arguments, killed on drop.
struct Node {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(config: &str, extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!("port {port}\nbind 127.0.0.1\nsave \"\"\ndir {}\n{config}\n", dir.path().display()),
        )
        .unwrap();
        let mut child = Command::new("redis-server")
            .arg(&conf)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Node { child, port, _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis node did not start");
    }

    fn cli(&self, args: &[&str]) -> String {
        let out =
            Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn follows_the_master_named_by_sentinel() {
    let master = Node::start("", &[]);
    let sentinel = Node::start(
        &format!("sentinel monitor rtn 127.0.0.1 {} 1\nsentinel down-after-milliseconds rtn 1000", master.port),
        &["--sentinel"],
    );
    let url = format!("redis+sentinel://127.0.0.1:{}/rtn", sentinel.port);
    let gateway = Gateway::start(&["--source", "redis-stream", "--redis-url", &url]);
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    master.cli(&["XADD", "mediawiki:events", "*", "event", &event(1)]);
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 1");
    assert!(gateway.log_text().contains("via sentinels"), "{}", gateway.log_text());
}

#[tokio::test]
async fn reads_the_stream_and_channel_of_a_redis_cluster() {
    let nodes: Vec<Node> =
        (0..3).map(|_| Node::start("cluster-enabled yes\ncluster-node-timeout 2000\nappendonly no", &[])).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let out =
        Command::new("redis-cli").arg("--cluster").arg("create").args(&addrs).arg("--cluster-yes").output().unwrap();
    assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
    let deadline = std::time::Instant::now() + WAIT;
    while !nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
        assert!(std::time::Instant::now() < deadline, "cluster never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("redis+cluster://{}", addrs.join(","));
    let streams = Gateway::start(&["--source", "redis-stream", "--redis-url", &url]);
    let pubsub = Gateway::start(&["--source", "redis", "--redis-url", &url]);
    streams.wait_ready().await;
    pubsub.wait_ready().await;
    let (mut from_stream, _) = connect_hello(&streams.ws_url()).await;
    let (mut from_channel, _) = connect_hello(&pubsub.ws_url()).await;

    // redis-cli -c follows the MOVED redirect to the node owning the key's slot.
    let add = Command::new("redis-cli")
        .args(["-c", "-p", &nodes[0].port.to_string(), "XADD", "mediawiki:events", "*", "event", &event(2)])
        .output()
        .unwrap();
    assert!(add.status.success());
    assert_eq!(next_event(&mut from_stream).await["page_title"], "Page 2");
    // PUBLISH on any node reaches subscribers on every node.
    for node in &nodes {
        node.cli(&["PUBLISH", "mediawiki:notifications", &event(3)]);
    }
    for _ in 0..3 {
        assert_eq!(next_event(&mut from_channel).await["page_title"], "Page 3");
    }
}

/// `rediss://`: the gateway talks TLS to Redis, trusting the CA in
/// `SSL_CERT_FILE` (the system store otherwise).
#[tokio::test]
async fn reads_a_redis_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let path = |name: &str| certs.path().join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=rtn test CA",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &path("redis.key"),
        "-out",
        &path("redis.csr"),
    ]);
    std::fs::write(path("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path("redis.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &path("san.ext"),
        "-out",
        &path("redis.pem"),
    ]);

    let tls_port = free_port();
    let node = Node::start(
        &format!(
            "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no",
            path("redis.pem"),
            path("redis.key"),
            path("ca.pem")
        ),
        &[],
    );
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca = path("ca.pem");
    let gateway = Gateway::start_env(
        "127.0.0.1:0",
        &["--source", "redis-stream", "--redis-url", &url],
        &[("SSL_CERT_FILE", &ca)],
    );
    gateway.wait_ready().await;
    let (mut ws, _) = connect_hello(&gateway.ws_url()).await;
    node.cli(&["XADD", "mediawiki:events", "*", "event", &event(4)]);
    assert_eq!(next_event(&mut ws).await["page_title"], "Page 4");

    // And a CA it does not trust is refused: never ready.
    let untrusting = Gateway::start_env(
        "127.0.0.1:0",
        &["--source", "redis-stream", "--redis-url", &url],
        &[("SSL_CERT_FILE", "/dev/null")],
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(untrusting.get("/readyz").await.0, 503, "{}", untrusting.log_text());
}
