//! Where Redis is: one server, a Sentinel-managed master, or a Cluster.
//!
//! `--redis-url` takes one of
//!
//! - `redis://[:password@]host:port[/db]` (or `rediss://`, `unix://`): one server;
//! - `redis+sentinel://host:port[,host:port...]/master-name`: ask the
//!   Sentinels for the current master on every (re)connect, so the gateway
//!   follows a failover by itself;
//! - `redis+cluster://host:port[,host:port...]`: a Redis Cluster. Stream
//!   commands are routed to the node owning the stream key's slot (the key
//!   is one slot); pub/sub uses any node, as Cluster forwards `PUBLISH` to
//!   every node.

use std::time::Duration;

use anyhow::{bail, Context};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, PartialEq, Eq)]
pub enum Broker {
    Single(String),
    Sentinel { sentinels: Vec<String>, master: String },
    Cluster { nodes: Vec<String> },
}

/// Like [`Display`](std::fmt::Display): without the password, so settings
/// can be printed.
impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Broker({self})")
    }
}

impl Broker {
    pub fn parse(url: &str) -> anyhow::Result<Broker> {
        let hosts = |rest: &str| -> anyhow::Result<Vec<String>> {
            let hosts: Vec<String> =
                rest.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}")).collect();
            if hosts.is_empty() {
                bail!("{} names no host", redacted(url));
            }
            Ok(hosts)
        };
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            let Some((list, master)) = rest.split_once('/') else {
                bail!("a sentinel url needs the master name: redis+sentinel://host:port,.../mymaster");
            };
            if master.is_empty() {
                bail!("a sentinel url needs the master name after the last /");
            }
            Ok(Broker::Sentinel { sentinels: hosts(list)?, master: master.to_string() })
        } else if let Some(rest) = url.strip_prefix("redis+cluster://") {
            Ok(Broker::Cluster { nodes: hosts(rest.trim_end_matches('/'))? })
        } else {
            redis::Client::open(url).with_context(|| format!("bad redis url {}", redacted(url)))?;
            Ok(Broker::Single(url.to_string()))
        }
    }

    /// A client for one server: the single server, the current master, or
    /// the first cluster node that answers (enough for pub/sub).
    pub async fn client(&self) -> anyhow::Result<redis::Client> {
        match self {
            Broker::Single(url) => redis::Client::open(url.as_str()).context("opening redis url"),
            Broker::Sentinel { sentinels, master } => {
                let mut sentinel =
                    SentinelClient::build(sentinels.clone(), master.clone(), None, SentinelServerType::Master)
                        .context("building the sentinel client")?;
                tokio::time::timeout(CONNECT_TIMEOUT, sentinel.async_get_client())
                    .await
                    .context("asking the sentinels for the master timed out")?
                    .with_context(|| format!("asking the sentinels for master {master}"))
            }
            Broker::Cluster { nodes } => {
                let mut last = None;
                for node in nodes {
                    let client = redis::Client::open(node.as_str())?;
                    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
                        Ok(Ok(_)) => return Ok(client),
                        Ok(Err(err)) => last = Some(anyhow::Error::from(err)),
                        Err(_) => last = Some(anyhow::anyhow!("connecting to {node} timed out")),
                    }
                }
                Err(last.unwrap_or_else(|| anyhow::anyhow!("no cluster node given")))
                    .context("no cluster node answered")
            }
        }
    }

    /// A command connection whose replies may take up to `response_timeout`
    /// (blocking `XREAD` needs longer than the default).
    pub async fn connect(&self, response_timeout: Duration) -> anyhow::Result<Connection> {
        match self {
            Broker::Cluster { nodes } => {
                let client = ClusterClient::builder(nodes.clone())
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(response_timeout)
                    .build()
                    .context("building the cluster client")?;
                let conn = client.get_async_connection().await.context("connecting to the redis cluster")?;
                Ok(Connection::Cluster(conn))
            }
            _ => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout));
                let conn = self
                    .client()
                    .await?
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .with_context(|| format!("connecting to {self}"))?;
                Ok(Connection::Node(conn))
            }
        }
    }
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broker::Single(url) => write!(f, "{}", redacted(url)),
            Broker::Sentinel { sentinels, master } => {
                write!(f, "master {master} via sentinels {}", sentinels.join(","))
            }
            Broker::Cluster { nodes } => write!(f, "cluster {}", nodes.join(",")),
        }
    }
}

/// A connection to one server or to a cluster; either runs the same commands.
/// Clones share one connection (both kinds multiplex).
#[derive(Clone)]
pub enum Connection {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// The URL without its password, for logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(
            Broker::parse("redis://127.0.0.1:6379/2").unwrap(),
            Broker::Single("redis://127.0.0.1:6379/2".into())
        );
        assert_eq!(
            Broker::parse("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster").unwrap(),
            Broker::Sentinel {
                sentinels: vec!["redis://10.0.0.1:26379".into(), "redis://10.0.0.2:26379".into()],
                master: "mymaster".into()
            }
        );
        assert_eq!(
            Broker::parse("redis+cluster://a:1,b:2").unwrap(),
            Broker::Cluster { nodes: vec!["redis://a:1".into(), "redis://b:2".into()] }
        );
        assert!(Broker::parse("redis+sentinel://a:1").is_err());
        assert!(Broker::parse("redis+cluster://").is_err());
        assert!(Broker::parse("http://nope").is_err());
        assert_eq!(redacted("redis://:hunter2@host:1"), "redis://***@host:1");
    }
}
