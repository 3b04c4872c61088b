//! Configuration: command-line flags, `RTN_*` environment variables and an
//! optional TOML file, in that order of precedence.
//!
//! One struct, [`Options`], is both the clap argument set and the TOML
//! schema, so a setting cannot exist in one place and be missing in the
//! other. Every field is optional there; [`Settings`] applies the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Shortest accepted `--ingest-secret` (see `contract/limits.json`).
pub const MIN_INGEST_SECRET: usize = 16;
/// Shortest accepted token secret; the wiki refuses shorter ones too (see `contract/limits.json`).
pub const MIN_TOKEN_SECRET: usize = 32;

/// Where events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// SUBSCRIBE to a Redis pub/sub channel (the seed design).
    Redis,
    /// Read a Redis Stream with XREAD: durable, resumable across restarts.
    RedisStream,
    /// Only `POST /v1/events` (small wikis without Redis).
    Http,
    /// Consume a RabbitMQ stream over AMQP: durable, resumable across restarts.
    Rabbitmq,
}

impl SourceKind {
    /// The `source` label of `rtn_events_received_total`.
    pub fn label(self) -> &'static str {
        match self {
            SourceKind::Redis => "redis",
            SourceKind::RedisStream => "redis-stream",
            SourceKind::Http => "http",
            SourceKind::Rabbitmq => "rabbitmq",
        }
    }
}

/// Who may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Anonymous clients get events addressed to everyone; clients with a
    /// token also get events addressed to them. For public wikis.
    Public,
    /// A valid token is required at the handshake. For private wikis.
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Human,
    Json,
}

/// Settings of `realtimenotify serve`. Each may also be given as an
/// environment variable or in the `--config` TOML file (same names, with
/// dashes, e.g. `redis-url = "redis://..."`).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// TOML file with any of these settings; flags and environment win over it.
    #[arg(long, env = "RTN_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on for WebSocket and HTTP [default: 127.0.0.1:8080]
    #[arg(long, env = "RTN_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Where events come from [default: redis]
    #[arg(long, env = "RTN_SOURCE", value_enum)]
    pub source: Option<SourceKind>,

    /// Redis for the redis and redis-stream sources: redis://host:port,
    /// redis+sentinel://host:port,.../master, or redis+cluster://host:port,...
    /// [default: redis://127.0.0.1:6379]
    #[arg(long, env = "RTN_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,

    /// Pub/sub channel the wiki publishes to [default: mediawiki:notifications]
    #[arg(long, env = "RTN_CHANNEL")]
    pub channel: Option<String>,

    /// Stream key for the redis-stream source [default: mediawiki:events]
    #[arg(long, env = "RTN_STREAM_KEY")]
    pub stream_key: Option<String>,

    /// Shared secret for POST /v1/events (`Authorization: Bearer ...`); the
    /// endpoint is off without it. Prefer the environment over the command line.
    #[arg(long, env = "RTN_INGEST_SECRET", hide_env_values = true)]
    pub ingest_secret: Option<String>,

    /// Largest accepted event, in bytes [default: 16384]
    #[arg(long, env = "RTN_MAX_EVENT_BYTES")]
    pub max_event_bytes: Option<usize>,

    /// Events a client may fall behind before it is closed with 4000 [default: 1024]
    #[arg(long, env = "RTN_CLIENT_QUEUE")]
    pub client_queue: Option<usize>,

    /// Recent events kept in memory for clients that resume [default: 10000]
    #[arg(long, env = "RTN_REPLAY_WINDOW")]
    pub replay_window: Option<usize>,

    /// Seconds between WebSocket pings [default: 20]
    #[arg(long, env = "RTN_PING_INTERVAL", value_name = "SECS")]
    pub ping_interval: Option<u64>,

    /// Seconds of client silence (not even a pong) before closing it [default: 60]
    #[arg(long, env = "RTN_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<u64>,

    /// Seconds a frame may wait for a slow client's socket before closing it [default: 10]
    #[arg(long, env = "RTN_WRITE_TIMEOUT", value_name = "SECS")]
    pub write_timeout: Option<u64>,

    /// Seconds a client's oldest undelivered event may wait before the client is closed with 4000 [default: 5]
    #[arg(long, env = "RTN_MAX_LAG", value_name = "SECS")]
    pub max_lag: Option<u64>,

    /// Seconds from accepting a connection until its WebSocket upgrade must be done; other
    /// connections (health checks, metrics) are closed after it too [default: 10]
    #[arg(long, env = "RTN_HANDSHAKE_TIMEOUT", value_name = "SECS")]
    pub handshake_timeout: Option<u64>,

    /// Largest frame a client may send, in bytes [default: 4096]
    #[arg(long, env = "RTN_MAX_CLIENT_FRAME")]
    pub max_client_frame: Option<usize>,

    /// Messages per second a client may send before it is closed with 1008 [default: 20]
    #[arg(long, env = "RTN_CLIENT_RATE")]
    pub client_rate: Option<u32>,

    /// public: anonymous clients allowed; private: a token is required [default: public]
    #[arg(long, env = "RTN_AUTH_MODE", value_enum)]
    pub auth_mode: Option<AuthMode>,

    /// Secrets that sign connection tokens ($wgRealTimeNotifySecret), comma
    /// separated: list the old and the new one while rotating.
    #[arg(long, env = "RTN_TOKEN_SECRETS", value_delimiter = ',', hide_env_values = true)]
    pub token_secrets: Option<Vec<String>>,

    /// This wiki's id: tokens must name it as their audience
    #[arg(long, env = "RTN_WIKI_ID")]
    pub wiki_id: Option<String>,

    /// Seconds of clock skew tolerated when checking token times [default: 30]
    #[arg(long, env = "RTN_TOKEN_LEEWAY", value_name = "SECS")]
    pub token_leeway: Option<u64>,

    /// Origins allowed to open sockets, comma separated (e.g.
    /// https://wiki.example.org); empty allows any [default: any]
    #[arg(long, env = "RTN_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,

    /// Open sockets allowed per client IP; 0 for no limit [default: 100]
    #[arg(long, env = "RTN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,

    /// Connections open at once (HTTP 503 beyond it); 0 for no limit [default: the file
    /// descriptor limit minus a reserve]
    #[arg(long, env = "RTN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Proxies (e.g. nginx) whose X-Forwarded-For names the client: addresses
    /// or CIDR ranges, comma separated
    #[arg(long, env = "RTN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<crate::admission::Proxies>>,

    /// Seconds to wait for clients to close on shutdown [default: 10]
    #[arg(long, env = "RTN_SHUTDOWN_GRACE", value_name = "SECS")]
    pub shutdown_grace: Option<u64>,

    /// Log format [default: human]
    #[arg(long, env = "RTN_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// RabbitMQ for the rabbitmq source: amqp://user:password@host:port/vhost, or amqps://
    /// for TLS. Holds a password: prefer the environment or the config file; it is never logged
    /// [default: amqp://127.0.0.1:5672/%2f]
    #[arg(long, env = "RTN_AMQP_URL", value_name = "URL", hide_env_values = true)]
    pub amqp_url: Option<String>,

    /// RabbitMQ stream (a queue with x-queue-type=stream) the rabbitmq source reads
    /// [default: realtimenotify.events]
    #[arg(long, env = "RTN_AMQP_STREAM")]
    pub amqp_stream: Option<String>,

    /// Durable fanout exchange the wiki publishes to, bound to the stream [default: realtimenotify]
    #[arg(long, env = "RTN_AMQP_EXCHANGE")]
    pub amqp_exchange: Option<String>,

    /// Dead-letter exchange and queue for events the gateway refuses [default: realtimenotify.dead]
    #[arg(long, env = "RTN_AMQP_DEAD_LETTER")]
    pub amqp_dead_letter: Option<String>,

    /// Stream retention by age, as RabbitMQ writes it (x-max-age: 7D, 12h, 30m) [default: 7D]
    #[arg(long, env = "RTN_AMQP_MAX_AGE")]
    pub amqp_max_age: Option<String>,

    /// Stream retention by size in bytes (x-max-length-bytes) [default: 1000000000]
    #[arg(long, env = "RTN_AMQP_MAX_BYTES")]
    pub amqp_max_bytes: Option<u64>,

    /// Connections the kernel queues for accept (listen backlog); capped by
    /// net.core.somaxconn [default: 4096]
    #[arg(long, env = "RTN_LISTEN_BACKLOG")]
    pub listen_backlog: Option<u32>,
}

/// Takes each field from `$a`, else from `$b`.
macro_rules! prefer {
    ($a:ident, $b:ident; $($f:ident),* $(,)?) => {
        Options { config: $a.config.or($b.config), $($f: $a.$f.or($b.$f)),* }
    };
}

impl Options {
    /// Fills what flags and environment left unset from the `--config` file.
    pub fn with_file(self) -> anyhow::Result<Options> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let file = Options::from_file(&path)?;
        let a = self;
        let b = file;
        Ok(prefer!(a, b; listen, source, redis_url, channel, stream_key, ingest_secret,
            max_event_bytes, client_queue, replay_window, ping_interval, idle_timeout,
            write_timeout, max_lag, handshake_timeout, max_client_frame, client_rate, auth_mode, token_secrets,
            wiki_id, token_leeway, allowed_origins, max_connections_per_ip, max_connections, trusted_proxies,
            shutdown_grace, log_format, amqp_url, amqp_stream, amqp_exchange, amqp_dead_letter, amqp_max_age,
            amqp_max_bytes, listen_backlog))
    }

    fn from_file(path: &Path) -> anyhow::Result<Options> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Resolved settings, defaults applied and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub source: SourceKind,
    /// Redis, parsed from `--redis-url`; `None` for the `http` source.
    pub broker: Option<crate::broker::Broker>,
    pub channel: String,
    pub stream_key: String,
    pub ingest_secret: Option<String>,
    pub max_event_bytes: usize,
    pub client_queue: usize,
    pub replay_window: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_lag: Duration,
    pub handshake_timeout: Duration,
    pub max_client_frame: usize,
    pub client_rate: u32,
    pub auth_mode: AuthMode,
    pub token_secrets: Vec<String>,
    pub wiki_id: Option<String>,
    pub token_leeway: u64,
    pub allowed_origins: Vec<String>,
    pub max_connections_per_ip: usize,
    /// `None`: derived from the file descriptor limit at start
    /// ([`crate::server::descriptor_budget`]); `Some(0)`: no limit.
    pub max_connections: Option<usize>,
    pub trusted_proxies: Vec<crate::admission::Proxies>,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    /// RabbitMQ, from `--amqp-*`; `Some` only for the `rabbitmq` source.
    pub amqp: Option<crate::source::rabbitmq::Amqp>,
    /// The listening socket's backlog ([`crate::listener::bind`]).
    pub listen_backlog: u32,
}

impl TryFrom<Options> for Settings {
    type Error = anyhow::Error;

    fn try_from(o: Options) -> anyhow::Result<Settings> {
        let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
        let source = o.source.unwrap_or(SourceKind::Redis);
        let broker = match source {
            SourceKind::Http | SourceKind::Rabbitmq => None,
            SourceKind::Redis | SourceKind::RedisStream => {
                Some(crate::broker::Broker::parse(o.redis_url.as_deref().unwrap_or("redis://127.0.0.1:6379"))?)
            }
        };
        let amqp = match source {
            SourceKind::Rabbitmq => Some(amqp_settings(&o)?),
            _ => None,
        };
        let s = Settings {
            listen: o.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            source,
            broker,
            channel: o.channel.unwrap_or_else(|| "mediawiki:notifications".into()),
            stream_key: o.stream_key.unwrap_or_else(|| "mediawiki:events".into()),
            ingest_secret: o.ingest_secret.filter(|s| !s.is_empty()),
            max_event_bytes: o.max_event_bytes.unwrap_or(crate::event::DEFAULT_MAX_EVENT_BYTES),
            client_queue: o.client_queue.unwrap_or(1024),
            replay_window: o.replay_window.unwrap_or(10_000),
            ping_interval: secs(o.ping_interval, 20),
            idle_timeout: secs(o.idle_timeout, 60),
            write_timeout: secs(o.write_timeout, 10),
            max_lag: secs(o.max_lag, 5),
            handshake_timeout: secs(o.handshake_timeout, 10),
            max_client_frame: o.max_client_frame.unwrap_or(4096),
            client_rate: o.client_rate.unwrap_or(20),
            auth_mode: o.auth_mode.unwrap_or(AuthMode::Public),
            token_secrets: o.token_secrets.unwrap_or_default().into_iter().filter(|s| !s.is_empty()).collect(),
            wiki_id: o.wiki_id.filter(|w| !w.is_empty()),
            token_leeway: o.token_leeway.unwrap_or(30),
            allowed_origins: o.allowed_origins.unwrap_or_default().into_iter().filter(|s| !s.is_empty()).collect(),
            max_connections_per_ip: o.max_connections_per_ip.unwrap_or(100),
            max_connections: o.max_connections,
            trusted_proxies: o.trusted_proxies.unwrap_or_default(),
            shutdown_grace: secs(o.shutdown_grace, 10),
            log_format: o.log_format.unwrap_or(LogFormat::Human),
            amqp,
            listen_backlog: o.listen_backlog.unwrap_or(crate::listener::BACKLOG).max(1),
        };
        if s.source == SourceKind::Http && s.ingest_secret.is_none() {
            bail!("--source http needs --ingest-secret (or RTN_INGEST_SECRET): without it nobody could publish");
        }
        if s.ingest_secret.as_ref().is_some_and(|k| k.len() < MIN_INGEST_SECRET) {
            bail!("--ingest-secret must be at least {MIN_INGEST_SECRET} characters");
        }
        if s.auth_mode == AuthMode::Private && s.token_secrets.is_empty() {
            bail!("--auth-mode private needs --token-secrets (or RTN_TOKEN_SECRETS): without it nobody could connect");
        }
        if !s.token_secrets.is_empty() && s.wiki_id.is_none() {
            bail!("--token-secrets needs --wiki-id: tokens are checked against the wiki they were minted for");
        }
        if s.token_secrets.iter().any(|k| k.len() < MIN_TOKEN_SECRET) {
            bail!("each token secret must be at least {MIN_TOKEN_SECRET} characters");
        }
        if s.idle_timeout <= s.ping_interval {
            bail!("--idle-timeout ({:?}) must be longer than --ping-interval ({:?})", s.idle_timeout, s.ping_interval);
        }
        for (name, v) in [
            ("max-lag", s.max_lag.as_secs() as usize),
            ("handshake-timeout", s.handshake_timeout.as_secs() as usize),
            ("max-event-bytes", s.max_event_bytes),
            ("client-queue", s.client_queue),
            ("replay-window", s.replay_window),
            ("max-client-frame", s.max_client_frame),
        ] {
            if v == 0 {
                bail!("--{name} must be greater than 0");
            }
        }
        Ok(s)
    }
}

/// The rabbitmq source's settings, checked.
fn amqp_settings(o: &Options) -> anyhow::Result<crate::source::rabbitmq::Amqp> {
    let name = |v: &Option<String>, default: &str, flag: &str| -> anyhow::Result<String> {
        let v = v.clone().unwrap_or_else(|| default.to_string());
        // AMQP names are short strings (255 bytes); an empty one means something else.
        if v.is_empty() || v.len() > 255 {
            bail!("--{flag} must be 1 to 255 bytes");
        }
        Ok(v)
    };
    let max_age = o.amqp_max_age.clone().unwrap_or_else(|| "7D".into());
    let unit = max_age.chars().last().unwrap_or(' ');
    let digits = &max_age[..max_age.len() - unit.len_utf8().min(max_age.len())];
    if !"YMDhms".contains(unit) || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--amqp-max-age must be a number and one of Y, M, D, h, m, s (e.g. 7D), not {max_age:?}");
    }
    Ok(crate::source::rabbitmq::Amqp {
        url: crate::source::rabbitmq::AmqpUrl::parse(o.amqp_url.as_deref().unwrap_or("amqp://127.0.0.1:5672/%2f"))?,
        stream: name(&o.amqp_stream, "realtimenotify.events", "amqp-stream")?,
        exchange: name(&o.amqp_exchange, "realtimenotify", "amqp-exchange")?,
        dead_letter: name(&o.amqp_dead_letter, "realtimenotify.dead", "amqp-dead-letter")?,
        max_age,
        max_bytes: o.amqp_max_bytes.filter(|&b| b > 0).unwrap_or(1_000_000_000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fills_gaps_but_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtn.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nchannel = \"from-file\"\nsource = \"redis-stream\"\n\
             trusted-proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
        )
        .unwrap();
        let cli = Options { config: Some(path), channel: Some("from-cli".into()), ..Options::default() };
        let s = Settings::try_from(cli.with_file().unwrap()).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.channel, "from-cli");
        assert_eq!(s.source, SourceKind::RedisStream);
        assert_eq!(s.client_queue, 1024);
        let proxies: Vec<String> = s.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(proxies, ["127.0.0.1/32", "10.0.0.0/8"]);
    }

    #[test]
    fn unknown_keys_and_bad_combinations_are_errors() {
        assert!(toml::from_str::<Options>("lisen = \"x\"").is_err());
        let err = toml::from_str::<Options>("trusted-proxies = [\"10.0.0.0/33\"]").unwrap_err().to_string();
        assert!(err.contains("not an IP address or CIDR range"), "{err}");
        let http = Options { source: Some(SourceKind::Http), ..Options::default() };
        let err = Settings::try_from(http).unwrap_err().to_string();
        assert!(err.contains("ingest-secret"), "{err}");
    }

    #[test]
    fn rabbitmq_settings_are_checked_and_never_show_the_password() {
        let o = Options {
            source: Some(SourceKind::Rabbitmq),
            amqp_url: Some("amqp://rtn:hunter2@127.0.0.1:5673/%2f".into()),
            ..Options::default()
        };
        let s = Settings::try_from(o.clone()).unwrap();
        let amqp = s.amqp.as_ref().unwrap();
        assert_eq!(amqp.stream, "realtimenotify.events");
        assert_eq!(amqp.max_age, "7D");
        assert!(!format!("{s:?}").contains("hunter2"));
        let bad = Options { amqp_max_age: Some("7 days".into()), ..o.clone() };
        assert!(Settings::try_from(bad).unwrap_err().to_string().contains("amqp-max-age"));
        let bad = Options { amqp_url: Some("amqp://rtn:hunter2@:5672".into()), ..o };
        let err = format!("{:#}", Settings::try_from(bad).unwrap_err());
        assert!(!err.contains("hunter2"), "{err}");
    }
}
